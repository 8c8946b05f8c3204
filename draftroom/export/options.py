"""Options shared by every export format (each writer uses the ones that apply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from draftroom.document.clean import clean_name

# Width and height in millimetres.
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "Letter": (215.9, 279.4),
}
THEMES = ("classic", "modern")


@dataclass(frozen=True)
class ExportOptions:
    page_size: str = "A4"  # a key of PAGE_SIZES
    margins_mm: float = 25.0  # all four sides
    manuscript: bool = False  # standard manuscript format (DOCX/PDF/HTML)
    theme: str = "classic"  # PDF/HTML stylesheet, a name in THEMES
    toc: bool = False  # table of contents (PDF/HTML)
    split_scenes: bool = False  # Scrivener: one folder per document, a text per heading
    author: str = ""
    project_title: str = ""  # name of the compiled work; defaults to the first title
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # The author and title go into XML (DOCX properties, the .scrivx) and headers:
        # cleaned as names, like document titles (frozen, hence object.__setattr__).
        object.__setattr__(self, "author", clean_name(self.author))
        object.__setattr__(self, "project_title", clean_name(self.project_title))
        if self.page_size not in PAGE_SIZES:
            raise ValueError(f"unknown page size {self.page_size!r}; use one of {list(PAGE_SIZES)}")
        if self.theme not in THEMES:
            raise ValueError(f"unknown theme {self.theme!r}; use one of {list(THEMES)}")
        if not 0 <= self.margins_mm <= 80:
            raise ValueError("margins_mm must be between 0 and 80")

    @property
    def page_mm(self) -> tuple[float, float]:
        return PAGE_SIZES[self.page_size]

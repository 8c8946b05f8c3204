"""Export options from untrusted input: query strings, JSON bodies, command lines.

One parser for every front end, so the HTTP API and the CLI accept the same names
and reject the same mistakes with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from draftroom.errors import Invalid
from draftroom.export.options import PAGE_SIZES, THEMES, ExportOptions

MAX_TEXT = 200
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
# Public name -> ExportOptions field.
OPTION_NAMES = {
    "page_size": "page_size",
    "margins": "margins_mm",
    "manuscript": "manuscript",
    "theme": "theme",
    "toc": "toc",
    "split_scenes": "split_scenes",
    "author": "author",
    "title": "project_title",
}


class OptionError(Invalid):
    """A bad option; the message names it and says what is allowed."""

    code = "invalid_option"


def parse_options(values: Mapping[str, object]) -> ExportOptions:
    """Options from strings (query, CLI) or JSON values; unknown names are errors."""
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise OptionError(
            f"unknown export option(s) {', '.join(unknown)}; use {', '.join(OPTION_NAMES)}"
        )
    kwargs: dict[str, object] = {}
    for name, raw in values.items():
        if raw is None:
            continue
        kwargs[OPTION_NAMES[name]] = _PARSERS[name](name, raw)
    try:
        return ExportOptions(**kwargs)  # type: ignore[arg-type]
    except ValueError as exc:  # ranges the dataclass itself checks
        raise OptionError(str(exc)) from None


def _choice(choices: tuple[str, ...]) -> Callable[[str, object], object]:
    def parse(name: str, raw: object) -> str:
        # Accept any case ("letter"), return the canonical spelling.
        for choice in choices:
            if isinstance(raw, str) and raw.casefold() == choice.casefold():
                return choice
        raise OptionError(f"{name} must be one of {', '.join(choices)}")

    return parse


def _bool(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in _BOOLEANS:
        return _BOOLEANS[raw.lower()]
    raise OptionError(f"{name} must be true or false")


def _number(name: str, raw: object) -> float:
    if isinstance(raw, bool):
        raise OptionError(f"{name} must be a number of millimetres")
    try:
        value = float(raw) if isinstance(raw, int | float | str) else float("nan")
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 80:  # also rejects NaN and inf
        raise OptionError(f"{name} must be a number of millimetres between 0 and 80")
    return value


def _text(name: str, raw: object) -> str:
    if not isinstance(raw, str) or len(raw) > MAX_TEXT or "\x00" in raw:
        raise OptionError(f"{name} must be a string of at most {MAX_TEXT} characters")
    return raw


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "page_size": _choice(tuple(PAGE_SIZES)),
    "margins": _number,
    "manuscript": _bool,
    "theme": _choice(THEMES),
    "toc": _bool,
    "split_scenes": _bool,
    "author": _text,
    "title": _text,
}

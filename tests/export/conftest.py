"""Fixtures: real consumers (LibreOffice, pandoc, qpdf, poppler) and batched conversions.

The tools are required, not optional: a missing tool fails the test with the
Debian package to install.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from draftroom.document.tree import Document
from draftroom.export import ExportOptions, export_documents

from .samples import compiled_docs

TOOLS = {
    "soffice": "libreoffice-writer-nogui",
    "pandoc": "pandoc",
    "qpdf": "qpdf",
    "pdffonts": "poppler-utils",
    "pdftotext": "poppler-utils",
    "pdfinfo": "poppler-utils",
    "xmllint": "libxml2-utils",
}
NOW = datetime(2026, 11, 26, 9, 30, 0, tzinfo=UTC)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required by the export tests: apt-get install {TOOLS[tool]}")
    return path


def run(*args: str, timeout: float = 120) -> str:
    require(args[0])
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def soffice_convert(files: list[Path], target: str, outdir: Path, infilter: str) -> None:
    """Convert many files in one LibreOffice start (it takes seconds to start)."""
    require("soffice")
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        args = [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            f"--infilter={infilter}",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            *map(str, files),
        ]
        subprocess.run(args, capture_output=True, timeout=300, check=False)


@dataclass
class Artifacts:
    root: Path
    docs: list[Document]
    docx: dict[str, Path]  # variant -> .docx
    docx_pdf: dict[str, Path]  # variant -> LibreOffice's PDF (may be missing on failure)
    scriv: dict[str, Path]  # variant -> .scriv.zip
    rtf: dict[str, Path]  # "<variant>/<UUID>" -> extracted content.rtf
    rtf_txt: dict[str, Path]  # same keys -> LibreOffice's text output

    def rtf_by(self, variant: str) -> list[Path]:
        return [p for k, p in self.rtf.items() if k.startswith(variant + "/")]


@pytest.fixture(scope="session")
def docs() -> list[Document]:
    return compiled_docs()


@pytest.fixture(scope="session")
def artifacts(
    tmp_path_factory: pytest.TempPathFactory, docs: list[Document]
) -> Iterator[Artifacts]:
    root = tmp_path_factory.mktemp("exports")
    docx_variants = {
        "default": ExportOptions(author="Ana Ñ", now=NOW),
        "manuscript": ExportOptions(author="Ana Ñ", manuscript=True, page_size="Letter", now=NOW),
    }
    docx = {}
    for name, opts in docx_variants.items():
        docx[name] = root / f"{name}.docx"
        docx[name].write_bytes(export_documents(docs, "docx", opts))

    scriv_variants = {
        "flat": ExportOptions(author="Ana Ñ", now=NOW),
        "scenes": ExportOptions(author="Ana Ñ", split_scenes=True, now=NOW),
    }
    scriv, rtf = {}, {}
    rtf_dir = root / "rtf"
    rtf_dir.mkdir()
    for name, opts in scriv_variants.items():
        scriv[name] = root / f"{name}.scriv.zip"
        scriv[name].write_bytes(export_documents(docs, "scriv", opts))
        with zipfile.ZipFile(scriv[name]) as z:
            for entry in z.namelist():
                if entry.endswith("/content.rtf"):
                    uuid = entry.split("/")[-2]
                    rtf[f"{name}/{uuid}"] = rtf_dir / f"{name}-{uuid}.rtf"
                    rtf[f"{name}/{uuid}"].write_bytes(z.read(entry))

    out_pdf, out_txt = root / "lo-pdf", root / "lo-txt"
    soffice_convert(list(docx.values()), "pdf", out_pdf, "MS Word 2007 XML")
    soffice_convert(list(rtf.values()), "txt:Text (encoded):UTF8", out_txt, "Rich Text Format")
    yield Artifacts(
        root=root,
        docs=docs,
        docx=docx,
        docx_pdf={k: out_pdf / f"{k}.pdf" for k in docx},
        scriv=scriv,
        rtf=rtf,
        rtf_txt={k: out_txt / (v.stem + ".txt") for k, v in rtf.items()},
    )


@pytest.fixture(scope="session")
def pdf_file(tmp_path_factory: pytest.TempPathFactory, docs: list[Document]) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "book.pdf"
    opts = ExportOptions(author="Ana Ñ", toc=True, now=NOW)
    path.write_bytes(export_documents(docs, "pdf", opts))
    return path

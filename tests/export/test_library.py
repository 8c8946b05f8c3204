from __future__ import annotations

import io
import zipfile

import pytest

from draftroom.document.tree import Document, Paragraph, Text
from draftroom.export import ExportOptions, export_documents, export_zip, known_formats, write_zip
from draftroom.export.files import safe_stem


def doc(title: str, text: str = "body") -> Document:
    return Document(title, [Paragraph([Text(text)])])


def test_formats_table() -> None:
    known = known_formats()
    assert list(known)[:5] == ["md", "docx", "pdf", "html", "scriv"]  # built-ins first
    assert known["docx"].extension == ".docx" and known["pdf"].content_type == "application/pdf"


def test_unknown_format_and_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_documents([doc("a")], "odt")
    with pytest.raises(ValueError, match="page size"):
        ExportOptions(page_size="A5")
    with pytest.raises(ValueError, match="theme"):
        ExportOptions(theme="neon")


def test_every_format_handles_no_documents_and_empty_documents() -> None:
    for fmt in ("md", "docx", "pdf", "html", "scriv"):
        assert isinstance(export_documents([], fmt), bytes)
        assert export_documents([Document("")], fmt) or fmt == "md"  # md: nothing to say


def test_safe_stems() -> None:
    assert safe_stem("../../etc/passwd") == "etc passwd"
    assert safe_stem("CON") == "_CON"
    assert safe_stem("  ...  ") == "Untitled"
    # A control character is removed, as the reader removes it from every title.
    assert safe_stem('a:b*c?"d<e>f|g\x00h') == "a b c d e f gh"
    assert (
        safe_stem("Café 🚀 " + "x" * 300).startswith("Café 🚀 x")
        and len(safe_stem("x" * 300)) == 200  # bytes, here also characters
    )


def test_zip_streams_one_unique_file_per_document() -> None:
    docs = [doc("Chapter"), doc("chapter"), doc("Chapter"), doc("a/b"), doc("")]

    def lazy():  # a generator: documents are made while the ZIP streams
        yield from docs

    chunks = list(export_zip(lazy(), "md"))
    assert len(chunks) > len(docs)  # bytes were handed out per entry, not at the end
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as z:
        assert z.testzip() is None
        assert z.namelist() == [
            "Chapter.md",
            "chapter (2).md",
            "Chapter (3).md",
            "a b.md",
            "Untitled.md",
        ]
        assert z.read("a b.md").decode() == "# a/b\n\nbody\n"


def test_write_zip_to_file_object() -> None:
    out = io.BytesIO()
    size = write_zip([doc("One"), doc("Two")], "docx", out)
    assert size == len(out.getvalue())
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["One.docx", "Two.docx"]
        for name in z.namelist():
            assert zipfile.is_zipfile(io.BytesIO(z.read(name)))

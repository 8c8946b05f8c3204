"""Export output safety: what a collaborator types into a document (link targets,
image sources and titles, code-block languages, titles) must not become live HTML,
a script or file-share link, a remote fetch, or a path in a download name, in any
format. One policy (draftroom/export/safety.py) serves every writer."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from draftroom.document.tree import (
    LINK,
    CodeBlock,
    Document,
    Image,
    Inline,
    Mark,
    Paragraph,
    Text,
)
from draftroom.export import export_documents, safe_stem
from draftroom.export.safety import safe_link, safe_name
from draftroom.server.export_api import content_disposition

BAD_LINKS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(2)",
    " javascript:alert(3)",
    "java\tscript:alert(4)",
    "java\nscript:alert(5)",
    "file:///etc/passwd",
    "FILE://server/share/x",
    "\\\\evil-host\\share\\doc",
    "//evil-host/share",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "C:/Windows/system32",
]
GOOD_LINKS = [
    "https://example.com/a?b=c#d",
    "HTTPS://EXAMPLE.ORG/",
    "http://example.net",
    "mailto:ann@example.com",
    "#chapter-2",
    "chapter-2.html",
    "/notes/1",
    "?page=2",
]
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)


def test_the_link_policy() -> None:
    for url in BAD_LINKS:
        assert safe_link(url) is None, url
    for url in GOOD_LINKS:
        assert safe_link(url) == url.strip(), url


def _linked(urls: list[str]) -> Document:
    runs: list[Inline] = []
    for n, url in enumerate(urls):
        runs += [Text(f" text{n} "), Text(f"label{n}", frozenset({Mark(LINK, url)}))]
    return Document("Links", [Paragraph(runs)])


def _docx_targets(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("word/_rels/document.xml.rels").decode() + z.read("word/document.xml").decode(
            "utf-8"
        )


def _rtf_of(doc: Document) -> str:
    data = export_documents([doc], "scriv")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "".join(z.read(n).decode("latin-1") for n in z.namelist() if n.endswith(".rtf"))


@pytest.mark.parametrize("fmt", ["md", "docx", "html", "rtf"])
def test_every_writer_drops_unsafe_links_and_keeps_their_text(fmt: str) -> None:
    doc = _linked(BAD_LINKS + GOOD_LINKS)
    if fmt == "docx":
        out = _docx_targets(export_documents([doc], "docx"))
    elif fmt == "rtf":
        out = _rtf_of(doc)
    else:
        out = export_documents([doc], fmt).decode("utf-8")
    lowered = out.lower()
    for needle in ("javascript", "vbscript", "file:", "evil-host", "data:text", "c:/windows"):
        assert needle not in lowered, (fmt, needle)
    for n in range(len(BAD_LINKS) + len(GOOD_LINKS)):
        assert f"label{n}" in out, (fmt, n)  # the text survives either way
    for url in GOOD_LINKS:
        target = url if fmt != "html" else url.replace("&", "&amp;")
        assert target in out, (fmt, url)


def test_markdown_code_language_and_image_title_cannot_inject_html() -> None:
    doc = Document(
        "Trap",
        [
            CodeBlock("print(1)", 'python\n<script>alert("lang")</script>\n'),
            CodeBlock("x", "js `a` <b onmouseover=alert(2)>"),
            Image(
                "https://example.com/a.png",
                'alt\n\n<img src=x onerror=alert("alt")>',
                'title"\n\n<img src=x onerror=alert("title")>\n\n',
            ),
            Image("javascript:alert(3)", "alt only"),
        ],
    )
    text = export_documents([doc], "md").decode("utf-8")
    md = MarkdownIt("commonmark")  # raw HTML on, as GitHub-like viewers allow some
    tokens = md.parse(text)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert "html_block" not in kinds and "html_inline" not in kinds, text
    rendered = md.render(text)
    assert "<script" not in rendered and "<img src=x" not in rendered, rendered
    assert "javascript:" not in text
    assert re.search(r"<code class=\"language-python\">print\(1\)", rendered), rendered
    assert "alt only" in rendered


def test_html_export_fetches_nothing_remote() -> None:
    doc = Document(
        "Pictures",
        [
            Image("https://tracker.example/pixel.png", "tracked"),
            Image("//tracker.example/2.png", "tracked too"),
            Image("file:///etc/passwd", "local"),
            Image(PNG, "embedded"),
        ],
    )
    html = export_documents([doc], "html").decode("utf-8")
    assert "tracker.example" not in html and "/etc/passwd" not in html
    assert re.findall(r'<img src="([^"]*)"', html) == [PNG]
    for alt in ("tracked", "tracked too", "local"):
        assert f"[Image: {alt}]" in html


NASTY_TITLES = [
    "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fetc\uff0fpasswd",  # fullwidth: NFKC/NFKD fold these to ../
    "\ufe52\ufe52\u2044secret",  # small full stops and a fraction slash
    "..\\..\\boot.ini",
    "a\u2024\u2024/b",  # one-dot leaders
    "\uff0e\uff0e",
]


@pytest.mark.parametrize("title", NASTY_TITLES)
def test_file_names_hold_no_path_under_any_normalisation(title: str) -> None:
    names = [safe_stem(title), safe_name(title + ".md")]
    header = content_disposition(safe_stem(title) + ".md")
    names.append(re.search(r'filename="([^"]*)"', header).group(1))  # type: ignore[union-attr]
    raw = re.search(r"filename\*=UTF-8''(.*)$", header)
    if raw:
        from urllib.parse import unquote

        names.append(unquote(raw.group(1)))
    for name in names:
        for form in ("NFC", "NFD", "NFKC", "NFKD"):
            seen = unicodedata.normalize(form, name)
            assert "/" not in seen and "\\" not in seen and ".." not in seen, (title, name, form)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_no_title_yields_a_path_under_any_normalisation(title: str) -> None:
    for name in (safe_stem(title), safe_name(title)):
        for form in ("NFC", "NFD", "NFKC", "NFKD"):
            seen = unicodedata.normalize(form, name)
            assert "/" not in seen and "\\" not in seen and ".." not in seen, (title, form)
            assert not any(ord(c) < 0x20 for c in seen)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.builds(
            "".join,
            st.lists(
                st.sampled_from(
                    ["javascript", "JAVA", "\t", "\n", " ", ":", "/", "\\", "file", "http", "s"]
                ),
                max_size=6,
            ),
        ),
    )
)
def test_a_kept_link_is_web_mail_or_relative(url: str) -> None:
    kept = safe_link(url)
    if kept is None:
        return
    assert not any(ord(c) < 0x20 or c == "\\" for c in kept) and not kept.startswith("//")
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", kept)
    if scheme:
        assert scheme.group(1).lower() in {"http", "https", "mailto"}, kept
    else:
        assert ":" not in re.split(r"[/?#]", kept, maxsplit=1)[0], kept

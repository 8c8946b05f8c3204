"""Markdown into the document tree: CommonMark plus GFM tables, strikethrough and task lists.

markdown-it-py parses (it is CommonMark-compliant and validates link schemes);
its token stream then drives the HTML reader directly, as the HTML it would
render, so raw HTML inside Markdown (``<u>``, ``<sub>``, ``<mark>``, whole
blocks) and Markdown's own syntax map onto the tree by one set of rules. Going
through rendered HTML text instead cost twice the time on a novel.

GFM task list items (``- [ ] todo``, ``- [x] done``) are recognised here, since the
CommonMark parser sees them as plain list items. Markdown has no syntax for
alignment, colour or image size; those come through only as inline HTML.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from draftroom.document.tree import Document
from draftroom.imports.html import HtmlReader, parse_blocks

_TASK = re.compile(r"\[([ xX])\](?:[ \t]+|$)")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^>]*)?)/?>", re.S)
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
# Where the token tag is not the HTML element the reader expects.
_ALIASES = {"code_inline": "code"}


def _parser() -> MarkdownIt:
    # markdown-it recurses per nesting level: its cap keeps a hostile ">>>>…" inside
    # Python's recursion limit (deeper content is dropped; the HTML reader then
    # flattens what is past its own MAX_DEPTH).
    return MarkdownIt("commonmark", {"maxNesting": 100}).enable(["table", "strikethrough"])


def parse_markdown(text: str, title: str = "") -> Document:
    tokens = _parser().parse(text)
    _mark_tasks(tokens)
    reader = HtmlReader(keep_spaces=True)
    _walk(reader, tokens)
    reader.close()
    return Document(title, reader.blocks())


def _mark_tasks(tokens: list[Token]) -> None:
    """Turn ``[ ]``/``[x]`` at the start of a list item into a checked attribute."""
    for i, token in enumerate(tokens):
        if token.type != "list_item_open" or i + 2 >= len(tokens):
            continue
        inline = tokens[i + 2]
        if tokens[i + 1].type != "paragraph_open" or inline.type != "inline":
            continue
        first = inline.children[0] if inline.children else None
        if first is None or first.type != "text":
            continue
        match = _TASK.match(first.content)
        if match:
            token.attrSet("data-checked", "true" if match.group(1) != " " else "false")
            first.content = first.content[match.end() :]


def _walk(reader: HtmlReader, tokens: list[Token]) -> None:
    for token in tokens:
        kind = token.type
        if kind == "inline":
            _walk(reader, token.children or [])
        elif kind == "text":
            reader.handle_data(token.content)
        elif kind == "softbreak":
            reader.handle_data("\n")
        elif kind == "hardbreak":
            reader.handle_starttag("br", [])
        elif kind == "code_inline":
            reader.handle_starttag("code", [])
            reader.text(token.content)
            reader.handle_endtag("code")
        elif kind in ("fence", "code_block"):
            words = token.info.split(maxsplit=1)
            reader.code_block(token.content.removesuffix("\n"), words[0] if words else None)
        elif kind == "image":
            attrs = [(k, str(v)) for k, v in token.attrs.items()]
            reader.handle_starttag("img", [*attrs, ("alt", _alt(token.children or []))])
        elif kind == "html_block":
            reader.add_blocks(parse_blocks(token.content))
        elif kind == "html_inline":
            _inline_html(reader, token.content)
        elif kind == "hr":
            reader.handle_starttag("hr", [])
        elif kind.endswith("_open"):
            reader.handle_starttag(_ALIASES.get(kind, token.tag), _attrs(token))
        elif kind.endswith("_close"):
            reader.handle_endtag(token.tag)


def _alt(children: list[Token]) -> str:
    """An image's alt text as a renderer shows it: the label's text, escapes undone
    (``token.content`` is the label's source)."""
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.children:
            parts.append(_alt(child.children))
    return "".join(parts)


def _attrs(token: Token) -> list[tuple[str, str | None]]:
    return [(k, None if v is None else str(v)) for k, v in token.attrs.items()]


def _inline_html(reader: HtmlReader, raw: str) -> None:
    """One inline tag (``<u>``, ``</sub>``, ``<br />``); comments and the like are dropped."""
    match = _TAG.fullmatch(raw.strip())
    if not match:
        return
    closing, tag, rest = match.groups()
    tag = tag.lower()
    if closing:
        reader.handle_endtag(tag)
        return
    attrs: list[tuple[str, str | None]] = []
    for name, dq, sq, bare in _ATTR.findall(rest or ""):
        attrs.append((name.lower(), dq or sq or bare or None))
    reader.handle_starttag(tag, attrs)
    if raw.rstrip().endswith("/>"):
        reader.handle_endtag(tag)

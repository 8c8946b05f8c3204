"""A rich-text root as ProseMirror JSON, the way y-prosemirror serializes it.

This mirrors y-prosemirror's ``yXmlFragmentToProsemirrorJSON`` (what Hocuspocus's
``TiptapTransformer.fromYdoc`` returns), so a client can hand the result straight
to ``Node.fromJSON`` or TipTap's ``setContent``:

- an element is ``{"type": tag, "attrs"?: {...}, "content"?: [...]}``, with
  ``attrs`` and ``content`` left out when empty;
- each run of an XmlText is ``{"type": "text", "text": ..., "marks"?: [...]}``,
  a mark being ``{"type": name, "attrs": {...}}``. y-prosemirror stores a mark
  that may overlap itself (a comment) under ``name--<8-char hash>``; the hash is
  dropped, as y-prosemirror does when it reads the mark back.

Numbers reach Python as floats (pycrdt reads every Yjs number as one); whole
ones are written back as ints, so ``"level": 2`` comes out as JavaScript would
write it. Marks come in name order (see ``_text_nodes``). Two differences from
y-prosemirror, both where its output is not valid ProseMirror JSON: a mark whose
stored attributes are not an object gets no ``attrs``, and text found directly in
the fragment is listed among its blocks rather than as a nested array.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pycrdt import XmlElement, XmlFragment, XmlText

# y-prosemirror's hashedMarkNameRegex: an 8-character base64 hash after "--".
_HASHED_MARK = re.compile(r"(.*)--[a-zA-Z0-9+/=]{8}$")


def to_prosemirror(fragment: XmlFragment) -> dict[str, Any]:
    return {"type": "doc", "content": list(_nodes(fragment.children))}


def _nodes(children: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for child in children:
        if isinstance(child, XmlText):
            yield from _text_nodes(child)
        elif isinstance(child, XmlElement):
            yield _element(child)


def _element(element: XmlElement) -> dict[str, Any]:
    node: dict[str, Any] = {"type": element.tag or ""}
    attrs = _json(_attributes(element))
    if attrs:
        node["attrs"] = attrs
    content = list(_nodes(element.children))
    if content:
        node["content"] = content
    return node


def _text_nodes(text: XmlText) -> Iterator[dict[str, Any]]:
    for insert, attrs in text.diff():
        if not isinstance(insert, str):
            continue  # y-prosemirror writes no embeds; one from elsewhere has no text
        node: dict[str, Any] = {"type": "text", "text": insert}
        if attrs:
            # pycrdt hands over a run's formatting unordered, so Yjs's order is lost;
            # name order keeps answers stable, and ProseMirror reorders marks by its
            # schema when it reads them anyway.
            marks = [_mark(name, value) for name, value in attrs.items()]
            node["marks"] = sorted(marks, key=lambda mark: str(mark["type"]))
        yield node


def _mark(name: str, attrs: Any) -> dict[str, Any]:
    hashed = _HASHED_MARK.match(name)
    mark: dict[str, Any] = {"type": hashed.group(1) if hashed else name}
    if isinstance(attrs, Mapping):
        mark["attrs"] = _json(attrs)
    return mark


def _attributes(element: XmlElement) -> dict[str, Any]:
    # The view iterates as (key, value) pairs but types __iter__ as an Iterable.
    pairs: Iterator[tuple[str, Any]] = element.attributes.__iter__()  # type: ignore[assignment]
    return dict(pairs)


def _json(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value

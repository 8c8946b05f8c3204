"""The names of a document's roots, and which one holds the document.

Editors store text in one of two shapes: TipTap and y-prosemirror write an
XmlFragment (TipTap calls it ``default``; y-prosemirror's own examples and
``prosemirrorToYDoc`` use ``prosemirror``); plain-text bindings write a Y.Text
named ``text``. Readers must choose the same root, or the content API, exports and
agents would each describe a different document.
"""

from __future__ import annotations

from pycrdt import Doc, XmlFragment

FRAGMENT_NAMES = ("default", "prosemirror")
PLAIN_TEXT_NAME = "text"


def rich_fragment(doc: Doc) -> XmlFragment | None:
    """The first non-empty rich-text root, or None for a plain-text (or empty) document.

    ``Doc.get`` creates a missing root empty, and a root written as another type
    reads as a fragment without children rather than raising, so "empty" simply
    means "look at the next candidate". Such a root can still report a length
    (a Y.Text's characters), so emptiness is judged by its first child.
    """
    for name in FRAGMENT_NAMES:
        fragment = doc.get(name, type=XmlFragment)
        if next(iter(fragment.children), None) is not None:
            return fragment
    return None

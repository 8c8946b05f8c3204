"""Plain text: a paragraph per blank-line-separated block, its lines kept as breaks.

A file with no blank lines at all (one paragraph per line, as many editors save)
gets a paragraph per line instead, rather than one paragraph as long as the book.
"""

from __future__ import annotations

import re

from draftroom.document.tree import Block, Document, Paragraph
from draftroom.imports.inline import Runs, clean


def parse_text(text: str, title: str = "") -> Document:
    text = clean(text).strip("\n")
    if not text:
        return Document(title)
    if re.search(r"\n[ \t]*\n", text):
        chunks = [c.strip("\n") for c in re.split(r"\n[ \t]*\n", text)]
    else:
        chunks = text.split("\n")
    blocks: list[Block] = []
    for chunk in chunks:
        if not chunk.strip():
            continue
        runs = Runs()
        runs.add(chunk.rstrip())
        blocks.append(Paragraph(runs.take()))
    return Document(title, blocks)

"""Side by side with pandoc: which constructs survive in DOCX and HTML.

    .venv/bin/python bench/export_vs_pandoc.py      # prints a Markdown table; exit 1 if
                                                    # Draftroom loses something pandoc keeps

The same content is written twice: as pandoc Markdown (pandoc's own writers turn it
into DOCX and HTML) and as the Draftroom document tree (Draftroom's writers). Both
outputs of a format are then read back by the same reader, pandoc's (``-t json``),
and each construct is looked for in the AST. Only content the editor's schema can
hold is compared (pandoc's footnotes, for one, have no TipTap node).
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from draftroom.document import tree
from draftroom.export import ExportOptions, export_documents


def _png() -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = zlib.compress((b"\x00" + b"\x80\x80\x80" * 8) * 4)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 4, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


PNG = _png()
MARKDOWN = f"""# Heading1

## Heading2

### Heading3

#### Heading4

##### Heading5

###### Heading6

Marks: **bold** *italic* ~~strike~~ `code` [under]{{.underline}} H~2~O x^2^
[lit]{{.mark}} [link](https://example.org/).\\
After a hard break.

> Quoted paragraph.
>
> - quoteditem

- outer
  - inner

3. third
4. fourth

- [x] donetask
- [ ] opentask

| Head1 | Head2 |
|-------|-------|
| cellA | cellB |

```python
print("codeblock")
```

***

![Picture alt]({PNG})
"""


def _run(text: str, *kinds: str, href: str | None = None) -> tree.Text:
    return tree.Text(text, frozenset(tree.Mark(k, href if k == tree.LINK else None) for k in kinds))


def draftroom_document() -> tree.Document:
    """The same content as the editor holds it."""
    para = tree.Paragraph
    return tree.Document(
        "Compare",
        [
            *(tree.Heading(n, [tree.Text(f"Heading{n}")]) for n in range(1, 7)),
            para(
                [
                    tree.Text("Marks: "),
                    _run("bold", tree.BOLD),
                    tree.Text(" "),
                    _run("italic", tree.ITALIC),
                    tree.Text(" "),
                    _run("strike", tree.STRIKE),
                    tree.Text(" "),
                    _run("code", tree.CODE),
                    tree.Text(" "),
                    _run("under", tree.UNDERLINE),
                    tree.Text(" H"),
                    _run("2", tree.SUBSCRIPT),
                    tree.Text("O x"),
                    _run("2", tree.SUPERSCRIPT),
                    tree.Text(" "),
                    _run("lit", tree.HIGHLIGHT),
                    tree.Text(" "),
                    _run("link", tree.LINK, href="https://example.org/"),
                    tree.Text("."),
                    tree.HardBreak(),
                    tree.Text("After a hard break."),
                ]
            ),
            tree.Blockquote(
                [
                    para([tree.Text("Quoted paragraph.")]),
                    tree.BulletList([tree.ListItem([para([tree.Text("quoteditem")])])]),
                ]
            ),
            tree.BulletList(
                [
                    tree.ListItem(
                        [
                            para([tree.Text("outer")]),
                            tree.BulletList([tree.ListItem([para([tree.Text("inner")])])]),
                        ]
                    )
                ]
            ),
            tree.OrderedList(
                3,
                [
                    tree.ListItem([para([tree.Text("third")])]),
                    tree.ListItem([para([tree.Text("fourth")])]),
                ],
            ),
            tree.TaskList(
                [
                    tree.TaskItem(True, [para([tree.Text("donetask")])]),
                    tree.TaskItem(False, [para([tree.Text("opentask")])]),
                ]
            ),
            tree.Table(
                [
                    tree.TableRow(
                        [
                            tree.TableCell([para([tree.Text(h)])], header=True)
                            for h in ("Head1", "Head2")
                        ]
                    ),
                    tree.TableRow(
                        [tree.TableCell([para([tree.Text(c)])]) for c in ("cellA", "cellB")]
                    ),
                ]
            ),
            tree.CodeBlock('print("codeblock")', "python"),
            tree.HorizontalRule(),
            tree.Image(PNG, "Picture alt"),
        ],
    )


Node = tuple[str, Any, tuple[str, ...]]


def walk(node: Any, inside: tuple[str, ...] = ()) -> Iterator[Node]:
    if isinstance(node, dict) and "t" in node:
        yield node["t"], node, inside
        inside = (*inside, node["t"])
        node = node.get("c")
    if isinstance(node, list | dict):
        for child in node.values() if isinstance(node, dict) else node:
            yield from walk(child, inside)


def _str_inside(nodes: list[Node], word: str, kind: str) -> bool:
    return any(t == "Str" and word in n["c"] and kind in inside for t, n, inside in nodes)


def _heading(level: int) -> Callable[[list[Node]], bool]:
    def check(nodes: list[Node]) -> bool:
        return any(
            t == "Header" and n["c"][0] == level and f"Heading{level}" in json.dumps(n["c"][2])
            for t, n, _ in nodes
        )

    return check


CHECKS: dict[str, Callable[[list[Node]], bool]] = {
    **{f"heading {n} (at its level)": _heading(n) for n in range(1, 7)},
    "bold": lambda ns: _str_inside(ns, "bold", "Strong"),
    "italic": lambda ns: _str_inside(ns, "italic", "Emph"),
    "strikethrough": lambda ns: _str_inside(ns, "strike", "Strikeout"),
    "underline": lambda ns: _str_inside(ns, "under", "Underline"),
    "inline code": lambda ns: any(t == "Code" and n["c"][1] == "code" for t, n, _ in ns),
    "subscript": lambda ns: _str_inside(ns, "2", "Subscript"),
    "superscript": lambda ns: _str_inside(ns, "2", "Superscript"),
    "highlight": lambda ns: any(
        t == "Span" and "mark" in n["c"][0][1] and "lit" in json.dumps(n["c"][1]) for t, n, _ in ns
    ),
    "link": lambda ns: any(
        t == "Link" and n["c"][2][0] == "https://example.org/" for t, n, _ in ns
    ),
    "hard break": lambda ns: any(t == "LineBreak" for t, _, _ in ns),
    "blockquote": lambda ns: _str_inside(ns, "Quoted", "BlockQuote"),
    "list inside a quote": lambda ns: any(
        t == "Str" and n["c"] == "quoteditem" and "BlockQuote" in i and "BulletList" in i
        for t, n, i in ns
    ),
    "nested bullet list": lambda ns: any(
        t == "Str" and n["c"] == "inner" and i.count("BulletList") == 2 for t, n, i in ns
    ),
    "ordered list start": lambda ns: any(
        t == "OrderedList" and n["c"][0][0] == 3 for t, n, _ in ns
    ),
    "task list state": lambda ns: (
        [n["c"] for t, n, _ in ns if t == "Str" and n["c"] in "☐☑☒"] in (["☒", "☐"], ["☑", "☐"])
    ),
    "table": lambda ns: any(t == "Table" for t, _, _ in ns),
    "table header row": lambda ns: any(
        t == "Table" and "Head1" in json.dumps(n["c"][3]) for t, n, _ in ns
    ),
    "code block": lambda ns: any(t == "CodeBlock" and "codeblock" in n["c"][1] for t, n, _ in ns),
    "code block language": lambda ns: any(
        t == "CodeBlock" and "python" in n["c"][0][1] for t, n, _ in ns
    ),
    "horizontal rule": lambda ns: any(t == "HorizontalRule" for t, _, _ in ns),
    "image": lambda ns: any(t == "Image" for t, _, _ in ns),
    "image alt text": lambda ns: any(
        t == "Image" and "Picture" in json.dumps(n["c"][1]) for t, n, _ in ns
    ),
}


def pandoc(*args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["pandoc", *args], input=data, capture_output=True, check=True).stdout


def read_back(path: Path, fmt: str) -> list[Node]:
    return list(walk(json.loads(pandoc("-f", fmt, "-t", "json", str(path)))["blocks"]))


def compare() -> tuple[list[tuple[str, bool, bool, bool, bool]], list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "compare.md"
        source.write_text(MARKDOWN, "utf-8")
        doc = draftroom_document()
        results: dict[str, dict[str, list[Node]]] = {}
        for fmt in ("docx", "html"):
            theirs, ours = root / f"pandoc.{fmt}", root / f"draftroom.{fmt}"
            pandoc("-f", "markdown", "-s", "-o", str(theirs), str(source))
            ours.write_bytes(export_documents([doc], fmt, ExportOptions()))
            results[fmt] = {"pandoc": read_back(theirs, fmt), "draftroom": read_back(ours, fmt)}
    rows, lost = [], []
    for name, check in CHECKS.items():
        cells = [
            check(results[fmt][who]) for fmt in ("docx", "html") for who in ("pandoc", "draftroom")
        ]
        rows.append((name, *cells))
        for fmt, (pandoc_kept, we_kept) in zip(
            ("DOCX", "HTML"), (cells[:2], cells[2:]), strict=True
        ):
            if pandoc_kept and not we_kept:
                lost.append(f"{name} ({fmt})")
    return rows, lost  # type: ignore[return-value]


def main() -> int:
    rows, lost = compare()
    version = pandoc("--version").decode().splitlines()[0]
    print(f"Read back with {version} (`-t json`); ✓ kept, ✗ lost.\n")
    print("| construct | pandoc DOCX | Draftroom DOCX | pandoc HTML | Draftroom HTML |")
    print("|---|---|---|---|---|")
    for name, *cells in rows:
        print(f"| {name} | " + " | ".join("✓" if c else "✗" for c in cells) + " |")
    if lost:
        print(f"\nDraftroom loses what pandoc keeps: {', '.join(lost)}")
        return 1
    print("\nDraftroom keeps everything pandoc keeps.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

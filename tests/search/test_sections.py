"""Section-level indexing on both stores: a hit shows its best section (snippet,
heading path, offset), an edit rewrites only the section it touched, an excluded word
anywhere excludes the document, and long sections are cut into bounded chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from draftroom.search import sqlite as sqlite_engine
from draftroom.search.service import Search
from draftroom.search.text import SECTION_CHARS, entry_from_lines
from search.helpers import caught_up, search_server, seed

BOOK = "\n".join(
    [
        "# Part I",
        "## Chapter 1",
        "The orc slept in the cellar.",
        "## Chapter 2",
        "A knight crossed the bridge at dawn.",
        "# Part II",
        "## Chapter 3",
        "Far below the tower the lantern burned all night.",
    ]
)


async def _hits(http: httpx.AsyncClient, q: str) -> list[dict[str, Any]]:
    r = await http.get("/api/search", params={"q": q})
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["results"]
    return hits


async def _keys(server: Any, doc_id: str) -> set[str]:
    rows = await server.hub.feature(Search).engine.sql.fetch(
        "SELECT key FROM search_sections WHERE doc_id = $1", doc_id
    )
    return {r["key"] for r in rows}


async def test_a_hit_shows_its_best_section_and_an_edit_rewrites_one_section(
    tmp_path: Path, store_url: str | None
) -> None:
    async with search_server(tmp_path, store_url) as server:
        store = server.hub.store
        doc: Doc = Doc()
        text = doc.get("text", type=Text)
        text.insert(0, BOOK)
        await store.create_document("book", "Tales")
        await store.create_document("other", "Makers")
        await store.append("book", doc.get_update())
        other: Doc = Doc()
        other.get("text", type=Text).insert(0, "Nothing but lanterns here.")
        await store.append("other", other.get_update())
        await store.flush()
        await caught_up(server)
        async with httpx.AsyncClient(base_url=server.http) as http:
            (hit,) = await _hits(http, "lantern ")
            assert hit["id"] == "book"
            assert hit["heading_path"] == ["Part II", "Chapter 3"]
            assert hit["heading"] == "Part II \u203a Chapter 3"
            assert BOOK[hit["offset"] :].startswith("lantern")
            assert "".join(p["text"] for p in hit["snippet"]).startswith("Chapter 3 Far below")
            assert "bridge" not in "".join(p["text"] for p in hit["snippet"])  # one section
            # The title and one section together hold every word...
            assert [h["id"] for h in await _hits(http, "makers lanterns")] == ["other"]
            # ...and so do two sections, as a document-level match: "orc" and "knight"
            # are in different chapters (the snippet is from one of them).
            (hit,) = await _hits(http, "orc knight")
            assert hit["id"] == "book" and hit["score"] < 0
            # An excluded word anywhere in the document excludes it.
            assert await _hits(http, "knight -orc") == []
            assert [h["id"] for h in await _hits(http, "knight -dragon")] == ["book"]

            flatten = server.hub.feature(Search).flatten
            builds = flatten.builds
            before = await _keys(server, "book")
            assert len(before) == 5  # Part I, Chapter 1, Chapter 2, Part II, Chapter 3
            state = doc.get_state()
            text.insert(BOOK.index("at dawn"), "with a dragon ")
            await store.append("book", doc.get_update(state))
            await store.flush()
            await caught_up(server)
            after = await _keys(server, "book")
            assert len(before - after) == 1 and len(after - before) == 1  # one rewritten
            # the kept Doc took the new update: the document was not rebuilt from the store
            assert flatten.builds == builds and flatten.advances >= 1
            (hit,) = await _hits(http, "dragon ")
            assert hit["heading_path"] == ["Part I", "Chapter 2"]
            assert await _hits(http, "knight -dragon") == []


SPREAD = [
    ("title", "Aldric and the Dragon", "Nothing else here."),
    ("together", "Battle", "# One\nAldric fought the dragon at dawn."),
    (
        "spread",
        "Journey",
        "# Part I\n## Chapter 1\nAldric rode out.\n## Chapter 9\nThe dragon woke.",
    ),
    ("spread2", "Other journey", "# Part I\nThe dragon slept.\n# Part II\nAldric waited."),
    ("half", "Alone", "# Part I\nAldric rode alone.\n## Chapter 2\nNo beasts."),
]


async def test_words_in_different_sections_match_the_document_below_section_matches(
    tmp_path: Path, store_url: str | None
) -> None:
    async with search_server(tmp_path, store_url) as server:
        await seed(server, SPREAD)
        await caught_up(server)
        async with httpx.AsyncClient(base_url=server.http) as http:
            hits = await _hits(http, "aldric dragon ")
            # Title match, then the one section holding both, then documents with the
            # words in two sections (in id order); "half" has only one of them.
            assert [h["id"] for h in hits] == ["title", "together", "spread", "spread2"]
            assert [h["title_match"] for h in hits] == [True, False, False, False]
            assert hits[1]["score"] >= 0 > hits[2]["score"] == hits[3]["score"]
            spread = hits[2]
            assert spread["heading_path"] in (["Part I", "Chapter 1"], ["Part I", "Chapter 9"])
            assert any(p["match"] for p in spread["snippet"])
            # Paging walks the same order across the tiers.
            paged: list[str] = []
            cursor = None
            while True:
                params = {
                    "q": "aldric dragon ",
                    "limit": "1",
                    **({"cursor": cursor} if cursor else {}),
                }
                page = (await http.get("/api/search", params=params)).json()
                paged += [h["id"] for h in page["results"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert paged == [h["id"] for h in hits]
            # Phrases and exclusions hold at the document level too.
            assert [h["id"] for h in await _hits(http, '"aldric rode" dragon ')] == ["spread"]
            assert [h["id"] for h in await _hits(http, "aldric dragon -woke ")] == [
                "title",
                "together",
                "spread2",
            ]
            assert await _hits(http, "aldric dragon beasts ") == []
            # A title match is left out by an excluded word in its text.
            assert [h["id"] for h in await _hits(http, "aldric dragon -nothing ")] == [
                "together",
                "spread",
                "spread2",
            ]


async def test_sqlite_ranks_a_common_clause_without_bm25_and_finds_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with search_server(tmp_path) as server:
        await seed(server, SPREAD)
        await caught_up(server)
        async with httpx.AsyncClient(base_url=server.http) as http:
            ranked = await _hits(http, "aldric ")
            assert all(h["score"] > 0 for h in ranked)
            # Every clause "common": FTS5 would count each one's postings for bm25.
            monkeypatch.setattr(sqlite_engine, "SELECTIVE", 1)
            equal = await _hits(http, "aldric ")
            assert {h["id"] for h in equal} == {h["id"] for h in ranked}
            assert equal[0]["id"] == "title"  # the title match still first (its own index)
            assert [h["score"] for h in equal[1:]] == [0.0] * (len(equal) - 1)
            assert [h["id"] for h in equal[1:]] == sorted(h["id"] for h in equal[1:])


def test_long_sections_are_cut_into_bounded_chunks_at_exact_offsets() -> None:
    long_line = "word " * 2000  # 10,000 characters, one paragraph
    lines = [
        ("intro", 0),
        ("# A", 0),
        *[(f"{i:03}" + "x" * 897, 0) for i in range(12)],
        (long_line, 0),
        ("end", 0),
    ]
    body = "\n".join(line for line, _ in lines)  # offsets count the "# " marks too
    entry = entry_from_lines("T", lines)
    assert all(len(s.body) <= SECTION_CHARS for s in entry.sections)
    assert len(entry.sections) > 5
    for s in entry.sections:
        assert body[s.offset : s.offset + len(s.body)] == s.body
        assert s.path == (() if s.offset == 0 else ("A",))
    # a chunk of whole lines is at least half full, unless a heading or a cut line ends it
    assert all(len(s.body) >= SECTION_CHARS // 2 for s in entry.sections[2:4])
    # only sections the index does not hold get terms computed
    again = entry_from_lines("T", lines, known={entry.sections[1].key})
    assert again.sections[1].terms is None
    assert all(s.terms is not None for i, s in enumerate(again.sections) if i != 1)
    # identical sections (here the pieces of the repeated "word word ...") are stored once
    held = entry.sections[1].key
    expected = dict.fromkeys(s.key for s in entry.sections if s.key != held)
    assert len(expected) < len(entry.sections) - 1
    assert [s.key for s in again.new_sections()] == list(expected)

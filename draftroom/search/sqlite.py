"""SQLite FTS5: the embedded store's engine.

``search_section_fts`` indexes each section's terms beside its document's title
terms, ``search_titles`` the title alone (to rank title matches first). Both are
external-content tables (over ``search_sections`` and ``search_documents``) kept in
step by triggers (migrations 006, 007), so writing a row's terms is one statement.
Ranking is ``bm25`` of the best section, the title weighted 10:1 (title matches:
``bm25`` of the title); prefix indexes of 2-4 characters keep typing-as-you-search
queries off full-vocabulary scans.

bm25 is not free: it weighs each clause by the number of rows holding it, and FTS5
counts them on every query by reading all the clause's postings (for a phrase,
matching it in every row with its words). A common word cost ~20 ms at 20,000
documents and a phrase of two ~300 ms, growing with the corpus, where finding the
first 1,000 matches took ~1 ms. So a query with a clause in ``SELECTIVE`` sections
or more ranks its sections equal (in id order); its title matches still come first.
Each match's document and section key are read through a covering index (migration
008): the section rows themselves span several pages each. A lone phrase of common
words is not ranked but read in rowid order a page at a time (``scan``): FTS5 seeks
to the cursor's rowid and stops at the page's last hit.
"""

from __future__ import annotations

from typing import Any

from draftroom.search.engine import (
    RANKED,
    Args,
    Engine,
    Hit,
    Key,
    Ranked,
    first_section,
    reader_join,
)
from draftroom.search.query import Clause, Query, terms_pattern, to_fts5
from draftroom.search.text import IndexEntry, Section

ROWIDS = "INDEXED BY search_sections_rowids"  # migration 008

SELECTIVE = 5000
"""A clause in fewer sections than this is ranked by bm25; a query with a more common
one ranks its sections equal (title matches still first, then by id)."""

UNRANKED = 200
"""Sections read for a query whose sections are ranked equal: no more are needed to
rank, and finding a phrase of common words costs ~0.1 ms per match at 100,000
documents (a phrase's words are in many more sections than the phrase is)."""


class FTS5Engine(Engine):
    # SQLite is one node (one writer process), so there is nobody to claim a document
    # against, and a claim and its release would cost two more writes on the one
    # writer thread that also saves every edit. The version guard in
    # ``write`` still keeps an older version from replacing a newer one (e.g. while
    # ``draftroom reindex`` runs beside the server).

    async def claim(
        self, doc_id: str, node: str, now: float, lease: float
    ) -> dict[str, Any] | None:
        row = await self.sql.fetchrow(
            "SELECT indexed_version, title, sections FROM search_documents WHERE doc_id = $1",
            doc_id,
        )
        return row or {"indexed_version": -1, "title": None, "sections": "[]"}

    async def release(self, doc_id: str, node: str) -> None:
        return None

    async def write(
        self, doc_id: str, node: str, version: int, entry: IndexEntry, now: float
    ) -> bool:
        title_terms = entry.title_terms

        def row(s: Section) -> tuple[object, ...]:
            return (s.key, s.path_json(), s.body, title_terms, s.terms)

        await self.write_sections(
            doc_id,
            entry,
            "INSERT INTO search_sections (doc_id, key, path, body, title_terms, body_terms)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (doc_id, key)"
            " DO UPDATE SET title_terms = excluded.title_terms, body_terms = excluded.body_terms",
            row,
        )
        written = await self.sql.execute(
            "INSERT INTO search_documents (doc_id, indexed_version, title, sections,"
            " title_terms, indexed_at) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (doc_id) DO UPDATE SET indexed_version = excluded.indexed_version,"
            " title = excluded.title, sections = excluded.sections,"
            " title_terms = excluded.title_terms, indexed_at = excluded.indexed_at"
            " WHERE search_documents.indexed_version < excluded.indexed_version"
            " OR search_documents.title <> excluded.title",
            doc_id,
            version,
            entry.title,
            entry.layout_json(),
            entry.title_terms,
            now,
        )
        return written > 0

    async def title_hits(self, query: Query, reader: str | None) -> list[Hit]:
        args = Args()
        rows = await self.reads.fetch(
            "SELECT t.doc_id, t.sections, -bm25(search_titles) AS score FROM search_titles"
            " JOIN search_documents t ON t.rid = search_titles.rowid"
            f" JOIN documents d ON d.id = t.doc_id{reader_join(args, reader, 't')}"
            f" WHERE search_titles MATCH {args(to_fts5(query.positive))} LIMIT {RANKED}",
            *args.values,
        )
        return [Hit(r["doc_id"], first_section(r["sections"]), float(r["score"])) for r in rows]

    async def section_hits(
        self,
        clauses: tuple[Clause, ...],
        reader: str | None,
        scored: bool,
        without: tuple[Clause, ...] = (),
    ) -> list[Hit]:
        args = Args()
        score, limit = "0.0", RANKED
        # bm25 counts the rows of every phrase of the MATCH, excluded ones too.
        if scored and await self._cheap_bm25(clauses + without):
            score = "-bm25(search_section_fts, 10.0, 1.0)"  # the title weighs 10:1
        elif scored:
            limit = UNRANKED
        rows = await self.reads.fetch(
            f"SELECT s.doc_id, s.key, {score} AS score FROM search_section_fts"
            f" JOIN search_sections s {ROWIDS} ON s.rid = search_section_fts.rowid"
            f" JOIN documents d ON d.id = s.doc_id{reader_join(args, reader)}"
            f" WHERE search_section_fts MATCH {args(to_fts5(clauses, without))}"
            f" LIMIT {limit}",
            *args.values,
        )
        return [Hit(r["doc_id"], r["key"], float(r["score"])) for r in rows]

    async def common(self, query: Query) -> bool:
        return not await self._cheap_bm25(query.positive + query.negative)

    async def scan(
        self, query: Query, reader: str | None, after: Key | None, count: int, skip: set[str]
    ) -> list[Ranked]:
        # FTS5 walks a MATCH in rowid order and seeks to a rowid, so the order is the
        # sections' rowids: a document comes at its first matching section, and its key
        # holds that rowid. Its other sections may come later; ``matched_before`` leaves
        # out a document already listed at an earlier rowid.
        start = scan_position(after)
        match = to_fts5(query.positive, query.negative)
        found: dict[str, Ranked] = {}
        seen = set(skip)
        position, batch = start, 2 * count + 8
        while len(found) < count:
            args = Args()
            rows = await self.reads.fetch(
                f"SELECT s.rid, s.doc_id, s.key FROM search_section_fts"
                f" JOIN search_sections s {ROWIDS} ON s.rid = search_section_fts.rowid"
                f" JOIN documents d ON d.id = s.doc_id{reader_join(args, reader)}"
                f" WHERE search_section_fts MATCH {args(match)}"
                f" AND search_section_fts.rowid > {args(position)}"
                f" ORDER BY search_section_fts.rowid LIMIT {batch}",
                *args.values,
            )
            fresh: dict[str, tuple[int, str]] = {}
            for r in rows:
                if r["doc_id"] not in seen and r["doc_id"] not in fresh:
                    fresh[r["doc_id"]] = (r["rid"], r["key"])
            seen.update(fresh)
            listed = await self.matched_before(query, list(fresh), start) if start else set()
            for doc_id, (rid, key) in fresh.items():
                if doc_id not in listed:
                    found[doc_id] = Ranked(doc_id, Key(0, scan_score(rid), doc_id), key)
            if len(rows) < batch:
                break
            position = rows[-1]["rid"]
        return list(found.values())[:count]

    async def matched_before(self, query: Query, doc_ids: list[str], rid: int) -> set[str]:
        """Which of ``doc_ids`` have a section up to rowid ``rid`` holding the query's
        phrase and no excluded clause: a scan before ``rid`` listed them already."""
        if not doc_ids:
            return set()
        args = Args()
        docs = ", ".join(args(d) for d in doc_ids)
        rows = await self.reads.fetch(
            "SELECT doc_id, title_terms, body_terms FROM search_sections"
            f" WHERE doc_id IN ({docs}) AND rid <= {args(rid)}",
            *args.values,
        )
        wanted = [terms_pattern(c) for c in query.positive]
        unwanted = [terms_pattern(c) for c in query.negative]

        def holds(row: Any, found: Any) -> bool:
            return bool(found.search(row["title_terms"]) or found.search(row["body_terms"]))

        return {
            r["doc_id"]
            for r in rows
            if all(holds(r, f) for f in wanted) and not any(holds(r, f) for f in unwanted)
        }

    async def _cheap_bm25(self, clauses: tuple[Clause, ...]) -> bool:
        args = Args()
        row = await self.reads.fetchrow(
            f"SELECT {self._selective(args, clauses)} AS cheap", *args.values
        )
        return bool(row and row["cheap"])

    def _selective(self, args: Args, clauses: tuple[Clause, ...]) -> str:
        """SQL that is true when bm25 is cheap for these clauses: each has a term in
        fewer than ``SELECTIVE`` sections. bm25 weighs each clause by how many rows of
        the whole table hold it, and FTS5 counts them by reading the clause's every
        posting on each query (a phrase: matching every row that has its words), so a
        common word costs ~20 ms at 20,000 documents, a phrase of two ~300 ms, growing
        with the corpus. Counting up to ``SELECTIVE`` stops there; the counts are
        uncorrelated subqueries, run once per statement."""

        def count(term: Clause) -> str:
            return (
                "(SELECT count(*) FROM (SELECT 1 FROM search_section_fts WHERE"
                f" search_section_fts MATCH {args(to_fts5((term,)))} LIMIT {SELECTIVE}))"
            )

        tests = []
        for c in clauses:
            counts = [
                count(Clause((t,), prefix=c.prefix and i == len(c.terms) - 1))
                for i, t in enumerate(c.terms)
            ]
            # min() of one argument would be the aggregate
            rarest = counts[0] if len(counts) == 1 else f"min({', '.join(counts)})"
            tests.append(f"{rarest} < {SELECTIVE}")
        return " AND ".join(tests)

    async def holding(self, clauses: tuple[Clause, ...], doc_ids: list[str]) -> list[set[str]]:
        # The stored terms of a few documents, matched here: a seek into the full-text
        # index per section costs ~0.1 ms, and a join from it a read per posting.
        args = Args()
        docs = ", ".join(args(d) for d in doc_ids)
        rows = await self.reads.fetch(
            f"SELECT doc_id, title_terms, body_terms FROM search_sections WHERE doc_id IN ({docs})",
            *args.values,
        )
        held: list[set[str]] = []
        for clause in clauses:
            found = terms_pattern(clause)
            held.append(
                {
                    r["doc_id"]
                    for r in rows
                    if found.search(r["title_terms"]) or found.search(r["body_terms"])
                }
            )
        return held

    async def titles(self, query: Query, reader: str | None, limit: int, offset: int) -> list[str]:
        args = Args()
        match = args(to_fts5(query.positive, query.negative))
        rows = await self.reads.fetch(
            "SELECT s.doc_id FROM search_titles JOIN search_documents s"
            " ON s.rid = search_titles.rowid JOIN documents d ON d.id = s.doc_id"
            f"{reader_join(args, reader)} WHERE search_titles MATCH {match}"
            f" ORDER BY s.doc_id LIMIT {args(limit)} OFFSET {args(offset)}",
            *args.values,
        )
        return [r["doc_id"] for r in rows]


def scan_score(rid: int) -> float:
    """The key's score of a hit an unranked scan found at section ``rid``: between 0 and
    1, falling as ``rid`` grows, so the keyset order (score descending) is the scan's.
    A float holds it exactly (1 / (1 + rid) inverts to ``rid`` up to 2**50)."""
    return 1.0 / (1 + rid)


def scan_position(after: Key | None) -> int:
    """The rowid a scan resumes after: the one ``scan_score`` put in the cursor's key
    (0, the start, for a title match's key, or a ranked key of the same query)."""
    if after is None or after.title_hit or not 0.0 < after.score < 1.0:
        return 0
    return round(1.0 / after.score) - 1

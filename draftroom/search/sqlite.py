"""SQLite FTS5: the embedded store's engine.

``search_section_fts`` indexes each section's terms beside its document's title
terms, ``search_titles`` the title alone (to rank title matches first). Both are
external-content tables (over ``search_sections`` and ``search_documents``) kept in
step by triggers (migrations 006, 007), so writing a row's terms is one statement.
Ranking is ``bm25`` of the best section, the title weighted 10:1; prefix indexes of
2-4 characters keep typing-as-you-search queries off full-vocabulary scans.
"""

from __future__ import annotations

from typing import Any

from draftroom.search.engine import RANKED, Args, Engine, Hit, first_section, reader_join
from draftroom.search.query import Clause, Query, to_fts5, to_fts5_any
from draftroom.search.text import IndexEntry, Section


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

    def _excluded(self, query: Query, args: Args, alias: str) -> str:
        """An excluded clause anywhere in the document (any section, or the title,
        whose terms every section row holds) leaves the document out."""
        if not query.negative:
            return ""
        return (
            f" AND {alias}.doc_id NOT IN (SELECT n.doc_id FROM search_section_fts"
            " JOIN search_sections n ON n.rid = search_section_fts.rowid"
            f" WHERE search_section_fts MATCH {args(to_fts5_any(query.negative))})"
        )

    async def title_hits(self, query: Query, reader: str | None) -> list[Hit]:
        args = Args()
        rows = await self.sql.fetch(
            "SELECT t.doc_id, t.sections, -bm25(search_titles) AS score FROM search_titles"
            " JOIN search_documents t ON t.rid = search_titles.rowid"
            f" JOIN documents d ON d.id = t.doc_id{reader_join(args, reader, 't')}"
            f" WHERE search_titles MATCH {args(to_fts5(query.positive))}"
            f"{self._excluded(query, args, 't')} LIMIT {RANKED}",
            *args.values,
        )
        return [Hit(r["doc_id"], first_section(r["sections"]), float(r["score"])) for r in rows]

    async def section_hits(
        self, query: Query, clauses: tuple[Clause, ...], reader: str | None, scored: bool
    ) -> list[Hit]:
        args = Args()
        # bm25 weighs the title 10:1 over the text.
        score = "-bm25(search_section_fts, 10.0, 1.0)" if scored else "0.0"
        rows = await self.sql.fetch(
            f"SELECT s.doc_id, s.key, {score} AS score FROM search_section_fts"
            " JOIN search_sections s ON s.rid = search_section_fts.rowid"
            f" JOIN documents d ON d.id = s.doc_id{reader_join(args, reader)}"
            f" WHERE search_section_fts MATCH {args(to_fts5(clauses))}"
            f"{self._excluded(query, args, 's')} LIMIT {RANKED}",
            *args.values,
        )
        return [Hit(r["doc_id"], r["key"], float(r["score"])) for r in rows]

    async def holding(self, clause: Clause, doc_ids: list[str]) -> set[str]:
        args = Args()
        docs = ", ".join(args(d) for d in doc_ids)
        # From the candidates' sections to the index, each a seek by rowid: driven by
        # the full-text index, a common word would join every section holding it.
        rows = await self.sql.fetch(
            f"SELECT DISTINCT s.doc_id FROM search_sections s CROSS JOIN search_section_fts"
            f" ON search_section_fts.rowid = s.rid WHERE s.doc_id IN ({docs})"
            f" AND search_section_fts MATCH {args(to_fts5((clause,)))}",
            *args.values,
        )
        return {r["doc_id"] for r in rows}

    async def titles(self, query: Query, reader: str | None, limit: int, offset: int) -> list[str]:
        args = Args()
        match = args(to_fts5(query.positive, query.negative))
        rows = await self.sql.fetch(
            "SELECT s.doc_id FROM search_titles JOIN search_documents s"
            " ON s.rid = search_titles.rowid JOIN documents d ON d.id = s.doc_id"
            f"{reader_join(args, reader)} WHERE search_titles MATCH {match}"
            f" ORDER BY s.doc_id LIMIT {args(limit)} OFFSET {args(offset)}",
            *args.values,
        )
        return [r["doc_id"] for r in rows]

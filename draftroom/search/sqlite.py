"""SQLite FTS5: the embedded store's engine.

``search_fts`` indexes title and text terms, ``search_titles`` the title alone (to
rank title matches first). Both are external-content tables over
``search_documents`` kept in step by triggers (migration 006), so writing a
document's terms is one statement, atomic, like every ``Store.sql`` call. Ranking is
``bm25`` with the title weighted 10:1; prefix indexes of 2-4 characters keep
typing-as-you-search queries off full-vocabulary scans.
"""

from __future__ import annotations

from typing import Any

from draftroom.search.engine import ORDER, Args, Engine, Key, Ranked, after_key, reader_join
from draftroom.search.query import Query, to_fts5
from draftroom.search.text import IndexEntry


class FTS5Engine(Engine):
    # SQLite is one node (one writer process), so there is nobody to claim a document
    # against; and an UPDATE rewrites the whole row, text included, so a claim and its
    # release would cost two writes of ~2x the document each. The version guard in
    # ``write`` still keeps an older version from replacing a newer one (e.g. while
    # ``draftroom reindex`` runs beside the server).

    async def claim(
        self, doc_id: str, node: str, now: float, lease: float
    ) -> dict[str, Any] | None:
        row = await self.sql.fetchrow(
            "SELECT indexed_version, title FROM search_documents WHERE doc_id = $1", doc_id
        )
        return row or {"indexed_version": -1, "title": None}

    async def release(self, doc_id: str, node: str) -> None:
        return None

    async def write(
        self, doc_id: str, node: str, version: int, entry: IndexEntry, now: float
    ) -> bool:
        written = await self.sql.execute(
            "INSERT INTO search_documents (doc_id, indexed_version, title, body, headings,"
            " title_terms, body_terms, indexed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (doc_id) DO UPDATE SET indexed_version = excluded.indexed_version,"
            " title = excluded.title, body = excluded.body, headings = excluded.headings,"
            " title_terms = excluded.title_terms, body_terms = excluded.body_terms,"
            " indexed_at = excluded.indexed_at"
            " WHERE search_documents.indexed_version < excluded.indexed_version"
            " OR search_documents.title <> excluded.title",
            doc_id,
            version,
            entry.title,
            entry.body,
            entry.headings_json(),
            entry.title_terms,
            entry.body_terms,
            now,
        )
        return written > 0

    async def rank(
        self, query: Query, reader: str | None, limit: int, after: Key | None
    ) -> list[Ranked]:
        args = Args()
        match = args(to_fts5(query.positive, query.negative))
        title_match = args(to_fts5(query.positive))
        inner = (
            "SELECT s.doc_id AS doc_id,"
            f" (s.rid IN (SELECT rowid FROM search_titles WHERE search_titles MATCH {title_match}))"
            " AS title_hit, -bm25(search_fts, 10.0, 1.0) AS score"
            " FROM search_fts JOIN search_documents s ON s.rid = search_fts.rowid"
            " JOIN documents d ON d.id = s.doc_id"
            f"{reader_join(args, reader)} WHERE search_fts MATCH {match}"
        )
        keyset = after_key(args, after)
        rows = await self.sql.fetch(
            f"SELECT r.doc_id, r.title_hit, r.score FROM ({inner}) r{keyset}{ORDER}"
            f" LIMIT {args(limit)}",
            *args.values,
        )
        return [
            Ranked(r["doc_id"], Key(int(r["title_hit"]), float(r["score"]), r["doc_id"]))
            for r in rows
        ]

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

"""PostgreSQL full-text search: the production store's engine.

``terms`` is one tsvector per document, the title weighted A and the text D, with a
GIN index; ``title_terms`` holds the title alone (GIN too) so title matches rank
first. Both are computed by the server from the already folded terms with the
``simple`` configuration (no stemming, no stop words: a writer searching "the
end" means those words). Queries go through ``to_tsquery`` built from the AST,
where ``'drag':*`` is a prefix and ``<->`` adjacency; ranking is ``ts_rank``.
"""

from __future__ import annotations

from draftroom.search.engine import ORDER, Args, Engine, Key, Ranked, after_key, reader_join
from draftroom.search.query import Query, to_tsquery
from draftroom.search.text import IndexEntry

RANKED = 1000


class PostgresEngine(Engine):
    async def write(
        self, doc_id: str, node: str, version: int, entry: IndexEntry, now: float
    ) -> bool:
        written = await self.sql.execute(
            "UPDATE search_documents SET indexed_version = $3, title = $4, body = $5,"
            " headings = $6,"
            " terms = setweight(to_tsvector('simple', $7), 'A')"
            " || setweight(to_tsvector('simple', $8), 'D'),"
            " title_terms = to_tsvector('simple', $7), indexed_at = $9,"
            " claimed_by = '', claimed_until = 0"
            " WHERE doc_id = $1 AND claimed_by = $2 AND (indexed_version < $3 OR title <> $4)",
            doc_id,
            node,
            version,
            entry.title,
            entry.body,
            entry.headings_json(),
            entry.title_terms,
            entry.body_terms,
            now,
        )
        if not written:
            await self.release(doc_id, node)
        return written > 0

    async def rank(
        self, query: Query, reader: str | None, limit: int, after: Key | None
    ) -> list[Ranked]:
        args = Args()
        match = args(to_tsquery(query.positive, query.negative))
        title_match = args(to_tsquery(query.positive))
        # ts_rank reads each match's whole tsvector (tens of KB, TOASTed): only the
        # first RANKED candidates, title matches first, are ranked, so a common word
        # costs a bounded time. Below that many matches every one is ranked.
        candidates = (
            "SELECT s.doc_id,"
            f" (s.title_terms @@ to_tsquery('simple', {title_match}))::int AS title_hit"
            " FROM search_documents s JOIN documents d ON d.id = s.doc_id"
            f"{reader_join(args, reader)} WHERE s.terms @@ to_tsquery('simple', {match})"
            f" ORDER BY title_hit DESC, s.doc_id LIMIT {RANKED}"
        )
        inner = (
            "SELECT c.doc_id, c.title_hit,"
            f" ts_rank(s.terms, to_tsquery('simple', {match}))::float8 AS score"
            f" FROM ({candidates}) c JOIN search_documents s ON s.doc_id = c.doc_id"
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
        match = args(to_tsquery(query.positive, query.negative))
        rows = await self.sql.fetch(
            "SELECT s.doc_id FROM search_documents s JOIN documents d ON d.id = s.doc_id"
            f"{reader_join(args, reader)}"
            f" WHERE s.title_terms @@ to_tsquery('simple', {match})"
            f" ORDER BY s.doc_id LIMIT {args(limit)} OFFSET {args(offset)}",
            *args.values,
        )
        return [r["doc_id"] for r in rows]

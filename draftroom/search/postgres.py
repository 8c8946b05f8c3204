"""PostgreSQL full-text search: the production store's engine.

``search_sections.terms`` is one tsvector per section, the document's title weighted
A and the section's text D, with a GIN index; ``search_documents.title_terms`` holds
the title alone (GIN too) so title matches rank first. Both are computed by the
server from the already folded terms with the ``simple`` configuration (no stemming,
no stop words: a writer searching "the end" means those words). Queries go through
``to_tsquery`` built from the AST, where ``'drag':*`` is a prefix and ``<->``
adjacency; ranking is ``ts_rank`` of the best section. A section is at most a few KB,
so ranking it reads a small tsvector, where a whole document's could be 1 MB.
"""

from __future__ import annotations

from draftroom.search.engine import Args, Engine, Key, Ranked, reader_join
from draftroom.search.query import Query, to_tsquery, to_tsquery_any
from draftroom.search.text import IndexEntry, Section

RANKED = 1000


class PostgresEngine(Engine):
    async def write(
        self, doc_id: str, node: str, version: int, entry: IndexEntry, now: float
    ) -> bool:
        title_terms = entry.title_terms

        def row(s: Section) -> tuple[object, ...]:
            return (s.key, s.path_json(), s.body, title_terms, s.terms)

        await self.write_sections(
            doc_id,
            entry,
            "INSERT INTO search_sections (doc_id, key, path, body, terms) VALUES ($1, $2, $3,"
            " $4, setweight(to_tsvector('simple', $5), 'A')"
            " || setweight(to_tsvector('simple', $6), 'D'))"
            " ON CONFLICT (doc_id, key) DO UPDATE SET terms = excluded.terms",
            row,
        )
        written = await self.sql.execute(
            "UPDATE search_documents SET indexed_version = $3, title = $4, sections = $5,"
            " title_terms = to_tsvector('simple', $6), indexed_at = $7,"
            " claimed_by = '', claimed_until = 0"
            " WHERE doc_id = $1 AND claimed_by = $2 AND (indexed_version < $3 OR title <> $4)",
            doc_id,
            node,
            version,
            entry.title,
            entry.layout_json(),
            entry.title_terms,
            now,
        )
        if not written:
            await self.release(doc_id, node)
        return written > 0

    async def rank(
        self, query: Query, reader: str | None, limit: int, after: Key | None
    ) -> list[Ranked]:
        args = Args()
        match = args(to_tsquery(query.positive))
        title_match = args(to_tsquery(query.positive))
        excluded = ""
        if query.negative:
            excluded = (
                " AND NOT EXISTS (SELECT 1 FROM search_sections n WHERE n.doc_id = s.doc_id"
                f" AND n.terms @@ to_tsquery('simple', {args(to_tsquery_any(query.negative))}))"
            )
        reader_sql = reader_join(args, reader)

        # ts_rank reads each candidate's tsvector, and a common word is in most
        # sections: only the first RANKED matching sections (in no particular order,
        # so the scan stops there) are ranked, and those of title matches besides.
        def candidates(extra: str) -> str:
            return (
                "(SELECT s.doc_id, s.key FROM search_sections s"
                f" JOIN documents d ON d.id = s.doc_id{reader_sql}"
                f" WHERE s.terms @@ to_tsquery('simple', {match}){excluded}{extra}"
                f" LIMIT {RANKED})"
            )

        title_docs = (
            "SELECT t.doc_id FROM search_documents t"
            f" WHERE t.title_terms @@ to_tsquery('simple', {title_match})"
        )
        pool = f"{candidates(f' AND s.doc_id IN ({title_docs})')} UNION {candidates('')}"
        best = (
            "SELECT DISTINCT ON (c.doc_id) c.doc_id, c.key,"
            f" (t.title_terms @@ to_tsquery('simple', {title_match}))::int AS title_hit,"
            f" ts_rank(s.terms, to_tsquery('simple', {match}))::float8 AS score"
            f" FROM ({pool}) c JOIN search_sections s ON s.doc_id = c.doc_id AND s.key = c.key"
            " JOIN search_documents t ON t.doc_id = c.doc_id"
            " ORDER BY c.doc_id, score DESC, c.key"
        )
        return await self._page(best, args, after, limit)

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

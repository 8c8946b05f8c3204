"""PostgreSQL full-text search: the production store's engine.

``search_sections.terms`` is one tsvector per section, the document's title weighted
A and the section's text D, with a GIN index; ``search_documents.title_terms`` holds
the title alone (GIN too) so title matches rank first. Both are computed by the
server from the already folded terms with the ``simple`` configuration (no stemming,
no stop words: a writer searching "the end" means those words). Queries go through
``to_tsquery`` built from the AST, where ``'drag':*`` is a prefix and ``<->``
adjacency; ranking is ``ts_rank`` of the best section (title matches: of the title).
A section is at most a few KB, so ranking it reads a small tsvector, where a whole
document's could be 1 MB.

What a query costs (``bench/search_queries.py --explain``): the GIN index finds a
rare word's sections in well under a millisecond; a common word's first 1,000 are a
sequential scan that stops there, and ``ts_rank`` reads each of them once more. A
phrase is checked on each section holding all its words (the GIN index has no
positions), and an excluded word reads every section holding it: both grow with how
common the words are.
"""

from __future__ import annotations

from draftroom.search.engine import RANKED, Args, Engine, Hit, first_section, reader_join
from draftroom.search.query import Clause, Query, to_tsquery, to_tsquery_any
from draftroom.search.text import IndexEntry, Section


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

    def _excluded(self, query: Query, args: Args, alias: str) -> str:
        """An excluded clause in any section (each holds the title's terms too) leaves
        the document out."""
        if not query.negative:
            return ""
        return (
            f" AND NOT EXISTS (SELECT 1 FROM search_sections n WHERE n.doc_id = {alias}.doc_id"
            f" AND n.terms @@ to_tsquery('simple', {args(to_tsquery_any(query.negative))}))"
        )

    async def title_hits(self, query: Query, reader: str | None) -> list[Hit]:
        args = Args()
        match = args(to_tsquery(query.positive))
        rows = await self.sql.fetch(
            "SELECT t.doc_id, t.sections,"
            f" ts_rank(t.title_terms, to_tsquery('simple', {match}))::float8 AS score"
            " FROM search_documents t"
            f" JOIN documents d ON d.id = t.doc_id{reader_join(args, reader, 't')}"
            f" WHERE t.title_terms @@ to_tsquery('simple', {match}) LIMIT {RANKED}",
            *args.values,
        )
        return [Hit(r["doc_id"], first_section(r["sections"]), float(r["score"])) for r in rows]

    async def section_hits(
        self, query: Query, clauses: tuple[Clause, ...], reader: str | None, scored: bool
    ) -> list[Hit]:
        args = Args()
        match = args(to_tsquery(clauses))
        # ts_rank reads the candidate's tsvector: under the LIMIT, it runs only for the
        # rows returned, not for every section the scan passes.
        score = f"ts_rank(s.terms, to_tsquery('simple', {match}))::float8" if scored else "0.0"
        rows = await self.sql.fetch(
            f"SELECT s.doc_id, s.key, {score} AS score FROM search_sections s"
            f" JOIN documents d ON d.id = s.doc_id{reader_join(args, reader)}"
            f" WHERE s.terms @@ to_tsquery('simple', {match})"
            f"{self._excluded(query, args, 's')} LIMIT {RANKED}",
            *args.values,
        )
        return [Hit(r["doc_id"], r["key"], float(r["score"])) for r in rows]

    async def holding(self, clauses: tuple[Clause, ...], doc_ids: list[str]) -> list[set[str]]:
        held = []
        for clause in clauses:
            rows = await self.sql.fetch(
                "SELECT DISTINCT s.doc_id FROM search_sections s"
                " WHERE s.doc_id = ANY($1::text[]) AND s.terms @@ to_tsquery('simple', $2)",
                doc_ids,
                to_tsquery((clause,)),
            )
            held.append({r["doc_id"] for r in rows})
        return held

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

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
phrase and an excluded word are checked on each section's tsvector (the GIN index
has no positions). An excluded word is checked only on the first ``CHECKED`` sections
holding the searched words. A phrase is found wherever it is: a lone phrase whose
words are common is read a page at a time in id order (``scan``), so a page costs
the walk up to its last hit (~0.2 ms for a phrase in most sections, 0.5-0.9 s for one
in 127 of 760,000 sections whose words are in most of them, at 100,000 documents).
"""

from __future__ import annotations

import json

from draftroom.search.engine import (
    CHECKED,
    RANKED,
    Args,
    Engine,
    Hit,
    Key,
    Ranked,
    first_section,
    reader_join,
)
from draftroom.search.query import Clause, Query, to_tsquery, words
from draftroom.search.text import IndexEntry, Section

SPARSE = 100_000
"""Below this many matching sections (the planner's estimate), a reader's matches are
read from the GIN index first; above it, by walking the reader's documents."""

DENSE_PHRASE = 20_000
"""From this many sections holding a phrase's words (the planner's estimate), the
phrase is not ranked but read in id order (``scan``). Below it, every candidate is
read from the GIN index and its tsvector checked for the phrase (the index has no
positions): ~3.5 us a section, 70 ms at this bound."""

SHORT_PREFIX = 3
DRIVEN = 5000
"""A query's other clauses alone drive the GIN scan, and its prefixes of at most
``SHORT_PREFIX`` letters are checked on the rows that scan returns, when the planner
expects those clauses in fewer than ``DRIVEN`` sections. The GIN index collects
every match of a prefix before returning any, every posting list of every word it
starts: ``caelithkatu or`` (``or:*``) 145-160 ms at 100,000 documents, quiet,
whatever the word before it, and 10-25 ms this way. The check costs ~10 us a
section holding the words, so a prefix matching nothing costs as many: 8 ms after
a word in 800 sections, 134 ms after one in 12,800 (the planner's estimate is
3,822 for any word outside its most common ones); a 2-3 letter prefix rarely
matches nothing, a longer one often does, and then the GIN scan is cheap."""


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

    async def title_hits(self, query: Query, reader: str | None) -> list[Hit]:
        args = Args()
        match = args(to_tsquery(query.positive))
        rows = await self.reads.fetch(
            "SELECT t.doc_id, t.sections,"
            f" ts_rank(t.title_terms, to_tsquery('simple', {match}))::float8 AS score"
            " FROM search_documents t"
            f" JOIN documents d ON d.id = t.doc_id{reader_join(args, reader, 't')}"
            f" WHERE t.title_terms @@ to_tsquery('simple', {match}) LIMIT {RANKED}",
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
        tsquery = to_tsquery(clauses, without)
        match = args(tsquery)
        # ts_rank reads the candidate's tsvector: under the LIMIT, it runs only for the
        # rows returned, not for every section the scan passes. It ranks by the searched
        # words alone, as without exclusions.
        score = "0.0"
        if scored:
            score = f"ts_rank(s.terms, to_tsquery('simple', {args(to_tsquery(clauses))}))::float8"
        source = "search_sections s"
        bounded = bool(without) and all(len(c.terms) == 1 for c in clauses)
        where = f"s.terms @@ to_tsquery('simple', {match})"
        driver = None if bounded else await self.driver(clauses)
        if driver is not None:
            tsquery = to_tsquery(driver)  # what the GIN index is scanned for
            where = (
                f"s.terms @@ to_tsquery('simple', {args(tsquery)})"
                f" AND ts_match_vq(s.terms, to_tsquery('simple', {match}))"  # never indexed
            )
        if bounded:
            # An exclusion is checked on each section's tsvector (the GIN index has no
            # cheap way to leave rows out), and the sections not holding a common
            # excluded word may be most of the corpus: 1-5 s at 100,000 documents. Only
            # the first CHECKED sections holding the searched words are checked, and
            # ``unexcluded`` checks the candidates' other sections. A phrase is never
            # bounded so: a half-remembered line of common words is what a writer
            # searches for, and it must be found wherever it is (1-4 s at 100,000
            # documents when its words are common; RUM's positions would avoid it).
            source = (
                "(SELECT doc_id, key, terms FROM search_sections"
                f" WHERE terms @@ to_tsquery('simple', {args(to_tsquery(words(clauses)))})"
                f" LIMIT {CHECKED}) s"
            )
        if reader is not None and not bounded and (driver or await self.sparse(tsquery)):
            # A reader's sections are found through the GIN index first, then checked
            # for access. Left to itself, for a word in a few percent of the sections
            # (a title word: the title is in each of its document's sections), the
            # planner walks the reader's documents in id order and reads every section
            # of each until 1,000 match: 20,000 random reads, 60-70 ms at 100,000
            # documents against ~4,000 sections and 20-30 ms this way. A CTE is read
            # only as far as the LIMIT needs, if nothing sorts or hashes it: access is
            # checked row by row (``OFFSET 0`` keeps the EXISTS from becoming a join
            # the planner may feed by sorting all of it: 140 ms for `el dane tuvi`).
            # Not for a word in most sections: the GIN scan would first read its
            # whole posting list (see ``sparse``).
            rows = await self.reads.fetch(
                "WITH hit AS MATERIALIZED (SELECT s.doc_id, s.key, s.terms"
                f" FROM search_sections s WHERE {where})"
                f" SELECT s.doc_id, s.key, {score} AS score FROM hit s WHERE EXISTS"
                " (SELECT 1 FROM documents d JOIN document_members m ON m.doc_id = d.id"
                f" WHERE d.id = s.doc_id AND m.user_id = {args(reader)} OFFSET 0)"
                f" LIMIT {RANKED}",
                *args.values,
            )
            return [Hit(r["doc_id"], r["key"], float(r["score"])) for r in rows]
        rows = await self.reads.fetch(
            f"SELECT s.doc_id, s.key, {score} AS score FROM {source}"
            f" JOIN documents d ON d.id = s.doc_id{reader_join(args, reader)}"
            f" WHERE {where} LIMIT {RANKED}",
            *args.values,
        )
        return [Hit(r["doc_id"], r["key"], float(r["score"])) for r in rows]

    async def common(self, query: Query) -> bool:
        return await self.estimate(to_tsquery(query.positive, query.negative)) >= DENSE_PHRASE

    async def scan(
        self, query: Query, reader: str | None, after: Key | None, count: int, skip: set[str]
    ) -> list[Ranked]:
        # The reader's documents in id order, and for each its first section (by key)
        # holding the phrase, until ``count`` documents have one: for a phrase in most
        # sections that reads a few dozen rows (0.1-0.2 ms at 100,000 documents, where
        # ranking the first 1,000 took 15-20 ms). ``ts_match_vq`` is ``@@`` as a
        # function, which the planner cannot answer from the GIN index: that would read
        # the words' whole posting lists first, and sort the matches. The last
        # document's id is where the next page resumes. A rare phrase of common words
        # still reads every section up to its last hit (0.5-0.8 s for the first page of
        # one in 127 of 760,000 sections): the GIN index has no positions.
        last = after.doc_id if after is not None and not after.title_hit else ""
        found: list[Ranked] = []
        while len(found) < count:
            args = Args()
            phrase = args(to_tsquery(query.positive, query.negative))
            batch = count - len(found) + 8  # a few over: title matches are left out
            member = ""
            if reader is not None:
                member = (
                    f" JOIN document_members m ON m.doc_id = d.id AND m.user_id = {args(reader)}"
                )
            rows = await self.reads.fetch(
                f"SELECT x.doc_id, x.key FROM documents d{member} CROSS JOIN LATERAL"
                " (SELECT s.doc_id, s.key FROM search_sections s WHERE s.doc_id = d.id"
                f" AND ts_match_vq(s.terms, to_tsquery('simple', {phrase}))"
                f" ORDER BY s.key LIMIT 1) x WHERE d.id > {args(last)}"
                f" ORDER BY d.id LIMIT {batch}",
                *args.values,
            )
            found += [
                Ranked(r["doc_id"], Key(0, 0.0, r["doc_id"]), r["key"])
                for r in rows
                if r["doc_id"] not in skip
            ]
            if len(rows) < batch:
                break
            last = rows[-1]["doc_id"]
        return found[:count]

    async def driver(self, clauses: tuple[Clause, ...]) -> tuple[Clause, ...] | None:
        """The clauses that drive the GIN scan alone, if not all of them: all but the
        short prefixes of a query typed on (``caelithkatu or``), when they are rare
        (``DRIVEN``). One planning pass (~0.3 ms), only for such queries."""
        whole = tuple(
            c for c in clauses if not (c.prefix and len(c.terms[-1].term) <= SHORT_PREFIX)
        )
        if not whole or len(whole) == len(clauses):
            return None
        return whole if await self.estimate(to_tsquery(whole)) < DRIVEN else None

    async def estimate(self, tsquery: str) -> float:
        """The planner's estimate of the sections matching ``tsquery``."""
        row = await self.reads.fetchrow(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM search_sections"
            " WHERE terms @@ to_tsquery('simple', $1)",
            tsquery,
        )
        assert row is not None
        plan = row["QUERY PLAN"]
        if isinstance(plan, str):  # asyncpg leaves json as text unless told otherwise
            plan = json.loads(plan)
        return float(plan[0]["Plan"]["Plan Rows"])

    async def sparse(self, tsquery: str) -> bool:
        """Whether the planner expects fewer than ``SPARSE`` sections to match.

        Its estimate (from the tsvector column's statistics) is within a factor of 2-3
        at 100,000 documents, and asking costs a planning pass (~0.3 ms). Walking a
        reader's documents reads 1,000 / density sections; the GIN scan reads the
        whole posting list first: for a very common word or a 2-letter prefix that is
        60-450 ms where the walk stops after a few hundred sections."""
        return await self.estimate(tsquery) < SPARSE

    async def holding(self, clauses: tuple[Clause, ...], doc_ids: list[str]) -> list[set[str]]:
        # The matches are in the select list, not the WHERE clause, so that no plan
        # (a prepared statement's generic plan included) reads a common word's whole
        # GIN posting list: these are a few documents' sections, found by their key.
        args = Args()
        docs = args(doc_ids)
        held = ", ".join(
            f"bool_or(terms @@ to_tsquery('simple', {args(to_tsquery((c,)))})) AS c{i}"
            for i, c in enumerate(clauses)
        )
        rows = await self.reads.fetch(
            f"SELECT doc_id, {held} FROM search_sections WHERE doc_id = ANY({docs}::text[])"
            " GROUP BY doc_id",
            *args.values,
        )
        return [{r["doc_id"] for r in rows if r[f"c{i}"]} for i in range(len(clauses))]

    async def titles(self, query: Query, reader: str | None, limit: int, offset: int) -> list[str]:
        args = Args()
        match = args(to_tsquery(query.positive, query.negative))
        rows = await self.reads.fetch(
            "SELECT s.doc_id FROM search_documents s JOIN documents d ON d.id = s.doc_id"
            f"{reader_join(args, reader)}"
            f" WHERE s.title_terms @@ to_tsquery('simple', {match})"
            f" ORDER BY s.doc_id LIMIT {args(limit)} OFFSET {args(offset)}",
            *args.values,
        )
        return [r["doc_id"] for r in rows]

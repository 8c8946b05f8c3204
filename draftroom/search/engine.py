"""One interface over two full-text engines, and the bookkeeping they share.

Each store has one engine (``sqlite.py``: FTS5; ``postgres.py``: tsvector + GIN).
The engines differ in how they write terms and how they match and rank; the row
beside each document (``search_documents``), the sweep and the claim are shared SQL
through ``Store.sql`` (SQLite, one node, overrides the claim with a plain read).

The index holds sections (``search_sections``: a heading's text, or a 2-4 KB chunk
of it, with its heading path), each matched with the document's title terms. A
document matches best when its title holds every searched word, then when its title
and one section together do (it ranks by its best section, whose text gives the
snippet and heading path), and last when the words are in different sections. An
excluded word excludes the document if any section (or the title) holds it.

Writing an entry is three statements (each call is its own transaction), in an order
that a crash at any point leaves for the sweep to repair: the new sections are
added, the vanished ones deleted, and only then is the version recorded.

Access is never in the index. Every query joins ``documents`` (a deleted document
is gone at once) and, unless the reader sees everything (site admin, anonymous
local mode), ``document_members`` for the reader's own roles (a revoked role is
gone at once). Every role may read, so any membership row is enough.

Order is a keyset, ``(title_hit DESC, score DESC, doc_id ASC)``: title matches
first, then the engine's relevance (document-level matches below every section
match), then the id to break ties, so a cursor holding the last row's key resumes
exactly after it. A lone phrase too common to rank (``in_index_order``) keeps the
title matches first and then lists every other document holding it in the engine's
index order, its place in that order in the key's score (SQLite) or id (PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from draftroom.search.query import Clause, Query
from draftroom.search.text import IndexEntry, Section, layout_from_json
from draftroom.store.base import SQL


@dataclass(frozen=True, slots=True)
class Key:
    """Where a page ends: the sort key of its last hit."""

    title_hit: int
    score: float
    doc_id: str


@dataclass(frozen=True, slots=True)
class Ranked:
    doc_id: str
    key: Key
    section: str  # key of the best-matching section


@dataclass(frozen=True, slots=True)
class Stored:
    """What a page of hits shows, read after ranking and only for that page: the
    best section's text and heading path, and where it starts in the document."""

    doc_id: str
    title: str
    body: str
    path: list[str]
    offset: int | None
    version: int


class Rows:
    """The SQL both engines share: claims, the catch-up sweep, removal, page reads."""

    def __init__(self, sql: SQL, reads: SQL | None = None) -> None:
        self.sql = sql
        # Where searches run: a store may give read-only queries their own connection
        # (SQLite: so they do not queue with the edit path's commits). Writes, claims
        # and the sweep stay on ``sql``.
        self.reads = sql if reads is None else reads

    async def claim(
        self, doc_id: str, node: str, now: float, lease: float
    ) -> dict[str, Any] | None:
        """Take the right to index ``doc_id`` for ``lease`` seconds.

        One statement, so of two nodes racing for one document exactly one gets the
        row back (PostgreSQL re-checks the WHERE after waiting on the row lock). A
        node killed mid-way simply lets its lease run out. Returns what is indexed
        now (``indexed_version``, ``title``), or None if another node holds it.
        """
        return await self.sql.fetchrow(
            "INSERT INTO search_documents (doc_id, claimed_by, claimed_until) VALUES ($1, $2, $3)"
            " ON CONFLICT (doc_id) DO UPDATE SET claimed_by = excluded.claimed_by,"
            " claimed_until = excluded.claimed_until"
            " WHERE search_documents.claimed_until < $4"
            " RETURNING indexed_version, title, sections",
            doc_id,
            node,
            now + lease,
            now,
        )

    async def release(self, doc_id: str, node: str) -> None:
        await self.sql.execute(
            "UPDATE search_documents SET claimed_by = '', claimed_until = 0"
            " WHERE doc_id = $1 AND claimed_by = $2",
            doc_id,
            node,
        )

    async def stale(self, now: float, limit: int) -> list[str]:
        """Documents whose stored version or title is ahead of the index, unclaimed."""
        rows = await self.sql.fetch(
            "SELECT d.id FROM documents d LEFT JOIN search_documents s ON s.doc_id = d.id"
            " WHERE (s.doc_id IS NULL OR s.indexed_version < d.seq OR s.title <> d.title)"
            " AND (s.claimed_until IS NULL OR s.claimed_until < $1)"
            " LIMIT $2",
            now,
            limit,
        )
        return [r["id"] for r in rows]

    async def remove(self, doc_id: str) -> None:
        await self.sql.execute("DELETE FROM search_documents WHERE doc_id = $1", doc_id)
        await self.sql.execute("DELETE FROM search_sections WHERE doc_id = $1", doc_id)

    async def remove_orphans(self) -> int:
        """Rows of documents that no longer exist (a node died between the deletes, or
        indexed a document while it was being deleted)."""
        removed = 0
        for table in ("search_documents", "search_sections"):
            removed += await self.sql.execute(
                f"DELETE FROM {table} WHERE NOT EXISTS"
                f" (SELECT 1 FROM documents d WHERE d.id = {table}.doc_id)"
            )
        return removed

    async def forget(self, doc_ids: list[str] | None) -> int:
        """Mark documents (all if None) unindexed, so the indexer rebuilds them. Their
        rows stay searchable until rebuilt: a rebuild never empties the results. A
        forgotten document's sections are all rebuilt, not only the changed ones."""
        if doc_ids is None:
            return await self.sql.execute("UPDATE search_documents SET indexed_version = -1")
        changed = 0
        for doc_id in doc_ids:
            changed += await self.sql.execute(
                "UPDATE search_documents SET indexed_version = -1 WHERE doc_id = $1", doc_id
            )
        return changed

    async def stored(self, hits: list[Ranked]) -> dict[str, Stored]:
        if not hits:
            return {}
        args = Args()
        pairs = " OR ".join(
            f"(s.doc_id = {args(h.doc_id)} AND s.key = {args(h.section)})" for h in hits
        )
        rows = await self.reads.fetch(
            "SELECT t.doc_id, t.title, t.indexed_version, t.sections, s.key, s.path, s.body"
            " FROM search_sections s JOIN search_documents t ON t.doc_id = s.doc_id"
            f" WHERE {pairs}",
            *args.values,
        )
        return {
            r["doc_id"]: Stored(
                r["doc_id"],
                r["title"],
                r["body"],
                [str(h) for h in json.loads(r["path"])],
                layout_from_json(r["sections"]).get(r["key"]),
                r["indexed_version"],
            )
            for r in rows
        }

    async def write_sections(
        self, doc_id: str, entry: IndexEntry, insert: str, row: Callable[[Section], tuple[Any, ...]]
    ) -> None:
        """Add the entry's new sections, delete those it no longer has. A typical edit
        is one insert and one delete; an unchanged section costs nothing."""
        fresh = entry.new_sections()
        if fresh:
            await self.sql.executemany(insert, [(doc_id, *row(s)) for s in fresh])
        if entry.vanished == ():
            return  # nothing the index held is gone
        # Every other row goes, not only the vanished ones: rows an earlier pass wrote
        # before it died (its layout never recorded) go with them.
        args = Args()
        doc = args(doc_id)
        keep = ", ".join(args(k) for k in entry.keys())
        await self.sql.execute(
            f"DELETE FROM search_sections WHERE doc_id = {doc} AND key NOT IN ({keep})",
            *args.values,
        )


RANKED = 1000
"""At most this many matching sections (and title matches) are read and ranked per
query: ranking reads each one, and a common word is in most sections of the corpus."""

DOCUMENT_LEVEL = -1.0
"""Scores of document-level matches (each searched word somewhere in the document,
no section with all of them) are below this, every section match's above 0."""


CHECKED = 5000
"""On PostgreSQL, a query's excluded words are checked only on the first this many
sections holding all its searched words (its GIN index cannot leave a common word's
sections out cheaply: 1-5 s at 100,000 documents). Phrases are never bounded: a
half-remembered line of common words must be found wherever it is."""

EXCLUSION_CHECKED = 100
"""At most this many candidate documents (best first) are checked for an excluded
word per page: each check reads the document's sections."""

DOCUMENT_CANDIDATES = 50
"""At most this many documents are checked for a document-level match (the first by
id among those holding the rarest clause): each check reads the document's sections."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One matching section (or a title) as an engine found it."""

    doc_id: str
    section: str
    score: float


class Engine(Rows):
    """One store's full-text engine: how terms are written, matched and ranked.

    ``rank`` is shared: three small bounded reads, merged and paged here, instead of
    one statement whose planner has to choose between the full-text index, the
    title index and the access filter for every query shape.
    1. Title matches (the title holds every searched word): the title index is small,
       and they rank first, by the title's relevance.
    2. Section matches: the first ``RANKED`` matching sections the engine finds (index
       order, so a common word's scan stops there), ranked, the best per document.
    3. Document matches, only for a page that 1-2 did not fill and a query of several
       words or phrases, one of them in fewer than ``RANKED`` sections: documents
       with each of them in some section (a name in chapter 1, a place in chapter
       9), ranked last, in id order.
    Excluded words: 2 leaves out sections holding one, and ``unexcluded`` checks the
    other sections of the best-ranked candidates only, never every section holding
    the word.
    """

    async def write(
        self, doc_id: str, node: str, version: int, entry: IndexEntry, now: float
    ) -> bool:
        """Store the entry if ``node`` holds the claim and it is news (a newer version
        or a new title); release the claim either way. True if it was written.
        Sections the entry has no terms for are already in the index."""
        raise NotImplementedError

    async def titles(self, query: Query, reader: str | None, limit: int, offset: int) -> list[str]:
        """Ids, in id order, of readable documents whose title matches."""
        raise NotImplementedError

    async def title_hits(self, query: Query, reader: str | None) -> list[Hit]:
        """Readable documents whose title holds every positive clause (excluded
        clauses are checked by ``rank``), scored by the title's relevance; ``section``
        is the document's first one."""
        raise NotImplementedError

    async def section_hits(
        self,
        clauses: tuple[Clause, ...],
        reader: str | None,
        scored: bool,
        without: tuple[Clause, ...] = (),
    ) -> list[Hit]:
        """The first ``RANKED`` sections holding every clause of ``clauses`` and none of
        ``without`` (with the document's title) of readable documents; scored by the
        engine's relevance, or 0 when not ``scored``. A section without an excluded
        word may still be in a document with it elsewhere: ``unexcluded`` checks that."""
        raise NotImplementedError

    async def holding(self, clauses: tuple[Clause, ...], doc_ids: list[str]) -> list[set[str]]:
        """For each clause, which of ``doc_ids`` hold it in their title or a section."""
        raise NotImplementedError

    async def common(self, query: Query) -> bool:
        """Whether the query's words are too common to find and rank all its matching
        sections cheaply (the engine's own judgement of selectivity)."""
        raise NotImplementedError

    async def scan(
        self, query: Query, reader: str | None, after: Key | None, count: int, skip: set[str]
    ) -> list[Ranked]:
        """The first ``count`` readable documents after ``after`` (None: from the start)
        in the engine's index order, each with its first section holding every positive
        clause and no excluded one, leaving out ``skip``. Each hit's key is its place in
        that order, so a cursor holding it resumes the scan exactly after it. Reads only
        as far as ``count`` documents need."""
        raise NotImplementedError

    async def rank(
        self, query: Query, reader: str | None, limit: int, after: Key | None
    ) -> list[Ranked]:
        """The best ``limit`` documents ``reader`` may read (None: every document),
        after the cursor's key."""
        lone_phrase = is_phrase(query)
        if lone_phrase and await self.common(query):
            return await self.in_index_order(query, reader, limit, after)
        found: dict[str, Ranked] = {}
        # Every section of a document without the excluded clauses lacks them too, so the
        # engine leaves out sections holding one (cheaply, in its index) before the LIMIT.
        hits = await self.section_hits(query.positive, reader, True, query.negative)
        if lone_phrase and len(hits) >= RANKED:
            # More sections hold the phrase than are ranked: ranking the first RANKED
            # would leave the others unreachable. All of them, unranked, instead.
            return await self.in_index_order(query, reader, limit, after)
        sections = best_per_document(hits)
        for hit in await self.title_hits(query, reader):
            best = sections.get(hit.doc_id)  # its best section gives the snippet
            found[hit.doc_id] = Ranked(
                hit.doc_id,
                Key(1, hit.score, hit.doc_id),
                best.section if best is not None else hit.section,
            )
        for hit in sections.values():
            if hit.doc_id not in found:
                found[hit.doc_id] = Ranked(hit.doc_id, Key(0, hit.score, hit.doc_id), hit.section)
        page = await self.unexcluded(query, paged(found.values(), after, len(found)), limit)
        if len(page) < limit and len(query.positive) > 1:
            spread = await self.document_hits(query, reader, set(found))
            page += await self.unexcluded(
                query, paged(spread, after, len(spread)), limit - len(page)
            )
        return page

    async def in_index_order(
        self, query: Query, reader: str | None, limit: int, after: Key | None
    ) -> list[Ranked]:
        """A page of a phrase too common to rank: its title matches first (ranked, as
        always), then every other document holding it, in the engine's index order,
        read only as far as the page needs.

        A half-remembered line of common words must be found wherever it is, so no
        match may fall outside the pages; ranking them all would read every one on
        every page (0.1-4 s at 100,000 documents). Here a page costs the scan up to
        its last hit: ~1 ms for a phrase in most sections, more the rarer the phrase
        is among the sections holding its words."""
        titles = {
            h.doc_id: Ranked(h.doc_id, Key(1, h.score, h.doc_id), h.section)
            for h in await self.title_hits(query, reader)
        }
        page: list[Ranked] = []
        position = after
        if after is None or after.title_hit:
            page = await self.unexcluded(query, paged(titles.values(), after, len(titles)), limit)
            position = None
        checked = 0
        while len(page) < limit and checked < EXCLUSION_CHECKED:
            need = limit - len(page)
            count = need
            if query.negative:  # some candidates will drop out: a batch as ``unexcluded`` does
                count = min(max(2 * need, 16), EXCLUSION_CHECKED - checked)
                checked += count
            batch = await self.scan(query, reader, position, count, set(titles))
            if not batch:
                break
            position = batch[-1].key
            page += await self.unexcluded(query, batch, need)
            if len(batch) < count:
                break  # the scan reached the end
        return page

    async def unexcluded(self, query: Query, ranked: list[Ranked], limit: int) -> list[Ranked]:
        """The first ``limit`` of ``ranked`` (in rank order) whose documents hold no
        excluded clause, checking at most ``EXCLUSION_CHECKED`` documents.

        Filtering inside the ranking statement read every section holding an excluded
        word, and a common word is in most sections: 0.5 s on SQLite and 1-5 s on
        PostgreSQL at 100,000 documents. Checking the best-ranked candidates a batch at
        a time reads only theirs; a page left short by the bound ends the results."""
        if not query.negative:
            return ranked[:limit]
        kept: list[Ranked] = []
        checked = 0
        while len(kept) < limit and checked < min(len(ranked), EXCLUSION_CHECKED):
            need = limit - len(kept)
            batch = ranked[checked : checked + min(max(2 * need, 16), EXCLUSION_CHECKED - checked)]
            checked += len(batch)
            excluded = set().union(*await self.holding(query.negative, [r.doc_id for r in batch]))
            kept += [r for r in batch if r.doc_id not in excluded][:need]
        return kept

    async def document_hits(
        self, query: Query, reader: str | None, matched: set[str]
    ) -> list[Ranked]:
        """Documents outside ``matched`` holding each positive clause somewhere. The
        clause found in the fewest sections picks the candidates, if it is in fewer
        than ``RANKED`` sections (the first ``DOCUMENT_CANDIDATES`` documents by id),
        and each other clause is checked on them alone."""
        per_clause = [
            await self.section_hits((clause,), reader, False, query.negative)
            for clause in query.positive
        ]
        driver = min(range(len(per_clause)), key=lambda i: len(per_clause[i]))
        if len(per_clause[driver]) >= RANKED:
            return []  # every clause is common: no clause to pick candidates from
        candidates = sorted({h.doc_id for h in per_clause[driver]} - matched)
        candidates = candidates[:DOCUMENT_CANDIDATES]
        opening = {h.doc_id: h.section for h in per_clause[driver]}
        others = tuple(c for i, c in enumerate(query.positive) if i != driver)
        if candidates:
            for held in await self.holding(others, candidates):
                candidates = [d for d in candidates if d in held]
        return [Ranked(d, Key(0, DOCUMENT_LEVEL, d), opening[d]) for d in candidates]


def is_phrase(query: Query) -> bool:
    """Whether the query looks for one phrase (excluded words aside): a half-remembered
    line, whose every match must be reachable."""
    positive = query.positive
    return len(positive) == 1 and len(positive[0].terms) > 1


def best_per_document(hits: list[Hit]) -> dict[str, Hit]:
    """Each document's best section: the highest score, then the smallest key (a total
    order, so both stores pick the same section of equal scores)."""
    best: dict[str, Hit] = {}
    for hit in hits:
        kept = best.get(hit.doc_id)
        if kept is None or (hit.score, kept.section) > (kept.score, hit.section):
            best[hit.doc_id] = hit
    return best


def first_section(layout: str) -> str:
    """The key of a document's opening section, from its layout (``sections``)."""
    sections = json.loads(layout or "[]")
    return str(sections[0][0]) if sections else ""


def _order(r: Ranked) -> tuple[int, float, str]:
    return (-r.key.title_hit, -r.key.score, r.doc_id)


def paged(rows: Iterable[Ranked], after: Key | None, limit: int) -> list[Ranked]:
    """``rows`` in rank order (title matches, score, id) after the cursor's key."""
    ordered = sorted(rows, key=_order)
    if after is not None:
        last = (-after.title_hit, -after.score, after.doc_id)
        ordered = [r for r in ordered if _order(r) > last]
    return ordered[:limit]


class Args:
    """Positional ``$n`` parameters for a query assembled from pieces."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def reader_join(args: Args, reader: str | None, alias: str = "s") -> str:
    if reader is None:
        return ""
    return f" JOIN document_members m ON m.doc_id = {alias}.doc_id AND m.user_id = {args(reader)}"

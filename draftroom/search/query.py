"""The query language, parsed once into a small AST that each engine renders.

    dragon knight        both words, anywhere in the title or text
    "red dragon"         the words next to each other, in this order
    -orc  -"dark lord"   documents without the word / the phrase
    drag                 the last word is a prefix while it is being typed
                         (no space after it yet): finds "dragon"
    knigh* drag          ``*`` makes any word a prefix
    北京                 Chinese/Japanese: the characters next to each other

Every word is folded (``text.fold``) and split exactly as the indexer splits text,
so a "word" the user types may become several terms ("well-known", "北京", "🐉🔥"):
it is then a phrase. User text never reaches FTS syntax: terms are runs of letters
and digits (or a hex code for an emoji) and the engines quote them.

Typing never fails: an unclosed quote runs to the end of the query, and stray
operators are dropped. The errors are about the query as a whole: empty, only
exclusions, too long, too many terms (``BadQuery``, HTTP 400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from draftroom.errors import DraftroomError
from draftroom.search.text import Token, fold, tokens

MAX_QUERY_CHARS = 1000
MAX_CLAUSES = 16
MAX_TERMS = 64
MIN_PREFIX = 2  # "a*" would match half the index


class BadQuery(DraftroomError):
    """A search query that cannot be run (400 with a specific code)."""

    status, code = 400, "bad_query"


@dataclass(frozen=True, slots=True)
class Clause:
    """A word (one term) or a phrase (several adjacent terms)."""

    terms: tuple[Token, ...]
    prefix: bool = False  # the last term matches as a prefix
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    clauses: tuple[Clause, ...]

    @property
    def positive(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if not c.negated)

    @property
    def negative(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.negated)

    def key(self) -> str:
        """A canonical form, so a cursor can tell it belongs to this query."""
        return " ".join(
            ("-" if c.negated else "")
            + "_".join(t.term for t in c.terms)
            + ("*" if c.prefix else "")
            for c in self.clauses
        )


# A quoted phrase (closed or running to the end), or a bare word up to a space/quote.
_ITEM = re.compile(r'(-?)(?:"([^"]*)("?)|([^\s"]+))')


def parse(text: str) -> Query:
    if len(text) > MAX_QUERY_CHARS:
        raise BadQuery(
            f"the query is {len(text)} characters; at most {MAX_QUERY_CHARS}",
            code="query_too_long",
        )
    trailing_space = text != text.rstrip()
    items = list(_ITEM.finditer(text))
    clauses: list[Clause] = []
    for index, m in enumerate(items):
        minus, phrase, closed, word = m.groups()
        last = index == len(items) - 1 and not trailing_space
        if word is not None:
            star = word.endswith("*")
            found = tuple(tokens(fold(word.rstrip("*"))))
            # Typing "drag" finds "dragon"; a finished word ("drag ") does not.
            prefix = star or (last and not minus)
        else:
            found = tuple(tokens(fold(phrase)))
            prefix = last and not closed and not minus and not phrase.endswith(" ")
        if not found:
            continue  # "-", "***", "?!": nothing searchable
        prefix = prefix and found[-1].kind == "word" and len(found[-1].term) >= MIN_PREFIX
        clause = Clause(found, prefix, negated=bool(minus))
        if clause not in clauses:
            clauses.append(clause)
    if not clauses:
        raise BadQuery("the query has no words to search for", code="empty_query")
    if not any(not c.negated for c in clauses):
        raise BadQuery(
            "a query needs at least one word to find, not only excluded ones",
            code="only_exclusions",
        )
    if len(clauses) > MAX_CLAUSES or sum(len(c.terms) for c in clauses) > MAX_TERMS:
        raise BadQuery(
            f"too many words: at most {MAX_CLAUSES} words or phrases, {MAX_TERMS} terms",
            code="too_many_terms",
        )
    return Query(tuple(clauses))


# -- rendering per engine: terms are [^\W_]+ or x<hex>, so quoting them is safe ---------


def _fts5_clause(clause: Clause) -> str:
    return '"' + " ".join(t.term for t in clause.terms) + '"' + ("*" if clause.prefix else "")


def to_fts5(clauses: tuple[Clause, ...], negative: tuple[Clause, ...] = ()) -> str:
    """FTS5 MATCH syntax: ("a" AND "b c"*) NOT ("d")."""
    expr = "(" + " AND ".join(_fts5_clause(c) for c in clauses) + ")"
    for clause in negative:
        expr += f" NOT ({_fts5_clause(clause)})"
    return expr


def terms_pattern(clause: Clause) -> re.Pattern[str]:
    """Finds the clause in indexed terms (``text.index_terms``: folded terms joined by
    single spaces), as the engines match it: the terms in a row, the last one as a
    prefix if the clause is one."""
    pattern = r"(?<!\S)" + re.escape(" ".join(t.term for t in clause.terms))
    return re.compile(pattern if clause.prefix else pattern + r"(?!\S)")


def words(clauses: tuple[Clause, ...]) -> tuple[Clause, ...]:
    """Each term of the clauses as a clause of its own (a phrase's last term keeps its
    prefix): what matches wherever a phrase does, in any order and place."""
    return tuple(
        Clause((t,), prefix=c.prefix and i == len(c.terms) - 1)
        for c in clauses
        for i, t in enumerate(c.terms)
    )


def _ts_clause(clause: Clause, joiner: str = " <-> ") -> str:
    parts = [f"'{t.term}'" for t in clause.terms]
    if clause.prefix:
        parts[-1] += ":*"
    inner = joiner.join(parts)
    return f"({inner})" if len(parts) > 1 else inner


def to_tsquery(clauses: tuple[Clause, ...], negative: tuple[Clause, ...] = ()) -> str:
    """PostgreSQL to_tsquery('simple', ...) syntax: 'a' & ('b' <-> 'c':*) & !'d'."""
    return " & ".join([_ts_clause(c) for c in clauses] + [f"!{_ts_clause(c)}" for c in negative])

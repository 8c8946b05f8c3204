"""Units under the search API: folding, terms, the query parser and its renderings,
heading paths. No server: these pin the properties both engines rely on."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from draftroom.search.query import BadQuery, Clause, parse, terms_pattern, to_fts5, to_tsquery
from draftroom.search.snippet import matcher, snippet
from draftroom.search.text import entry_from_lines, fold, index_terms, tokens

SAFE_TERM = re.compile(r"[^\W_]+")


@given(st.text())
def test_fold_keeps_offsets(text: str) -> None:
    assert len(fold(text)) == len(text)


@given(st.text())
def test_index_terms_are_the_query_tokens(text: str) -> None:
    # the indexer's fast path and the parser's tokens must split text identically
    assert index_terms(text) == " ".join(t.term for t in tokens(fold(text)))


@given(st.text(max_size=200))
def test_rendered_queries_hold_only_quoted_letters_and_digits(text: str) -> None:
    try:
        query = parse(text)
    except BadQuery:
        return
    for clause in query.clauses:
        for term in clause.terms:
            assert SAFE_TERM.fullmatch(term.term), term
    fts = to_fts5(query.positive, query.negative)
    ts = to_tsquery(query.positive, query.negative)
    # outside the quoted terms, only the operators the renderers write
    assert set(re.sub(r'"[^\W_]+( [^\W_]+)*"', "", fts)) <= set("()* ANDOT")
    assert set(re.sub(r"'[^\W_]+'", "", ts)) <= set("()&!<->:* ")


def test_parse_examples() -> None:
    assert parse("drag").key() == "drag*"
    assert parse("drag ").key() == "drag"
    assert parse('"red dragon" -orc knigh*').key() == "red_dragon -orc knigh*"
    assert parse("北京").key() == "北_京"
    assert parse("well-known").key() == "well_known*"
    assert parse("a").key() == "a"  # one letter is never a prefix
    assert parse('-"dark lord" sword').key() == "-dark_lord sword*"
    assert to_tsquery(parse('"red fo').clauses) == "('red' <-> 'fo':*)"
    assert to_fts5(parse("knight -orc").positive, parse("knight -orc").negative) == (
        '("knight") NOT ("orc")'
    )
    for bad in ("", "   ", "-x", "?!", "x" * 1001):
        with pytest.raises(BadQuery):
            parse(bad)


def test_sections_carry_their_heading_path_and_snippets_come_from_one() -> None:
    entry = entry_from_lines(
        "T",
        [("Part II", 1), ("Chapter 7", 2), ("The Orc marched.", 0), ("## Chapter 8", 0), ("x", 0)],
    )
    assert [s.path for s in entry.sections] == [
        ("Part II",),
        ("Part II", "Chapter 7"),
        ("Part II", "Chapter 8"),  # Chapter 7 closed by Chapter 8
    ]
    assert [s.body for s in entry.sections] == [
        "Part II",
        "Chapter 7\nThe Orc marched.",
        "Chapter 8\nx",
    ]
    assert [s.offset for s in entry.sections] == [0, 8, 38]  # after the "## " marks
    cut = snippet(entry.sections[1].body, matcher(parse("orc ")))
    assert [p["text"] for p in cut.parts if p["match"]] == ["Orc"]
    assert cut.offset == 14


def _holds(terms: list[str], clause: Clause) -> bool:
    """The engines' rule, spelled out: the clause's terms in a row, the last one a
    prefix of the text's term if the clause is a prefix."""
    want = [t.term for t in clause.terms]
    for i in range(len(terms) - len(want) + 1):
        got = terms[i : i + len(want)]
        if got[:-1] == want[:-1] and (
            got[-1].startswith(want[-1]) if clause.prefix else got[-1] == want[-1]
        ):
            return True
    return False


WORDS = st.sampled_from(["drag", "dragon", "dragons", "red", "re", "x1f409", "北", "京"])


@given(st.lists(WORDS, max_size=12), st.lists(WORDS, min_size=1, max_size=3), st.booleans())
def test_terms_pattern_finds_a_clause_where_the_engines_would(
    text: list[str], words: list[str], prefix: bool
) -> None:
    # An unclosed quote is being typed: its last word is a prefix.
    (clause,) = parse('"' + " ".join(words) + ("" if prefix else '" ')).clauses
    found = terms_pattern(clause).search(" ".join(text)) is not None
    assert found == _holds(text, clause)


def test_terms_pattern_examples() -> None:
    def holds(query: str, text: str) -> bool:
        (clause,) = parse(query).clauses
        return terms_pattern(clause).search(index_terms(text)) is not None

    assert holds("drag", "The Dragon woke")  # typing: a prefix
    assert not holds("drag ", "The Dragon woke")  # a finished word
    assert holds('"red dragon"', "a red Dragon")
    assert not holds('"red dragon"', "red, the dragon")
    assert not holds("ragon ", "dragon")  # terms start at a term
    assert holds("résumé ", "Her RESUME")

"""Units under the search API: folding, terms, the query parser and its renderings,
heading paths. No server: these pin the properties both engines rely on."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from draftroom.search.query import BadQuery, parse, to_fts5, to_tsquery
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

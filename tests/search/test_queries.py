"""The query language on both stores, against one shared corpus: words, phrases,
exclusions, prefixes, accents, CJK, emoji, ranking, snippets, cursors, bad queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.helpers import caught_up, search_server, seed

# query -> ids that must match, exactly (order checked separately)
EXPECTED: dict[str, set[str]] = {
    "dragon": {"dragons", "phrase"},
    "drag": {"dragons", "phrase"},  # prefix while typing
    "drag ": set(),  # a finished word is a word: nobody wrote "drag"
    "knigh* dragon": {"dragons"},
    "dragon knight": {"dragons"},  # all words must match
    '"red fox"': {"phrase"},
    '"fox red"': set(),  # order matters in a phrase
    '"red dragon"': {"dragons"},
    "knight -orc": {"dragons", "plain"},
    'dragon -"red fox"': {"dragons"},
    "resume": {"resume"},  # accents folded in the text...
    "RÉSUMÉ": {"resume"},  # ...and in the query, case too
    "naive cafe": {"resume"},
    "北京": {"cjk"},
    "東京": {"cjk"},
    "京北": set(),  # characters next to each other, in this order
    "日本": {"cjk"},
    "🐉": {"emoji"},
    "🔥 fire": {"emoji"},
    "dragon's": {"dragons"},  # "dragon s": the apostrophe splits
    "north": {"dragons", "orcs"},
}


# One server per store for the whole module (its start, seeding and indexing cost more
# than all the queries): every test here only reads the corpus, so order cannot matter.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def http(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    url = request.getfixturevalue("module_postgres_url") if request.param == "postgres" else None
    async with search_server(tmp_path_factory.mktemp("search"), url) as server:
        await seed(server)
        await caught_up(server)
        async with httpx.AsyncClient(base_url=server.http) as client:
            yield client


async def _search(http: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
    r = await http.get("/api/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_query_language(http: httpx.AsyncClient) -> None:
    for q, ids in EXPECTED.items():
        found = {hit["id"] for hit in (await _search(http, q))["results"]}
        assert found == ids, q


async def test_title_matches_rank_first_then_id_breaks_ties(http: httpx.AsyncClient) -> None:
    hits = (await _search(http, "knight"))["results"]
    assert hits[0]["id"] == "plain"  # "Knight errant": the title matches
    assert [h["title_match"] for h in hits] == [True, False, False]
    assert {h["id"] for h in hits[1:]} == {"dragons", "orcs"}


async def test_snippet_marks_the_writers_spelling_and_heading_path(
    http: httpx.AsyncClient,
) -> None:
    (hit,) = (await _search(http, "resume"))["results"]
    assert [p["text"] for p in hit["snippet"] if p["match"]] == ["résumé"]
    assert "".join(p["text"] for p in hit["snippet"]).startswith("Draft Her résumé")
    assert hit["heading_path"] == ["Draft"]
    (hit,) = (await _search(http, "marched"))["results"]
    assert hit["heading_path"] == ["Part II", "Chapter 7"]
    assert hit["heading"] == "Part II \u203a Chapter 7"
    (hit,) = (await _search(http, "hoard"))["results"]
    assert hit["heading_path"] == ["Part I", "Chapter 2"]  # Chapter 1 closed by Chapter 2
    assert hit["title_parts"] == [{"text": "The Dragon Book", "match": False}]
    (hit,) = (await _search(http, '"red fox"'))["results"]
    assert [p["text"] for p in hit["snippet"] if p["match"]] == ["red fox"]


async def test_cursor_pages_through_every_hit_once(http: httpx.AsyncClient) -> None:
    full = [h["id"] for h in (await _search(http, "the"))["results"]]
    assert len(full) >= 4
    paged: list[str] = []
    cursor = None
    while True:
        page = await _search(http, "the", limit=2, **({"cursor": cursor} if cursor else {}))
        paged += [h["id"] for h in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == full


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "empty_query"),
        ({"q": "!!! ???"}, "empty_query"),
        ({"q": "-dragon"}, "only_exclusions"),
        ({"q": "x" * 10_000}, "query_too_long"),
        ({"q": " ".join(f"w{i}" for i in range(40))}, "too_many_terms"),
        ({"q": "dragon", "cursor": "not-a-cursor"}, "bad_cursor"),
        ({"q": "dragon", "search": "x"}, "unknown_parameter"),
        ({}, "missing_query"),
    ],
)
async def test_bad_queries_are_400_with_a_code(
    http: httpx.AsyncClient, params: dict[str, str], code: str
) -> None:
    r = await http.get("/api/search", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == code


async def test_a_cursor_of_another_query_is_refused(http: httpx.AsyncClient) -> None:
    cursor = (await _search(http, "the", limit=1))["next_cursor"]
    r = await http.get("/api/search", params={"q": "dragon", "cursor": cursor})
    assert r.status_code == 400 and r.json()["error"] == "bad_cursor"


HOSTILE = [
    "'; DROP TABLE documents; --",
    'dragon" OR 1=1 --',
    "NEAR(dragon knight)",
    "title_terms:dragon",
    "dragon AND NOT knight OR *",
    "^dragon",
    "dragon:* & !knight | <->",
    '"unbalanced quote dragon',
    "\\' \\\" %_",
    "\x00dragon",
    "{title_terms} : drag",
    "(((((",
]


async def test_hostile_queries_are_words_never_syntax(http: httpx.AsyncClient) -> None:
    for q in HOSTILE:
        r = await http.get("/api/search", params={"q": q})
        assert r.status_code in (200, 400), (q, r.text)
    # FTS operators are just words: nobody wrote "near", so NEAR(...) finds nothing
    assert (await _search(http, "NEAR(dragon knight)"))["results"] == []
    assert {h["id"] for h in (await _search(http, '"unbalanced quote'))["results"]} == set()
    assert {h["id"] for h in (await _search(http, '"red fo'))["results"]} == {"phrase"}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(q=st.text(max_size=60))
async def test_any_query_string_is_200_or_400(http: httpx.AsyncClient, q: str) -> None:
    r = await http.get("/api/search", params={"q": q})
    assert r.status_code in (200, 400), (q, r.text)


async def test_document_list_filters_titles_and_refuses_unknown_params(
    http: httpx.AsyncClient,
) -> None:
    r = await http.get("/api/documents", params={"q": "cafe"})
    assert [d["id"] for d in r.json()["documents"]] == ["resume"]
    r = await http.get("/api/documents", params={"q": "north"})  # title only: not "dragons"
    assert [d["id"] for d in r.json()["documents"]] == ["orcs"]
    r = await http.get("/api/documents", params={"title": "x", "sorted": "id"})
    assert r.status_code == 400
    assert r.json()["error"] == "unknown_parameter"
    assert "sorted, title" in r.json()["message"]
    r = await http.get("/api/documents", params={"limit": 3})
    assert r.status_code == 200 and len(r.json()["documents"]) == 3

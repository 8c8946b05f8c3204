"""How long the indexer rests between passes is an operator's choice (freshness against
CPU): ``--search-rest-factor`` reaches the indexer, and a nonsensical one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.inprocess import make_settings, running_server
from draftroom.config import settings_from
from draftroom.search.service import MIN_PERIOD, Search


def test_the_rest_is_a_multiple_of_the_last_pass_and_never_below_the_debounce() -> None:
    search = Search.__new__(Search)  # the rule alone; no store needed
    search.rest_factor = 1.0
    # Right after a 2 s pass: rest 2 s (1x), whatever the floor.
    assert search.rest(2.0, 2.0, 0.25) == 2.0
    search.rest_factor = 4.0
    assert search.rest(2.0, 2.0, 0.25) == 8.0
    # Woken long after the last pass: only the debounce.
    assert search.rest(2.0, 60.0, 0.25) == 0.25


def test_busy_documents_are_reindexed_at_most_once_a_period_however_cheap_the_pass() -> None:
    search = Search.__new__(Search)
    search.rest_factor = 1.0
    # A 0.1 s pass just ended: the next starts MIN_PERIOD after it began, not 0.1 s on.
    assert search.rest(0.1, 0.1, 0.25) == MIN_PERIOD - 0.1
    assert search.rest(0.1, 0.1, 0.0) == MIN_PERIOD - 0.1
    # The floor counts from the pass's start: half of it gone, half left.
    assert search.rest(0.1, MIN_PERIOD / 2, 0.0) == MIN_PERIOD / 2


async def test_the_setting_reaches_the_indexer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, search_rest_factor=4.0)  # not the default
    async with running_server(settings) as server:
        assert server.hub.feature(Search).rest_factor == 4.0


@pytest.mark.parametrize("raw", ["-1", "nan"])
def test_a_negative_or_nan_rest_factor_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="search-rest-factor"):
        settings_from({}, {"DRAFTROOM_SEARCH_REST_FACTOR": raw})
    assert settings_from({}, {"DRAFTROOM_SEARCH_REST_FACTOR": "1"}).search_rest_factor == 1.0

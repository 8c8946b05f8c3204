"""Property tests give the same verdict on every run unless a long random run is asked for."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


def test_property_tests_are_derandomized_by_default() -> None:
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci":
        pytest.skip("a different Hypothesis profile was chosen on purpose")
    assert settings.default.derandomize
    assert settings.default.database is None  # no examples replayed from earlier runs
    assert settings.default.deadline is None  # a busy CI machine is not a failure


def test_the_long_profile_is_random_and_bigger() -> None:
    long = settings.get_profile("long")
    assert not long.derandomize
    assert long.max_examples > settings.get_profile("ci").max_examples


def test_examples_do_not_depend_on_the_modules_other_tests_loaded() -> None:
    from hypothesis.internal.conjecture import providers

    import draftroom.export.docx  # noqa: F401  (a module full of string constants)

    assert len(providers._get_local_constants()) == 0

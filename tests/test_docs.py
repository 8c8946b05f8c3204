"""Docs that must stay true as the code changes."""

from __future__ import annotations

from pathlib import Path

from draftroom.config import settings_table

ROOT = Path(__file__).resolve().parent.parent


def test_readme_settings_table_matches_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "run scripts/update-readme-settings"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/test" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()

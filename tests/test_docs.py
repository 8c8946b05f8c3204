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


def test_security_doc_lists_every_role_scope_and_body_route() -> None:
    from draftroom.auth.api_tokens import SCOPES
    from draftroom.auth.permissions import ROLES

    doc = (ROOT / "docs" / "SECURITY.md").read_text()
    bodies = doc[doc.index("## Request bodies") : doc.index("## Threat model")]
    for route in (
        "POST /api/sessions",
        "POST /api/users",
        "POST /api/tokens",
        "PUT /api/documents/{id}/members/{username}",
    ):
        assert f"`{route}`" in bodies, route
    for name in (*ROLES, *SCOPES):
        assert f'"{name}"' in bodies or f"`{name}`" in bodies, name

"""Every option is a flag and an environment variable; flags win."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from draftroom.cli import build_parser
from draftroom.config import Settings, settings_from


def test_environment_fills_every_kind_of_setting() -> None:
    env = {
        "DRAFTROOM_PORT": "9001",
        "DRAFTROOM_DATA_DIR": "/tmp/x",
        "DRAFTROOM_COMMIT_DELAY_MS": "0.5",
        "DRAFTROOM_WS_PER_MESSAGE_DEFLATE": "true",
        "DRAFTROOM_DATABASE_URL": "postgresql://u@h/db",
    }
    settings = settings_from({}, env)
    assert settings.port == 9001
    assert settings.data_dir == Path("/tmp/x")
    assert settings.commit_delay == 0.0005
    assert settings.ws_per_message_deflate is True
    assert settings.database_url == "postgresql://u@h/db"


def test_flags_win_over_environment() -> None:
    args = build_parser().parse_args(["serve", "--port", "7000", "--no-ws-per-message-deflate"])
    settings = settings_from(
        vars(args), {"DRAFTROOM_PORT": "9001", "DRAFTROOM_WS_PER_MESSAGE_DEFLATE": "1"}
    )
    assert settings.port == 7000 and settings.ws_per_message_deflate is False
    assert settings_from({}, {}) == Settings()


def test_bad_environment_value_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="DRAFTROOM_PORT"):
        settings_from({}, {"DRAFTROOM_PORT": "eighty"})


def test_cli_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "draftroom", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "serve" in out
    bad = subprocess.run(
        [sys.executable, "-m", "draftroom", "serve"],
        capture_output=True,
        text=True,
        env={"DRAFTROOM_PORT": "eighty", "PATH": "/usr/bin:/bin"},
    )
    assert bad.returncode == 2 and "DRAFTROOM_PORT" in bad.stderr

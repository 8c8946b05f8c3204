"""Settings: one dataclass, filled from command-line options or DRAFTROOM_* variables.

Every field is also an environment variable: ``max_message_bytes`` is
``DRAFTROOM_MAX_MESSAGE_BYTES``. Command-line options win over the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    data_dir: Path = field(
        default=Path("./data"), metadata={"help": "where the embedded SQLite store keeps its file"}
    )
    database_url: str | None = field(
        default=None, metadata={"help": "postgresql://… to use PostgreSQL instead of SQLite"}
    )
    redis_url: str | None = field(
        default=None,
        metadata={"help": "redis://… to fan out across nodes; without it, one node serves alone"},
    )
    catchup_seconds: float = field(
        default=2.0,
        metadata={"help": "how often a node checks the store for updates the bus missed"},
    )
    presence_timeout_seconds: float = field(
        default=30.0,
        metadata={"help": "presence relayed from other nodes expires if not renewed in time"},
    )
    max_message_bytes: int = field(
        default=4 * 1024 * 1024,
        metadata={"help": "largest WebSocket frame accepted; larger closes with 1009"},
    )
    max_document_bytes: int = field(
        default=64 * 1024 * 1024,
        metadata={"help": "largest stored size of one document; past it edits close with 4413"},
    )
    send_queue_bytes: int = field(
        default=8 * 1024 * 1024,
        metadata={"help": "per-connection outgoing buffer; a slower client is disconnected"},
    )
    commit_delay_ms: float = field(
        default=2.0, metadata={"help": "how long an idle group commit waits for company"}
    )
    commit_max_batch: int = field(default=1000, metadata={"help": "most updates per commit"})
    compact_after: int = field(
        default=500, metadata={"help": "log entries past the snapshot that trigger compaction"}
    )
    room_grace_seconds: float = field(
        default=30.0, metadata={"help": "how long an empty room stays in memory"}
    )
    drain_seconds: float = field(
        default=10.0, metadata={"help": "on SIGTERM, longest wait for pending saves"}
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    log_format: str = field(default="json", metadata={"help": "json or text"})
    ws_per_message_deflate: bool = field(
        default=False,
        metadata={"help": "compress WebSocket frames (costs ~2.5x memory per connection)"},
    )

    @property
    def commit_delay(self) -> float:
        return self.commit_delay_ms / 1000


def env_name(name: str) -> str:
    return f"DRAFTROOM_{name.upper()}"


def parse_value(kind: Any, raw: str) -> Any:
    text = str(kind)
    if "bool" in text:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"not a boolean: {raw!r}")
    if "int" in text:
        return int(raw)
    if "float" in text:
        return float(raw)
    if "Path" in text:
        return Path(raw)
    return raw


def settings_from(options: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """Settings from parsed options (None means "not given") over the environment."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        given = options.get(f.name)
        if given is not None:
            values[f.name] = given
        elif env_name(f.name) in environ:
            try:
                values[f.name] = parse_value(f.type, environ[env_name(f.name)])
            except ValueError as exc:
                raise ValueError(f"{env_name(f.name)}: {exc}") from None
    return Settings(**values)

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
    database_pooler: str = field(
        default="none",
        metadata={
            "help": "pgbouncer: --database-url points at pgbouncer in transaction mode "
            "(no prepared statements or session state); also ?pgbouncer=true in the URL",
            "choices": ("none", "pgbouncer"),
        },
    )
    database_pool_min: int = field(
        default=2, metadata={"help": "PostgreSQL connections each node keeps open"}
    )
    database_pool_max: int = field(
        default=10,
        metadata={"help": "most PostgreSQL connections per node (see docs/OPERATIONS.md)"},
    )
    database_search_pool_max: int = field(
        default=4,
        metadata={
            "help": "PostgreSQL connections per node for searches, apart from the pool"
            " above, so saves never wait behind searches"
        },
    )
    redis_url: str | None = field(
        default=None,
        metadata={"help": "redis://… to fan out across nodes; without it, one node serves alone"},
    )
    redis_cooldown_seconds: float = field(
        default=1.0,
        metadata={
            "help": "after a Redis call fails, sessions, rate limits and the agent cache "
            "use their fallbacks this long"
        },
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
    max_request_bytes: int = field(
        default=1024 * 1024,
        metadata={"help": "largest HTTP request body on any route (routes may allow less); 413"},
    )
    header_timeout_seconds: float = field(
        default=10.0,
        metadata={"help": "an HTTP request's headers must arrive within this; else closed"},
    )
    body_timeout_seconds: float = field(
        default=30.0,
        metadata={"help": "an HTTP request's body must arrive within this of its headers"},
    )
    send_queue_bytes: int = field(
        default=8 * 1024 * 1024,
        metadata={"help": "per-connection outgoing buffer; a slower client is disconnected"},
    )
    ws_send: str = field(
        default="stepped",
        metadata={
            "help": "stepped: a frame to an idle socket is written at once; queued: every "
            "frame goes through the socket's writer task (for paired benchmarks)",
            "choices": ("stepped", "queued"),
        },
    )
    commit_delay_ms: float = field(
        default=5.0, metadata={"help": "how long an idle group commit waits for company"}
    )
    commit_max_batch: int = field(default=1000, metadata={"help": "most updates per commit"})
    commit_queue_max: int = field(
        default=10_000,
        metadata={
            "help": "updates waiting to be saved before writers pause (clients are told "
            "saving_slow; nothing is dropped)"
        },
    )
    commit_stall_seconds: float = field(
        default=5.0,
        metadata={
            "help": "/readyz answers 503 once the oldest unsaved update has waited this long"
        },
    )
    compact_after: int = field(
        default=500, metadata={"help": "log entries past the snapshot that trigger compaction"}
    )
    room_grace_seconds: float = field(
        default=30.0, metadata={"help": "how long an empty room stays in memory"}
    )
    drain_seconds: float = field(
        default=10.0, metadata={"help": "on SIGTERM, longest wait for pending saves"}
    )
    # -- Admission control: what one node takes on before it refuses newcomers --------
    max_connections: int = field(
        default=5000,
        metadata={
            "help": "open WebSockets per node; past it new sockets close with 1013 and HTTP "
            "answers 503 with Retry-After (0: no limit)"
        },
    )
    max_loop_lag_ms: float = field(
        default=0.0,
        metadata={
            "help": "event-loop lag that makes the node refuse newcomers (1013/503); from half "
            "of it agents, export and analytics are refused first (0: off)"
        },
    )
    rebalance_seconds: float = field(
        default=5.0,
        metadata={
            "help": "with Redis: how often a node compares its connections with the cluster's "
            "mean and, well above it, moves some clients elsewhere (close 1012; 0: off)"
        },
    )
    log_level: str = field(
        default="info",
        metadata={
            "help": "debug, info, warning or error",
            "choices": ("debug", "info", "warning", "error"),
        },
    )
    log_format: str = field(
        default="json", metadata={"help": "json or text", "choices": ("json", "text")}
    )
    asset_url: str | None = field(
        default=None,
        metadata={
            "help": "https://cdn.example origin the web app loads its /assets/ from "
            "(with Subresource Integrity); unset: from this server"
        },
    )
    ws_per_message_deflate: bool = field(
        default=False,
        metadata={"help": "compress WebSocket frames (costs ~2.5x memory per connection)"},
    )
    # -- Auth: accounts, sessions, permissions, abuse limits ---------------------------
    allow_anonymous: bool = field(
        default=False,
        metadata={
            "help": "local development only: unauthenticated clients act as an owner-level "
            "local user; refused unless --host is loopback"
        },
    )
    allowed_origins: str = field(
        default="",
        metadata={
            "help": "comma-separated Origins (https://app.example) allowed to open WebSockets "
            "and send cookie-authenticated writes; the server's own origin always is"
        },
    )
    allowed_hosts: str = field(
        default="",
        metadata={
            "help": "with --allow-anonymous, host names besides loopback ones that requests "
            "may address (Host header); others get 403"
        },
    )
    session_ttl_seconds: float = field(
        default=14 * 24 * 3600.0,
        metadata={"help": "a login session expires after this long unused (sliding)"},
    )
    session_cookie_secure: bool = field(
        default=False, metadata={"help": "mark session cookies Secure (serve over HTTPS)"}
    )
    auth_recheck_seconds: float = field(
        default=5.0,
        metadata={"help": "how often live sockets re-check their credentials and role"},
    )
    auth_timeout_seconds: float = field(
        default=5.0,
        metadata={"help": "how long a socket without credentials may take to send auth"},
    )
    login_rate_per_minute: int = field(
        default=10,
        metadata={"help": "failed logins per client address and username per minute"},
    )
    login_ip_rate_per_minute: int = field(
        default=60, metadata={"help": "login attempts per client address per minute"}
    )
    forwarded_allow_ips: str = field(
        default="",
        metadata={
            "help": "comma-separated proxy addresses or networks whose X-Forwarded-For "
            "names the real client (rate limits use it); empty: trust no proxy"
        },
    )
    api_rate_per_minute: int = field(
        default=1200, metadata={"help": "HTTP API calls per user and per client IP per minute"}
    )
    ws_messages_per_second: float = field(
        default=200.0,
        metadata={"help": "WebSocket frames per second per user per node (burst 5x)"},
    )
    ws_bytes_per_second: int = field(
        default=4 * 1024 * 1024,
        metadata={"help": "WebSocket bytes per second per user per node"},
    )
    max_connections_per_user: int = field(
        default=32, metadata={"help": "open WebSockets per user per node"}
    )
    # -- Writing agents: LLM endpoint, reply cache, cost accounting --------------------
    llm_base_url: str | None = field(
        default=None,
        metadata={"help": "OpenAI-compatible API base (…/v1); without it LLM agents are off"},
    )
    llm_api_key: str | None = field(default=None, metadata={"help": "bearer key for the LLM API"})
    llm_model: str = field(default="gpt-4o-mini", metadata={"help": "chat model LLM agents use"})
    llm_timeout_seconds: float = field(
        default=30.0, metadata={"help": "longest wait for the LLM API to connect or send a byte"}
    )
    llm_max_tokens: int = field(default=512, metadata={"help": "most tokens an LLM reply has"})
    llm_retries: int = field(
        default=2, metadata={"help": "retries of an LLM call that failed before its first byte"}
    )
    agent_prices: str = field(
        default="",
        metadata={"help": 'JSON or a JSON file: {"model": {"input": $/1M tok, "output": $/1M}}'},
    )
    agent_daily_budget_usd: float = field(
        default=0.0, metadata={"help": "default per-user daily LLM spend cap in USD (0: none)"}
    )
    agent_tokenizer_file: str | None = field(
        default=None,
        metadata={"help": "local cl100k_base.tiktoken for counting tokens (else chars/4)"},
    )
    agent_cache_ttl_seconds: float = field(
        default=86400.0, metadata={"help": "how long a cached agent reply lives by default"}
    )
    agent_cache_max_entry_bytes: int = field(
        default=256 * 1024, metadata={"help": "agent replies larger than this are not cached"}
    )
    agent_cache_memory_entries: int = field(
        default=2000, metadata={"help": "entries in the in-memory cache used without Redis"}
    )
    agent_cache_redis_timeout_ms: float = field(
        default=250.0, metadata={"help": "a slower Redis cache call counts as a failure"}
    )
    agent_warm_window_seconds: float = field(
        default=600.0,
        metadata={
            "help": "recompute offline replies asked this recently after their document "
            "changes (0: off)"
        },
    )
    agent_warm_interval_seconds: float = field(
        default=1.0, metadata={"help": "at most one such recomputation per document this often"}
    )
    agent_workers: int = field(
        default=1,
        metadata={"help": "processes running CPU-heavy agents (style, readability); 0: a thread"},
    )
    # -- Export: worker processes, concurrency, job results ----------------------------
    export_workers: int = field(
        default=2, metadata={"help": "worker processes that render exports (off the event loop)"}
    )
    export_max_jobs: int = field(
        default=4, metadata={"help": "exports rendering at once; more wait their turn"}
    )
    export_max_documents: int = field(
        default=1000, metadata={"help": "most documents in one batch export"}
    )
    export_ttl_seconds: float = field(
        default=3600.0, metadata={"help": "how long a finished export job's file is kept"}
    )
    # -- Import: DOCX, Markdown, HTML, text into a document --------------------------
    import_max_bytes: int = field(
        default=32 * 1024 * 1024,
        metadata={"help": "largest file accepted for import (its own body limit); else 413"},
    )
    import_max_unpacked_bytes: int = field(
        default=128 * 1024 * 1024,
        metadata={"help": "a .docx unpacking past this is refused (zip bomb); 413"},
    )
    # -- Telemetry and analytics: OTLP, /metrics, usage events -------------------------
    telemetry: bool = field(
        default=False,
        metadata={"help": "traces, metrics, logs over OTLP (also on if OTEL_EXPORTER_OTLP_*)"},
    )
    metrics_endpoint: bool = field(
        default=True, metadata={"help": "serve Prometheus metrics on GET /metrics"}
    )
    trace_edit_ratio: float = field(
        default=0.01, metadata={"help": "share of edits traced end to end (when tracing)"}
    )
    trace_background_ratio: float = field(
        default=0.01, metadata={"help": "share of parentless DB/Redis calls traced"}
    )
    analytics: bool = field(default=True, metadata={"help": "record usage analytics events"})
    analytics_retention_days: float = field(
        default=90.0, metadata={"help": "analytics events older than this are purged"}
    )
    analytics_flush_seconds: float = field(
        default=2.0, metadata={"help": "how often buffered analytics events are written"}
    )
    analytics_admin_token: str | None = field(
        default=None, metadata={"help": "bearer token for /api/admin/analytics (else closed)"}
    )
    # -- Search: full-text index kept off the edit path -----------------------------
    search_indexing: bool = field(
        default=True, metadata={"help": "keep the search index current on this node"}
    )
    search_debounce_seconds: float = field(
        default=0.25, metadata={"help": "wait this long after an edit so a burst is indexed once"}
    )
    search_sweep_seconds: float = field(
        default=1.0, metadata={"help": "how often to look for documents the index is behind on"}
    )
    search_workers: int = field(
        default=0, metadata={"help": "processes that flatten documents for the index; 0: a thread"}
    )
    search_lease_seconds: float = field(
        default=30.0, metadata={"help": "a dead node's claim on a document expires after this"}
    )
    search_timeout_seconds: float = field(
        default=5.0,
        metadata={
            "help": "PostgreSQL: a search statement (or its wait for a search connection)"
            " running longer is cancelled and the search answered 503"
        },
    )
    search_rest_factor: float = field(
        default=1.0,
        metadata={
            "help": "after an indexing pass, rest this many times as long as it took"
            " (4: less CPU for staler results)"
        },
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
        choices = f.metadata.get("choices")
        if choices and f.name in values and values[f.name] not in choices:
            raise ValueError(
                f"{f.name.replace('_', '-')}: {values[f.name]!r} is not one of {', '.join(choices)}"
            )
    settings = Settings(**values)
    if not 0 <= settings.database_pool_min <= settings.database_pool_max >= 1:
        raise ValueError(
            "database-pool-min and database-pool-max need 0 <= min <= max and max >= 1; got "
            f"{settings.database_pool_min} and {settings.database_pool_max}"
        )
    if settings.database_search_pool_max < 1:
        raise ValueError(
            f"database-search-pool-max must be 1 or more; got {settings.database_search_pool_max}"
        )
    if not settings.search_timeout_seconds > 0:  # also refuses nan
        raise ValueError(
            f"search-timeout-seconds must be above 0; got {settings.search_timeout_seconds}"
        )
    if not settings.search_rest_factor >= 0:  # also refuses nan
        raise ValueError(f"search-rest-factor must be 0 or more; got {settings.search_rest_factor}")
    return settings


def settings_table() -> str:
    """The configuration table in README.md (kept in sync by tests/test_docs.py)."""
    rows = ["| option | environment | default | meaning |", "|---|---|---|---|"]
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        default = "" if f.default is None else str(f.default)
        rows.append(f"| `{flag}` | `{env_name(f.name)}` | `{default}` | {f.metadata['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())

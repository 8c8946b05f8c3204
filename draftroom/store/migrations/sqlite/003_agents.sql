-- Writing agents. Times are epoch seconds.

-- Reply cache fallback, used while Redis is unreachable. key: sha256 of the reply's
-- inputs (document, agent, version, model, params, text).
CREATE TABLE agent_cache (
    key         TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    value       BLOB NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX agent_cache_expires ON agent_cache (expires_at);
CREATE INDEX agent_cache_doc ON agent_cache (doc_id);

-- One row per LLM call: who asked, about what, with which agent and model, and cost.
CREATE TABLE agent_usage (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    at                 REAL NOT NULL,
    request_id         TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    doc_id             TEXT NOT NULL,
    agent              TEXT NOT NULL,
    model              TEXT NOT NULL,
    prompt_tokens      INTEGER NOT NULL,
    completion_tokens  INTEGER NOT NULL,
    cost_usd           REAL NOT NULL,
    estimated          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agent_usage_user_at ON agent_usage (user_id, at);
CREATE INDEX agent_usage_at ON agent_usage (at);

-- Per-user daily spend caps overriding --agent-daily-budget-usd (0 = no LLM use).
CREATE TABLE agent_budgets (
    user_id    TEXT PRIMARY KEY,
    daily_usd  REAL NOT NULL
);

-- Edits agents applied to documents: which client id wrote them, for whom.
CREATE TABLE agent_edits (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    doc_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    client_id   INTEGER NOT NULL,
    agent       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    request_id  TEXT NOT NULL
);
CREATE INDEX agent_edits_doc ON agent_edits (doc_id, seq);

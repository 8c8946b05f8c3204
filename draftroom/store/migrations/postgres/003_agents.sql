-- Writing agents. Times are epoch seconds.

-- Reply cache fallback, used while Redis is unreachable. key: sha256 of the reply's
-- inputs (document, agent, version, model, params, text).
CREATE TABLE agent_cache (
    key         text PRIMARY KEY,
    agent       text NOT NULL,
    doc_id      text NOT NULL,
    value       bytea NOT NULL,
    expires_at  double precision NOT NULL
);
CREATE INDEX agent_cache_expires ON agent_cache (expires_at);
CREATE INDEX agent_cache_doc ON agent_cache (doc_id);

-- One row per LLM call: who asked, about what, with which agent and model, and cost.
CREATE TABLE agent_usage (
    id                 bigserial PRIMARY KEY,
    at                 double precision NOT NULL,
    request_id         text NOT NULL,
    user_id            text NOT NULL,
    doc_id             text NOT NULL,
    agent              text NOT NULL,
    model              text NOT NULL,
    prompt_tokens      integer NOT NULL,
    completion_tokens  integer NOT NULL,
    cost_usd           double precision NOT NULL,
    estimated          integer NOT NULL DEFAULT 0
);
CREATE INDEX agent_usage_user_at ON agent_usage (user_id, at);
CREATE INDEX agent_usage_at ON agent_usage (at);

-- Per-user daily spend caps overriding --agent-daily-budget-usd (0 = no LLM use).
CREATE TABLE agent_budgets (
    user_id    text PRIMARY KEY,
    daily_usd  double precision NOT NULL
);

-- Edits agents applied to documents: which client id wrote them, for whom.
CREATE TABLE agent_edits (
    id          bigserial PRIMARY KEY,
    at          double precision NOT NULL,
    doc_id      text NOT NULL,
    seq         bigint NOT NULL,
    client_id   bigint NOT NULL,
    agent       text NOT NULL,
    user_id     text NOT NULL,
    request_id  text NOT NULL
);
CREATE INDEX agent_edits_doc ON agent_edits (doc_id, seq);

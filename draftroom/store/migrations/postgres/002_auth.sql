-- Auth: accounts, the durable copy of sessions, API tokens, document roles.
-- Times are epoch seconds. Secrets are stored only as SHA-256 hashes.
CREATE TABLE users (
    id             text PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    is_admin       integer NOT NULL DEFAULT 0,
    created_at     double precision NOT NULL
);

-- Redis holds the hot copy with a sliding TTL; this is the write-through copy lookups
-- fall back to when Redis is down or flushed.
CREATE TABLE sessions (
    token_hash  text PRIMARY KEY,
    user_id     text NOT NULL,
    created_at  double precision NOT NULL,
    expires_at  double precision NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id            text PRIMARY KEY,
    token_hash    text NOT NULL UNIQUE,
    user_id       text NOT NULL,
    name          text NOT NULL,
    scopes        text NOT NULL,
    created_at    double precision NOT NULL,
    last_used_at  double precision
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE document_members (
    doc_id      text NOT NULL,
    user_id     text NOT NULL,
    role        text NOT NULL,
    granted_at  double precision NOT NULL,
    PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX document_members_user ON document_members (user_id);

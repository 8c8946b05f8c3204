-- Auth: accounts, the durable copy of sessions, API tokens, document roles.
-- Times are epoch seconds. Secrets are stored only as SHA-256 hashes.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL
);

-- Redis holds the hot copy with a sliding TTL; this is the write-through copy lookups
-- fall back to when Redis is down or flushed.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    REAL NOT NULL,
    last_used_at  REAL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE document_members (
    doc_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    granted_at  REAL NOT NULL,
    PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX document_members_user ON document_members (user_id);

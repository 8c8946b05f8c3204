-- Documents: metadata plus the last sequence number handed out (the version).
CREATE TABLE documents (
    id          text PRIMARY KEY,
    title       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    seq         bigint NOT NULL DEFAULT 0,
    size_bytes  bigint NOT NULL DEFAULT 0
);

-- The append-only log. Rows at or below the snapshot's seq are removed by compaction.
CREATE TABLE updates (
    doc_id  text NOT NULL,
    seq     bigint NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (doc_id, seq)
);

CREATE TABLE snapshots (
    doc_id      text PRIMARY KEY,
    seq         bigint NOT NULL,
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

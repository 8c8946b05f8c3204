-- Usage analytics. Events only: kinds, opaque user ids, document ids
-- and counts; never document text. Purged after the retention period.
CREATE TABLE analytics_events (
    id bigserial PRIMARY KEY,
    ts double precision NOT NULL,   -- epoch seconds
    day integer NOT NULL,           -- floor(ts / 86400), for daily aggregates
    kind text NOT NULL,             -- session.started, session.ended, document.opened, ...
    user_id text NOT NULL,
    doc_id text NOT NULL DEFAULT '',
    label text NOT NULL DEFAULT '', -- agent name, export format
    value double precision NOT NULL DEFAULT 0 -- words added, seconds, ...
);
CREATE INDEX analytics_events_ts ON analytics_events (ts);
CREATE INDEX analytics_events_user ON analytics_events (user_id);
CREATE INDEX analytics_events_day_kind ON analytics_events (day, kind);

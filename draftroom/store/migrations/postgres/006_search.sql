-- Full-text search (issue 15). One row per indexed document: the text shown in
-- snippets (body, headings as JSON [[offset, level, text], ...]), the tsvectors of
-- its folded terms, the version indexed, and the claim of the node indexing it.
-- Access is not stored here: queries join documents and document_members.
CREATE TABLE search_documents (
    doc_id           text PRIMARY KEY,
    indexed_version  bigint NOT NULL DEFAULT -1,
    title            text NOT NULL DEFAULT '',
    body             text NOT NULL DEFAULT '',
    headings         text NOT NULL DEFAULT '[]',
    terms            tsvector NOT NULL DEFAULT ''::tsvector,   -- title (A) and text (D)
    title_terms      tsvector NOT NULL DEFAULT ''::tsvector,
    claimed_by       text NOT NULL DEFAULT '',
    claimed_until    double precision NOT NULL DEFAULT 0,      -- epoch seconds
    indexed_at       double precision NOT NULL DEFAULT 0
);
-- A small pending list: every query scans it, and indexing writes all the time, so
-- the default 4 MB would put tens of milliseconds on each search between vacuums.
CREATE INDEX search_documents_terms ON search_documents USING gin (terms)
    WITH (gin_pending_list_limit = 256);
CREATE INDEX search_documents_title_terms ON search_documents USING gin (title_terms)
    WITH (gin_pending_list_limit = 256);

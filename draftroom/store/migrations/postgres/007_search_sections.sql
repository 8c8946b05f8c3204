-- Search indexes sections, not whole documents: a row per heading section (or a
-- 2-4 KB chunk of a long one) with its heading path, its text and its tsvector
-- (the document's title weighted A, the section's text D). An edit rewrites only
-- the sections it changed; ranking and ts_headline-free snippets read one section.
-- search_documents keeps the per-document state: indexed version, title (for
-- title-first ranking), the claim, and the layout (each section's key and offset).
ALTER TABLE search_documents DROP COLUMN body, DROP COLUMN headings, DROP COLUMN terms,
    ADD COLUMN sections text NOT NULL DEFAULT '[]';
-- Everything is rebuilt by the catch-up sweep after the upgrade.
UPDATE search_documents SET indexed_version = -1;

CREATE TABLE search_sections (
    doc_id  text NOT NULL,
    key     text NOT NULL,          -- hash of title, heading path and text
    path    text NOT NULL,          -- heading path, JSON list, outermost first
    body    text NOT NULL,
    terms   tsvector NOT NULL,
    PRIMARY KEY (doc_id, key)
);
CREATE INDEX search_sections_terms ON search_sections USING gin (terms)
    WITH (gin_pending_list_limit = 256);

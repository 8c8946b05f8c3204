-- Search indexes sections, not whole documents: a row per heading section (or a
-- 2-4 KB chunk of a long one) with its heading path, its text and its folded terms,
-- the document's title terms beside them so a title word matches every section.
-- An edit rewrites only the sections it changed. search_documents keeps the
-- per-document state: indexed version, title (search_titles ranks title matches
-- first), and the layout (each section's key and offset).
DROP TRIGGER search_documents_ai;
DROP TRIGGER search_documents_ad;
DROP TRIGGER search_documents_au;
DROP TABLE search_fts;
ALTER TABLE search_documents DROP COLUMN body;
ALTER TABLE search_documents DROP COLUMN headings;
ALTER TABLE search_documents DROP COLUMN body_terms;
ALTER TABLE search_documents ADD COLUMN sections TEXT NOT NULL DEFAULT '[]';
-- Everything is rebuilt by the catch-up sweep after the upgrade.
UPDATE search_documents SET indexed_version = -1;

CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_titles (rowid, title_terms) VALUES (new.rid, new.title_terms);
END;
CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_titles (search_titles, rowid, title_terms)
        VALUES ('delete', old.rid, old.title_terms);
END;
-- Every index write sets title_terms; only a changed title touches search_titles.
CREATE TRIGGER search_documents_au AFTER UPDATE OF title_terms ON search_documents
WHEN old.title_terms <> new.title_terms BEGIN
    INSERT INTO search_titles (search_titles, rowid, title_terms)
        VALUES ('delete', old.rid, old.title_terms);
    INSERT INTO search_titles (rowid, title_terms) VALUES (new.rid, new.title_terms);
END;

CREATE TABLE search_sections (
    rid          INTEGER PRIMARY KEY,
    doc_id       TEXT NOT NULL,
    key          TEXT NOT NULL,     -- hash of title, heading path and text
    path         TEXT NOT NULL,     -- heading path, JSON list, outermost first
    body         TEXT NOT NULL,
    title_terms  TEXT NOT NULL,
    body_terms   TEXT NOT NULL,
    UNIQUE (doc_id, key)
);
CREATE VIRTUAL TABLE search_section_fts USING fts5(
    title_terms, body_terms, content='search_sections', content_rowid='rid',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
);
CREATE TRIGGER search_sections_ai AFTER INSERT ON search_sections BEGIN
    INSERT INTO search_section_fts (rowid, title_terms, body_terms)
        VALUES (new.rid, new.title_terms, new.body_terms);
END;
CREATE TRIGGER search_sections_ad AFTER DELETE ON search_sections BEGIN
    INSERT INTO search_section_fts (search_section_fts, rowid, title_terms, body_terms)
        VALUES ('delete', old.rid, old.title_terms, old.body_terms);
END;
CREATE TRIGGER search_sections_au AFTER UPDATE OF title_terms, body_terms ON search_sections
BEGIN
    INSERT INTO search_section_fts (search_section_fts, rowid, title_terms, body_terms)
        VALUES ('delete', old.rid, old.title_terms, old.body_terms);
    INSERT INTO search_section_fts (rowid, title_terms, body_terms)
        VALUES (new.rid, new.title_terms, new.body_terms);
END;

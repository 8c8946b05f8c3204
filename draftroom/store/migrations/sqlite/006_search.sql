-- Full-text search (issue 15). One row per indexed document: the text shown in
-- snippets (body, headings as JSON [[offset, level, text], ...]), the folded terms
-- the engine indexes, the version indexed, and the claim of the node indexing it.
-- Access is not stored here: queries join documents and document_members.
CREATE TABLE search_documents (
    rid              INTEGER PRIMARY KEY,
    doc_id           TEXT NOT NULL UNIQUE,
    indexed_version  INTEGER NOT NULL DEFAULT -1,
    title            TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    headings         TEXT NOT NULL DEFAULT '[]',
    title_terms      TEXT NOT NULL DEFAULT '',
    body_terms       TEXT NOT NULL DEFAULT '',
    claimed_by       TEXT NOT NULL DEFAULT '',
    claimed_until    REAL NOT NULL DEFAULT 0,   -- epoch seconds
    indexed_at       REAL NOT NULL DEFAULT 0
);

CREATE VIRTUAL TABLE search_fts USING fts5(
    title_terms, body_terms, content='search_documents', content_rowid='rid',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
);
CREATE VIRTUAL TABLE search_titles USING fts5(
    title_terms, content='search_documents', content_rowid='rid',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
);

CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_fts (rowid, title_terms, body_terms)
        VALUES (new.rid, new.title_terms, new.body_terms);
    INSERT INTO search_titles (rowid, title_terms) VALUES (new.rid, new.title_terms);
END;
CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, title_terms, body_terms)
        VALUES ('delete', old.rid, old.title_terms, old.body_terms);
    INSERT INTO search_titles (search_titles, rowid, title_terms)
        VALUES ('delete', old.rid, old.title_terms);
END;
CREATE TRIGGER search_documents_au AFTER UPDATE OF title_terms, body_terms ON search_documents
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title_terms, body_terms)
        VALUES ('delete', old.rid, old.title_terms, old.body_terms);
    INSERT INTO search_titles (search_titles, rowid, title_terms)
        VALUES ('delete', old.rid, old.title_terms);
    INSERT INTO search_fts (rowid, title_terms, body_terms)
        VALUES (new.rid, new.title_terms, new.body_terms);
    INSERT INTO search_titles (rowid, title_terms) VALUES (new.rid, new.title_terms);
END;

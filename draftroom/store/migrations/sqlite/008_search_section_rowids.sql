-- A search reads each matching section's document id and key by the rowid the
-- full-text index gives. search_sections rows are large (the text, its terms, the
-- title's terms: several pages each), so each such read was a random page read;
-- this index is a few dozen bytes a row, and covers those reads. Searches name it
-- (INDEXED BY): the planner would otherwise take the rowid itself.
CREATE INDEX search_sections_rowids ON search_sections (rid, doc_id, key);

-- Deleted document ids. An id stays deleted: without this row a collaborator's
-- reconnecting client would re-create the document (with the text it still holds)
-- and become its only owner. Sockets and POST refuse an id listed here.
CREATE TABLE document_tombstones (
    id          text PRIMARY KEY,
    deleted_at  double precision NOT NULL   -- epoch seconds
);

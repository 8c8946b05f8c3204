"""The search index's own SQLite file, ``search.db`` beside ``draftroom.sqlite3``.

The index is derived data, and writing it is a stream of small transactions. In
the store's file those shared the one write lock, the one writer thread and its
fsyncs with the edit path's group commits: an index group queued in front of an
edit's commit delayed its ack (save-ack p99 4x that of indexing off at 20,000
documents, docs/BENCHMARKS.md). In a file of its own, on a connection and thread of
its own, an index write never waits for an edit's commit nor an edit for it.

Because the index can always be rebuilt from the store, this file runs
``synchronous=NORMAL`` (WAL): a commit is not fsynced, so a power cut may lose the
last ones, but never half of one. Each document's entries and its indexed version
commit in one transaction, so a lost commit loses both together and the catch-up
sweep (stored version ahead of the indexed one) redoes it. Deleting the file is a
way to rebuild the whole index: it is created empty and the sweep refills it.

The connection that writes it attaches the store's file read-only as ``store`` (the
sweep joins ``documents``); the store's reader attaches this file read-only (the
searches join ``documents`` and ``document_members``). Table names are not
qualified: SQLite resolves an unqualified name in the connection's own file first,
then the attached ones, and each name lives in exactly one of the two files.

A store made before this file existed holds the index in ``draftroom.sqlite3``
(migrations 006-008). On open it is moved here, rows and full-text indexes as they
are (no re-tokenizing), then dropped from the store's file.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from draftroom.store.sql import rollback

log = logging.getLogger(__name__)

FILE_NAME = "search.db"
SCHEMA_VERSION = 1  # PRAGMA user_version of a search.db whose schema is in place

# The tables of migrations 006-008, the full-text tables included; the triggers
# that keep the full-text tables in step come after any rows moved from an older
# store (a move copies the full-text data as it is instead of re-indexing it).
TABLES = """
CREATE TABLE search_documents (
    rid              INTEGER PRIMARY KEY,
    doc_id           TEXT NOT NULL UNIQUE,
    indexed_version  INTEGER NOT NULL DEFAULT -1,
    title            TEXT NOT NULL DEFAULT '',
    title_terms      TEXT NOT NULL DEFAULT '',
    claimed_by       TEXT NOT NULL DEFAULT '',
    claimed_until    REAL NOT NULL DEFAULT 0,
    indexed_at       REAL NOT NULL DEFAULT 0,
    sections         TEXT NOT NULL DEFAULT '[]'
);
CREATE VIRTUAL TABLE search_titles USING fts5(
    title_terms, content='search_documents', content_rowid='rid',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
);
CREATE TABLE search_sections (
    rid          INTEGER PRIMARY KEY,
    doc_id       TEXT NOT NULL,
    key          TEXT NOT NULL,
    path         TEXT NOT NULL,
    body         TEXT NOT NULL,
    title_terms  TEXT NOT NULL,
    body_terms   TEXT NOT NULL,
    UNIQUE (doc_id, key)
);
CREATE VIRTUAL TABLE search_section_fts USING fts5(
    title_terms, body_terms, content='search_sections', content_rowid='rid',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
);
"""

TRIGGERS = """
CREATE INDEX search_sections_rowids ON search_sections (rid, doc_id, key);
CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_titles (rowid, title_terms) VALUES (new.rid, new.title_terms);
END;
CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_titles (search_titles, rowid, title_terms)
        VALUES ('delete', old.rid, old.title_terms);
END;
CREATE TRIGGER search_documents_au AFTER UPDATE OF title_terms ON search_documents
WHEN old.title_terms <> new.title_terms BEGIN
    INSERT INTO search_titles (search_titles, rowid, title_terms)
        VALUES ('delete', old.rid, old.title_terms);
    INSERT INTO search_titles (rowid, title_terms) VALUES (new.rid, new.title_terms);
END;
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
"""

# What an older store's file holds, copied column by column (its columns are in a
# different order: migration 007 dropped and added some).
_CONTENT = {
    "search_documents": "rid, doc_id, indexed_version, title, title_terms, claimed_by,"
    " claimed_until, indexed_at, sections",
    "search_sections": "rid, doc_id, key, path, body, title_terms, body_terms",
}
_FULL_TEXT = ("search_titles", "search_section_fts")
_SHADOWS = ("data", "idx", "docsize", "config")  # FTS5's own tables, external content


def uri(path: Path, mode: str) -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def connect(index_path: Path, store_path: Path) -> sqlite3.Connection:
    """The index's writer connection, with the store's file attached read-only as
    ``store``; creates the schema (moving an older store's index) if needed."""
    db = sqlite3.connect(
        uri(index_path, "rwc"), uri=True, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("ATTACH DATABASE ? AS store", (uri(store_path, "ro"),))
        if db.execute("PRAGMA main.user_version").fetchone()[0] < SCHEMA_VERSION:
            _create(db)
    except BaseException:
        db.close()
        raise
    return db


def _old_index(db: sqlite3.Connection) -> bool:
    row = db.execute(
        "SELECT 1 FROM store.sqlite_master WHERE type = 'table' AND name = 'search_documents'"
    ).fetchone()
    return row is not None


def _create(db: sqlite3.Connection) -> None:
    """The schema, and an older store's index moved in, in one transaction: a crash
    leaves either nothing (done again on the next open) or all of it. One script, as
    the store's migrations are: ``executescript`` commits an open transaction first."""
    copy = []
    if _old_index(db):
        for table, columns in _CONTENT.items():
            copy.append(
                f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM store.{table};"
            )
        for table in _FULL_TEXT:
            for shadow in _SHADOWS:
                name = f"{table}_{shadow}"
                copy.append(f"DELETE FROM main.{name};")
                copy.append(f"INSERT INTO main.{name} SELECT * FROM store.{name};")
    moving = "\n".join(copy)
    try:
        db.executescript(
            f"BEGIN IMMEDIATE;\n{TABLES}\n{moving}\n{TRIGGERS}\n"
            f"PRAGMA main.user_version = {SCHEMA_VERSION};\nCOMMIT;"
        )
    except BaseException:
        rollback(db)
        raise
    moved = db.execute("SELECT count(*) FROM main.search_documents").fetchone()[0] if copy else 0
    documents = db.execute("SELECT count(*) FROM store.documents").fetchone()[0]
    if moved:
        log.warning(
            "search: moved the index of %d document(s) from the store's file into %s;"
            " the store's file keeps the freed space until VACUUM",
            moved,
            FILE_NAME,
        )
    elif documents:
        log.warning(
            "search: %s is new; the indexer rebuilds the index of %d document(s) in the"
            " background (searches find them as they are indexed)",
            FILE_NAME,
            documents,
        )


def drop_old_index(db: sqlite3.Connection) -> bool:
    """Drop an older store's index from the store's file (on the store's writer
    connection), once ``search.db`` holds it. True if there was one."""
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_documents'"
    ).fetchone()
    if row is None:
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        # The full-text tables first: dropping them drops their shadow tables; the
        # triggers go with the tables they are on.
        for table in ("search_titles", "search_section_fts", "search_sections", "search_documents"):
            db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise
    if db.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None:
        # A new store (its migrations made the tables just now): give back their
        # pages, so the file is as small as one made without them. A large store's
        # file keeps them (VACUUM would rewrite it all at start-up) and reuses them.
        db.execute("VACUUM")
    return True

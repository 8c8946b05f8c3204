"""The SQL runners behind ``Store.sql`` (see ``store.base.SQL``)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import asyncpg

from draftroom.store.base import Row

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\$(\d+)")


def rollback(db: sqlite3.Connection) -> None:
    """Undo the open transaction, never hiding why it failed.

    On some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM) SQLite has already
    rolled back by itself; a second ROLLBACK would then raise "cannot rollback -
    no transaction is active" and that, not "database or disk is full", is what
    the caller would see. The error being handled is the one that matters.
    """
    if not db.in_transaction:
        return
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass


class PostgresSQL:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def execute(self, query: str, *args: Any) -> int:
        status = await self._pool().execute(query, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._pool().fetch(query, *args)]

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        row = await self._pool().fetchrow(query, *args)
        return dict(row) if row is not None else None

    async def executemany(self, query: str, rows: list[tuple[Any, ...]]) -> None:
        await self._pool().executemany(query, rows)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresSQL]:
        """The same interface on one connection inside one transaction (one commit for
        many statements)."""
        async with self._pool().acquire() as conn, conn.transaction():
            yield PostgresSQL(lambda: conn)  # type: ignore[arg-type,return-value]


class SQLiteSQL:
    def __init__(
        self,
        run: Callable[..., Awaitable[Any]],
        db: Callable[[], sqlite3.Connection],
    ) -> None:
        self._run = run
        self._db = db

    @staticmethod
    def translate(query: str) -> str:
        return _PLACEHOLDER.sub(r"?\1", query)

    def _rows(self, cursor: sqlite3.Cursor) -> list[Row]:
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    async def execute(self, query: str, *args: Any) -> int:
        def run() -> int:
            cursor = self._db().execute(self.translate(query), args)
            if cursor.description:  # RETURNING: drain so the statement completes
                cursor.fetchall()
            return cursor.rowcount

        return int(await self._run(run))

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        def run() -> list[Row]:
            return self._rows(self._db().execute(self.translate(query), args))

        result: list[Row] = await self._run(run)
        return result

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None

    async def on_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on this runner's thread as one job: on the store's
        writer, between two group commits of the edit path, never inside one; on a
        reader (``reads``), with that reader's connection."""
        db = self._db
        result: T = await self._run(lambda: fn(db()))
        return result

    async def executemany(self, query: str, rows: list[tuple[Any, ...]]) -> None:
        def run() -> None:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(self.translate(query), rows)
                db.execute("COMMIT")
            except BaseException:
                rollback(db)
                raise

        await self._run(run)


class SQLiteInTransaction:
    """``SQL`` as plain calls on a connection, on its own thread, whose transaction the
    caller manages: no statement begins or commits its own, so in the caller's
    transaction many writes share one commit (one fsync) and many reads one snapshot;
    outside one, each statement commits by itself. Its coroutines never suspend, so
    code written against ``SQL`` runs as a plain call through ``run_now``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def execute(self, query: str, *args: Any) -> int:
        cursor = self.db.execute(SQLiteSQL.translate(query), args)
        if cursor.description:
            cursor.fetchall()
        return cursor.rowcount

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        cursor = self.db.execute(SQLiteSQL.translate(query), args)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None

    async def executemany(self, query: str, rows: list[tuple[Any, ...]]) -> None:
        self.db.executemany(SQLiteSQL.translate(query), rows)


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (one over ``SQLiteInTransaction``),
    on the calling thread. One that does suspend is a bug: it is closed and raises."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a coroutine run with run_now() suspended")

"""PostgreSQL store (asyncpg, pooled). The production store; safe with many nodes.

Behind pgbouncer in transaction mode (``--database-pooler pgbouncer``, or
``?pgbouncer=true`` in the URL) each transaction may run on a different server
connection, so nothing here may rely on session state: asyncpg's statement cache is
off (its named prepared statements would be missing, or already exist, on the next
server connection), advisory locks are ``pg_advisory_xact_lock`` only, and there is
no LISTEN or session-level SET.

Searches (``reads``) have a pool of their own (``--database-search-pool-max``, 4),
so 20 searchers can never hold the connections the edit path's group commits, the
indexer and the leases need, nor wait behind them; each search statement is bounded
(``--search-timeout-seconds``: waiting for a search connection and running, and on a
direct connection PostgreSQL's own ``statement_timeout`` too), past which the search
is answered 503 ``search_timeout`` instead of holding a connection for seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from draftroom.errors import Unavailable
from draftroom.store.base import (
    CompactionResult,
    DocumentMeta,
    Row,
    StoredState,
    StoreError,
    StoreStats,
    document_order,
)
from draftroom.store.compaction import merge
from draftroom.store.group_commit import GroupCommitter
from draftroom.store.migrations import load_migrations
from draftroom.store.sql import PostgresSQL

# One statement, so one implicit transaction and one round trip (two without a
# statement cache, behind pgbouncer): it bumps each document's counter by its number
# of appends, numbers the appends from the new counter in arrival order, inserts them
# and hands back their seqs in batch order. The row locks the bump takes, in id order
# so two nodes never wait on each other in a cycle, order concurrent commits of one
# document across nodes, which is what keeps versions dense.
_COMMIT = """
WITH batch AS (
    SELECT doc_id, data, ord
      FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS b(doc_id, data, ord)
), counts AS (
    SELECT doc_id, count(*) AS n, sum(length(data)) AS bytes FROM batch GROUP BY doc_id
), bumped AS (
    INSERT INTO documents AS d (id, seq, size_bytes)
    SELECT doc_id, n, bytes FROM counts ORDER BY doc_id
    ON CONFLICT (id) DO UPDATE
       SET seq = d.seq + EXCLUDED.seq,
           size_bytes = d.size_bytes + EXCLUDED.size_bytes,
           updated_at = now()
    RETURNING id, seq
), numbered AS (
    SELECT b.doc_id, b.data, b.ord,
           bumped.seq - counts.n + row_number() OVER (PARTITION BY b.doc_id ORDER BY b.ord)
               AS seq
      FROM batch b
      JOIN counts USING (doc_id)
      JOIN bumped ON bumped.id = b.doc_id
), saved AS (
    INSERT INTO updates (doc_id, seq, data) SELECT doc_id, seq, data FROM numbered
)
SELECT seq FROM numbered ORDER BY ord
"""
_META_COLUMNS = "id, title, created_at, updated_at, size_bytes, seq"
_MIGRATION_LOCK = 0x64726674  # any constant shared by all nodes
POOLERS = ("none", "pgbouncer")


class SearchTimeout(Unavailable):
    """A search statement ran (or waited for a search connection) past its bound."""

    code = "search_timeout"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class SearchReads(PostgresSQL):
    """The search pool's statements, each bounded by ``timeout`` seconds, its wait for
    a connection included. On the timeout asyncpg cancels the statement on the
    server (a cancel request: pgbouncer relays it too) before the connection goes
    back to the pool."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], timeout: Callable[[], float]) -> None:
        super().__init__(pool)
        self._timeout = timeout

    @contextlib.asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        seconds = self._timeout()
        try:
            async with asyncio.timeout(seconds):
                yield
        except (TimeoutError, asyncpg.QueryCanceledError) as exc:
            raise SearchTimeout(
                f"the search took longer than {seconds:g} s (the server is busy, or the"
                " query matches too much: add a word)",
                retry_after=seconds,
            ) from exc

    async def execute(self, query: str, *args: Any) -> int:
        async with self._bounded():
            return await super().execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        async with self._bounded():
            return await super().fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        async with self._bounded():
            return await super().fetchrow(query, *args)


def split_pooler(url: str) -> tuple[str, str | None]:
    """The URL without a ``pgbouncer=`` query parameter, and the pooler it names.

    asyncpg would send an unknown parameter to the server as a setting, which both
    PostgreSQL and pgbouncer refuse, so it is taken out here.
    """
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    flags = [v for k, v in query if k == "pgbouncer"]
    if not flags:
        return url, None
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "pgbouncer"])
    on = flags[-1].lower() in ("1", "true", "yes", "on")
    return urllib.parse.urlunsplit(parts._replace(query=rest)), "pgbouncer" if on else "none"


async def _nothing_to_reset(con: asyncpg.Connection) -> None:
    """asyncpg's pool still rolls back a transaction left open before calling this.

    Its default reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL``) is one more round trip on every release, so every ``pool.fetch`` cost two.
    Nothing here leaves session state to reset (see the module docstring), and on a
    loaded node a round trip is several milliseconds of waiting for the event loop:
    ~6 ms p50 a statement, 20 ms of a three-statement search, under 200 writers."""


def _meta(row: asyncpg.Record) -> DocumentMeta:
    return DocumentMeta(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        size_bytes=row["size_bytes"],
        version=row["seq"],
    )


class PostgresStore:
    def __init__(
        self,
        dsn: str,
        *,
        commit_delay: float = 0.002,
        max_batch: int = 1000,
        min_pool: int = 2,
        max_pool: int = 10,
        pooler: str = "none",
        search_pool: int = 4,
        search_timeout: float = 5.0,
    ) -> None:
        self._dsn, self._url_pooler = split_pooler(dsn)
        self._pool: asyncpg.Pool | None = None
        self._search_pool: asyncpg.Pool | None = None
        self._search_size, self.search_timeout = search_pool, search_timeout
        self._pool_size = (min_pool, max_pool)
        self.pooler = "none"
        self.configure_pool(min_size=min_pool, max_size=max_pool, pooler=pooler)
        self.committer = GroupCommitter(
            self._write_batch, max_delay=commit_delay, max_batch=max_batch
        )
        self._sql = PostgresSQL(lambda: self.pool)
        self._reads = SearchReads(lambda: self.search_pool, lambda: self.search_timeout)

    @classmethod
    def from_url(
        cls, url: str, *, data_dir: Path, commit_delay: float = 0.002, max_batch: int = 1000
    ) -> PostgresStore:
        return cls(url, commit_delay=commit_delay, max_batch=max_batch)

    def configure_pool(self, *, min_size: int, max_size: int, pooler: str | None = None) -> None:
        """Pool sizes and the pooler in front of PostgreSQL; before ``open``.

        A pooler named in the URL (``?pgbouncer=true``) wins over ``pooler``.
        """
        if self._pool is not None:
            raise StoreError("configure the pool before the store opens")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(
                f"database pool sizes need 0 <= min <= max and max >= 1; got {min_size}..{max_size}"
            )
        if pooler is not None and pooler not in POOLERS:
            raise ValueError(f"database pooler {pooler!r} is not one of {', '.join(POOLERS)}")
        self._pool_size = (min_size, max_size)
        self.pooler = self._url_pooler or pooler or self.pooler

    def configure_search_pool(self, *, max_size: int, timeout: float) -> None:
        """The search pool's size and each search statement's bound; before ``open``."""
        if self._pool is not None:
            raise StoreError("configure the pool before the store opens")
        if max_size < 1 or not timeout > 0:
            raise ValueError(
                f"search pool size needs >= 1 and its timeout > 0; got {max_size}, {timeout}"
            )
        self._search_size, self.search_timeout = max_size, timeout

    def _connect_options(self) -> dict[str, Any]:
        # No reset query on release (RESET ALL, UNLISTEN, advisory unlock): there is no
        # session state to reset, it costs a round trip per query, and behind pgbouncer
        # it would run on whichever server connection pgbouncer picks.
        options: dict[str, Any] = {"reset": _nothing_to_reset}
        if self.pooler == "pgbouncer":
            # Unnamed statements only: each lives within one extended-protocol exchange,
            # which pgbouncer keeps on one server connection.
            options["statement_cache_size"] = 0
        return options

    def stats(self) -> StoreStats:
        pool, search = self._pool, self._search_pool
        if pool is None:
            return StoreStats.of(self.committer)
        return StoreStats.of(
            self.committer,
            pool_size=pool.get_size(),
            pool_idle=pool.get_idle_size(),
            search_pool_size=None if search is None else search.get_size(),
            search_pool_idle=None if search is None else search.get_idle_size(),
        )

    @property
    def sql(self) -> PostgresSQL:
        return self._sql

    @property
    def reads(self) -> SearchReads:
        """Search statements, on the search pool (see the module docstring)."""
        return self._reads

    dialect = "postgres"

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    @property
    def search_pool(self) -> asyncpg.Pool:
        if self._search_pool is None:
            raise StoreError("store is not open")
        return self._search_pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._pool_size[0],
                max_size=self._pool_size[1],
                **self._connect_options(),
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL {_where(self._dsn)}: {_hint(exc)}"
            ) from exc
        await self._migrate()
        options = self._connect_options()
        if self.pooler == "none":  # session settings: not through pgbouncer
            timeout_ms = str(max(1, round(self.search_timeout * 1000)))
            options["server_settings"] = {
                "statement_timeout": timeout_ms,  # PostgreSQL stops the statement too
                # A capped sequential scan starts at block 0, not where another scan
                # of the table is: the same query finds the same sections again.
                "synchronize_seqscans": "off",
            }
        # No connection yet (min 0): a node that never searches holds none.
        self._search_pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._search_size, **options
        )
        self.committer.start()

    async def _migrate(self) -> None:
        async with self.pool.acquire() as con, con.transaction():
            # Nodes starting together must not race to apply the same migration.
            await con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {
                r["version"] for r in await con.fetch("SELECT version FROM schema_migrations")
            }
            for migration in load_migrations("postgres"):
                if migration.version not in applied:
                    await con.execute(migration.sql)
                    await con.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )

    async def close(self) -> None:
        await self.committer.close()
        if self._search_pool is not None:
            await self._search_pool.close()
            self._search_pool = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        try:
            # One deadline for both steps: /readyz must answer within it.
            async with asyncio.timeout(2), self.pool.acquire() as con:
                await con.fetchval("SELECT 1")
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"PostgreSQL unreachable: {exc}") from exc

    # -- the update log -------------------------------------------------------

    def append(self, doc_id: str, update: bytes) -> asyncio.Future[int]:
        return self.committer.submit(doc_id, update)

    async def flush(self) -> None:
        await self.committer.flush()

    async def _write_batch(self, batch: Sequence[tuple[str, bytes]]) -> list[int]:
        rows = await self.pool.fetch(_COMMIT, [d for d, _ in batch], [u for _, u in batch])
        return [r["seq"] for r in rows]

    async def load(self, doc_id: str) -> StoredState:
        async with self.pool.acquire() as con, con.transaction(isolation="repeatable_read"):
            snap = await con.fetchrow("SELECT seq, data FROM snapshots WHERE doc_id = $1", doc_id)
            snapshot_seq = snap["seq"] if snap else 0
            rows = await con.fetch(
                "SELECT seq, data FROM updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
                doc_id,
                snapshot_seq,
            )
        seq = rows[-1]["seq"] if rows else snapshot_seq
        return StoredState(
            snapshot=snap["data"] if snap else None,
            snapshot_seq=snapshot_seq,
            updates=[r["data"] for r in rows],
            seq=seq,
        )

    async def updates_since(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]:
        rows = await self.pool.fetch(
            "SELECT seq, data FROM updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
            doc_id,
            seq,
        )
        return [(r["seq"], r["data"]) for r in rows]

    async def versions(self, doc_ids: list[str]) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT id, seq FROM documents WHERE id = ANY($1::text[])", doc_ids
        )
        return {r["id"]: r["seq"] for r in rows}

    async def compact(self, doc_id: str) -> CompactionResult | None:
        async with self.pool.acquire() as con, con.transaction():
            # One compactor per document across all nodes; others skip, not wait.
            locked = await con.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", doc_id
            )
            if not locked:
                return None
            snap = await con.fetchrow("SELECT seq, data FROM snapshots WHERE doc_id = $1", doc_id)
            old_seq, old_data = (snap["seq"], snap["data"]) if snap else (0, None)
            rows = await con.fetch(
                "SELECT seq, data FROM updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
                doc_id,
                old_seq,
            )
            if not rows:
                return None
            await self._before_compaction_write(doc_id)
            new_seq = rows[-1]["seq"]
            data = await asyncio.to_thread(merge, old_data, [r["data"] for r in rows])
            await con.execute(
                "INSERT INTO snapshots (doc_id, seq, data) VALUES ($1, $2, $3)"
                " ON CONFLICT (doc_id) DO UPDATE SET seq = $2, data = $3, created_at = now()",
                doc_id,
                new_seq,
                data,
            )
            await con.execute(
                "DELETE FROM updates WHERE doc_id = $1 AND seq <= $2", doc_id, new_seq
            )
            # Relative, so appends committed meanwhile keep their share of the size.
            removed = sum(len(r["data"]) for r in rows) + len(old_data or b"")
            size = await con.fetchval(
                "UPDATE documents SET size_bytes = size_bytes - $2 + $3 WHERE id = $1"
                " RETURNING size_bytes",
                doc_id,
                removed,
                len(data),
            )
        remaining = (size or len(data)) - len(data)
        return CompactionResult(new_seq, len(data), max(remaining, 0))

    async def _before_compaction_write(self, doc_id: str) -> None:
        """Test hook: runs after compaction has read the log, before it writes."""

    # -- metadata -------------------------------------------------------------

    async def list_documents(
        self, limit: int, offset: int, sort: str = "updated_at", descending: bool = True
    ) -> list[DocumentMeta]:
        rows = await self.pool.fetch(
            f"SELECT {_META_COLUMNS} FROM documents {document_order(sort, descending)}"
            " LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        return [_meta(r) for r in rows]

    async def get_document(self, doc_id: str) -> DocumentMeta | None:
        row = await self.pool.fetchrow(
            f"SELECT {_META_COLUMNS} FROM documents WHERE id = $1", doc_id
        )
        return _meta(row) if row else None

    async def create_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        row = await self.pool.fetchrow(
            "INSERT INTO documents (id, title) SELECT $1, $2"
            " WHERE NOT EXISTS (SELECT 1 FROM document_tombstones WHERE id = $1)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {_META_COLUMNS}",
            doc_id,
            title,
        )
        return _meta(row) if row else None

    async def update_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        row = await self.pool.fetchrow(
            f"UPDATE documents SET title = $2, updated_at = now() WHERE id = $1"
            f" RETURNING {_META_COLUMNS}",
            doc_id,
            title,
        )
        return _meta(row) if row else None

    async def delete_document(self, doc_id: str) -> bool:
        async with self.pool.acquire() as con, con.transaction():
            await con.execute("DELETE FROM updates WHERE doc_id = $1", doc_id)
            await con.execute("DELETE FROM snapshots WHERE doc_id = $1", doc_id)
            status = await con.execute("DELETE FROM documents WHERE id = $1", doc_id)
            await con.execute(
                "INSERT INTO document_tombstones (id, deleted_at) VALUES ($1, $2)"
                " ON CONFLICT (id) DO NOTHING",
                doc_id,
                time.time(),
            )
        return status != "DELETE 0"

    async def is_deleted(self, doc_id: str) -> bool:
        row = await self.pool.fetchrow("SELECT 1 FROM document_tombstones WHERE id = $1", doc_id)
        return row is not None


def _where(dsn: str) -> str:
    """user@host:port/database from the URL, never its password: the operator sees
    which of several URLs failed without the secret reaching the logs."""
    url = urllib.parse.urlsplit(dsn)
    try:
        port = f":{url.port}" if url.port else ""
    except ValueError:  # several hosts (h1:5432,h2:5432) are asyncpg's, not urllib's
        return url.netloc.rsplit("@", 1)[-1] + url.path
    user = f"{url.username}@" if url.username else ""
    return f"{user}{url.hostname or 'localhost'}{port}{url.path}"


def _hint(exc: BaseException) -> str:
    # pgbouncer answers a wrong SCRAM password with a bare "SASL authentication
    # failed" (a protocol violation), PostgreSQL with InvalidPasswordError.
    text = str(exc)
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError) or (
        "authentication failed" in text
    ):
        return f"{text} (check the user name and password in the database URL)"
    return text

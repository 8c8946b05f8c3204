"""PostgreSQL store (asyncpg, pooled). The production store; safe with many nodes."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from draftroom.store.base import (
    CompactionResult,
    DocumentMeta,
    StoredState,
    StoreError,
    StoreStats,
)
from draftroom.store.compaction import merge
from draftroom.store.group_commit import GroupCommitter
from draftroom.store.migrations import load_migrations
from draftroom.store.sql import PostgresSQL

# Bumps each document's counter by its number of appends and hands back the new
# last seq; the row lock it takes orders concurrent commits of one document across
# nodes, which is what keeps versions dense.
_BUMP_SEQ = """
INSERT INTO documents AS d (id, seq, size_bytes)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
ON CONFLICT (id) DO UPDATE
   SET seq = d.seq + EXCLUDED.seq,
       size_bytes = d.size_bytes + EXCLUDED.size_bytes,
       updated_at = now()
RETURNING id, seq
"""
_INSERT_UPDATES = """
INSERT INTO updates (doc_id, seq, data)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
"""
_META_COLUMNS = "id, title, created_at, updated_at, size_bytes, seq"
_MIGRATION_LOCK = 0x64726674  # any constant shared by all nodes


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
    ) -> None:
        self._dsn = dsn
        self._pool_size = (min_pool, max_pool)
        self._pool: asyncpg.Pool | None = None
        self.committer = GroupCommitter(
            self._write_batch, max_delay=commit_delay, max_batch=max_batch
        )
        self._sql = PostgresSQL(lambda: self.pool)

    @classmethod
    def from_url(
        cls, url: str, *, data_dir: Path, commit_delay: float = 0.002, max_batch: int = 1000
    ) -> PostgresStore:
        return cls(url, commit_delay=commit_delay, max_batch=max_batch)

    def stats(self) -> StoreStats:
        pool = self._pool
        if pool is None:
            return StoreStats.of(self.committer)
        return StoreStats.of(
            self.committer, pool_size=pool.get_size(), pool_idle=pool.get_idle_size()
        )

    @property
    def sql(self) -> PostgresSQL:
        return self._sql

    dialect = "postgres"

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._pool_size[0], max_size=self._pool_size[1]
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        await self._migrate()
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
        counts: dict[str, int] = defaultdict(int)
        sizes: dict[str, int] = defaultdict(int)
        for doc_id, update in batch:
            counts[doc_id] += 1
            sizes[doc_id] += len(update)
        ids = sorted(counts)  # a fixed lock order: no deadlocks between nodes
        async with self.pool.acquire() as con, con.transaction():
            rows = await con.fetch(
                _BUMP_SEQ, ids, [counts[i] for i in ids], [sizes[i] for i in ids]
            )
            next_seq = {r["id"]: r["seq"] - counts[r["id"]] + 1 for r in rows}
            seqs = []
            for doc_id, _ in batch:
                seqs.append(next_seq[doc_id])
                next_seq[doc_id] += 1
            await con.execute(_INSERT_UPDATES, [d for d, _ in batch], seqs, [u for _, u in batch])
        return seqs

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

    async def list_documents(self, limit: int, offset: int) -> list[DocumentMeta]:
        rows = await self.pool.fetch(
            f"SELECT {_META_COLUMNS} FROM documents ORDER BY updated_at DESC, id"
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

"""Durable storage: an append-only update log per document, plus snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from draftroom.store.base import Store, StoreError

if TYPE_CHECKING:
    from draftroom.config import Settings


def create_store(
    *, database_url: str | None, data_dir: Path, commit_delay: float, max_batch: int
) -> Store:
    """PostgreSQL when a database URL is given, otherwise embedded SQLite."""
    if database_url:
        if not database_url.startswith(("postgres://", "postgresql://")):
            raise ValueError("database URL must start with postgresql://")
        from draftroom.store.postgres import PostgresStore

        return PostgresStore(database_url, commit_delay=commit_delay, max_batch=max_batch)
    from draftroom.store.sqlite import SQLiteStore

    return SQLiteStore(data_dir, commit_delay=commit_delay, max_batch=max_batch)


def store_for(settings: Settings) -> Store:
    store = create_store(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        commit_delay=settings.commit_delay,
        max_batch=settings.commit_max_batch,
    )
    store.committer.max_pending = settings.commit_queue_max
    return store


__all__ = ["Store", "StoreError", "create_store", "store_for"]

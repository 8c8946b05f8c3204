"""Durable storage: an append-only update log per document, plus snapshots.

Stores are registered by URL scheme in ``STORES``: ``--database-url`` picks one by its
scheme, and without a URL the embedded SQLite store keeps its file in ``--data-dir``.
A third-party store registers under the ``draftroom.stores`` entry-point group::

    [project.entry-points."draftroom.stores"]
    mysql = "my_package.store:MySQLStore"     # a class with ``from_url`` (``StoreClass``)

and must pass tests/store/test_contract.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from draftroom.plugins import entry_points
from draftroom.store.base import Store, StoreClass, StoreError, StoreStats

if TYPE_CHECKING:
    from draftroom.config import Settings

log = logging.getLogger(__name__)

GROUP = "draftroom.stores"
DEFAULT_URL = "sqlite:"  # no --database-url: SQLite in --data-dir


def _sqlite() -> StoreClass:
    from draftroom.store.sqlite import SQLiteStore

    return SQLiteStore


def _postgres() -> StoreClass:
    # Imported on use: asyncpg is not needed by a SQLite-only node.
    from draftroom.store.postgres import PostgresStore

    return PostgresStore


# Scheme -> the class, loaded on first use.
STORES: dict[str, StoreClass | None] = {"sqlite": None, "postgresql": None, "postgres": None}
_BUILTINS = {"sqlite": _sqlite, "postgresql": _postgres, "postgres": _postgres}
_plugins_loaded = False


def register_store(scheme: str, cls: StoreClass) -> None:
    """Serve URLs ``scheme:…`` with ``cls``; the entry-point loader calls this too."""
    if not scheme.isascii() or not scheme.replace("+", "").replace("-", "").isalnum():
        raise ValueError(f"invalid URL scheme {scheme!r}")
    if not callable(getattr(cls, "from_url", None)):
        raise TypeError(f"{cls!r} has no from_url(url, *, data_dir, commit_delay, max_batch)")
    STORES[scheme.lower()] = cls


def store_class(scheme: str) -> StoreClass:
    _load_plugins()
    scheme = scheme.lower()
    if scheme not in STORES:
        raise ValueError(
            f"no store for database URL scheme {scheme!r}; use one of {', '.join(STORES)}"
        )
    cls = STORES[scheme]
    if cls is None:
        cls = STORES[scheme] = _BUILTINS[scheme]()
    return cls


def create_store(
    *, database_url: str | None, data_dir: Path, commit_delay: float, max_batch: int
) -> Store:
    """The store registered for the URL's scheme; embedded SQLite without a URL."""
    url = database_url or DEFAULT_URL
    scheme, colon, _ = url.partition(":")
    if not colon:
        raise ValueError(f"database URL must look like scheme://…; one of {', '.join(STORES)}")
    return store_class(scheme).from_url(
        url, data_dir=Path(data_dir), commit_delay=commit_delay, max_batch=max_batch
    )


def store_for(settings: Settings) -> Store:
    store = create_store(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        commit_delay=settings.commit_delay,
        max_batch=settings.commit_max_batch,
    )
    store.committer.max_pending = settings.commit_queue_max
    configure_pool = getattr(store, "configure_pool", None)  # stores with a connection pool
    if configure_pool is not None:
        configure_pool(
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            pooler=settings.database_pooler,
        )
    configure_search = getattr(store, "configure_search_pool", None)  # PostgreSQL's own
    if configure_search is not None:
        configure_search(
            max_size=settings.database_search_pool_max, timeout=settings.search_timeout_seconds
        )
    return store


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(GROUP):
        try:
            register_store(ep.name, ep.load())
        except Exception:
            log.exception("store entry point %s could not be loaded; skipped", ep.value)


__all__ = [
    "STORES",
    "Store",
    "StoreClass",
    "StoreError",
    "StoreStats",
    "create_store",
    "register_store",
    "store_class",
    "store_for",
]

"""``draftroom reindex [DOC...]``: rebuild the search index, with the server up or down.

The named documents (all without names) are marked unindexed and rebuilt here, under
the same per-document claims the servers take, so a running node and this command
never index one document at once. Until a document is rebuilt its old entry stays
searchable: a rebuild never empties the results. A running server would also rebuild
them by itself through its sweep; this command is for doing it now and seeing it done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from draftroom.cli_store import missing_store
from draftroom.config import settings_from
from draftroom.search.service import Search
from draftroom.store import store_for


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("reindex", help="rebuild the search index (all or named documents)")
    parser.add_argument("documents", nargs="*", metavar="DOC", help="document ids (default all)")
    parser.add_argument("--database-url", default=None, help="as for serve")
    parser.add_argument("--data-dir", type=Path, default=None, help="as for serve")


def main(args: argparse.Namespace) -> int:
    settings = settings_from({"database_url": args.database_url, "data_dir": args.data_dir})
    if problem := missing_store(settings):
        print(f"draftroom: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(_reindex(settings, list(args.documents)))


async def _reindex(settings: Any, doc_ids: list[str]) -> int:
    store = store_for(settings)
    await store.open()
    try:
        search = Search(store, lambda: f"reindex-{os.getpid()}", workers=0)
        missing = [d for d in doc_ids if await store.get_document(d) is None]
        if missing:
            print(f"draftroom: no such document(s): {', '.join(missing)}", file=sys.stderr)
            return 1
        await search.engine.forget(doc_ids or None)
        done = busy = 0
        todo = doc_ids or await search.engine.stale(float("inf"), 1_000_000)
        for doc_id in todo:
            if await search.index(doc_id):
                done += 1
            else:
                busy += 1  # a running node holds it (and indexes it) right now
        print(f"reindexed {done} document(s)" + (f"; {busy} left to running nodes" if busy else ""))
        return 0
    finally:
        await store.close()

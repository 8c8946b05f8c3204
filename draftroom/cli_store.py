"""The store a CLI command opens must already exist, unless it was asked to create one.

Opening SQLite creates the file, so ``draftroom user list`` run from the wrong
folder used to make a new, empty store there and report no users, and ``user
create`` put the first admin where no server would ever look.
"""

from __future__ import annotations

from draftroom.config import Settings

SQLITE_FILE = "draftroom.sqlite3"  # as draftroom.store.sqlite names it


def missing_store(settings: Settings) -> str | None:
    """Why the command must not go on (the store does not exist), or None."""
    if settings.database_url:
        return None  # a server's database; nothing is created by connecting
    path = settings.data_dir / SQLITE_FILE
    if path.exists():
        return None
    return (
        f"no store at {path}: run this where the server keeps its data, or pass "
        f"--data-dir DIR or --database-url URL"
    )

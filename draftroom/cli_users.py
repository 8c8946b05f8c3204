"""``draftroom user create|list|delete``: manage accounts straight in the store.

Works with the server running or not. Deleting a user takes the same path as the
API (``Auth.delete_user``): their sessions go, and the ``auth.revoke``
and ``user.deleted`` control messages reach this command's own features (analytics
erases the user's stored events) and, with ``--redis-url`` / DRAFTROOM_REDIS_URL, every
running node, which closes the user's sockets and drops their buffered events at
once. Without Redis, running nodes close those sockets at their next re-check
(``--auth-recheck-seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

from draftroom.analytics.recorder import Analytics
from draftroom.auth.service import Auth
from draftroom.auth.users import UserError, Users
from draftroom.bus.base import CONTROL, Envelope
from draftroom.bus.redis import CONTROL_CHANNEL
from draftroom.cli_store import missing_store
from draftroom.config import Settings, settings_from
from draftroom.errors import DraftroomError, LastOwner
from draftroom.features import Feature, FeatureHooks
from draftroom.redis import RedisLink
from draftroom.store import Store, store_for
from draftroom.store.base import StoreError


def add_parser(sub: Any) -> None:
    user = sub.add_parser("user", help="manage accounts: create, list, delete")
    actions = user.add_subparsers(dest="user_command", required=True)
    create = actions.add_parser("create", help="create an account (prompts for the password)")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true", help="site admin: manages users")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.add_argument(
        "--new-store",
        action="store_true",
        help="create the store if it does not exist yet (else that is an error)",
    )
    actions.add_parser("list", help="list accounts")
    delete = actions.add_parser("delete", help="delete an account and end its sessions")
    delete.add_argument("username")
    for parser in (create, actions.choices["list"], delete):
        parser.add_argument("--database-url", default=None, help="as for serve")
        parser.add_argument("--data-dir", type=Path, default=None, help="as for serve")
        parser.add_argument("--redis-url", default=None, help="as for serve")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise UserError("passwords do not match", code="mismatch")
    return first


async def _run(args: argparse.Namespace) -> int:
    settings = settings_from(
        {"database_url": args.database_url, "data_dir": args.data_dir, "redis_url": args.redis_url}
    )
    problem = missing_store(settings)
    if problem and not getattr(args, "new_store", False):
        hint = "; or add --new-store to start a new one" if args.user_command == "create" else ""
        print(f"draftroom: {problem}{hint}", file=sys.stderr)
        return 1
    store = store_for(settings)
    try:
        await store.open()
    except StoreError as exc:  # a wrong password or an unreachable database: say which
        print(f"draftroom: {exc}", file=sys.stderr)
        return 1
    redis = RedisLink(settings.redis_url)
    try:
        users = Users(store.sql)
        if args.user_command == "create":
            user = await users.create(args.username, _password(args), admin=args.admin)
            kind = "site admin" if user.is_admin else "user"
            print(f"created {kind} {user.username} ({user.id})")
        elif args.user_command == "list":
            for u in await users.list():
                print(f"{u.username}\t{'admin' if u.is_admin else 'user'}\t{u.id}")
        else:
            found = await users.find(args.username)
            if found is None:
                print(f"draftroom: no user {args.username!r}", file=sys.stderr)
                return 1
            try:
                await _delete(settings, store, redis, found.id)
            except LastOwner as exc:
                print(
                    f"draftroom: {found.username} is the only owner of: "
                    f"{', '.join(exc.documents)}."
                    " Make someone else owner, or delete those documents, first.",
                    file=sys.stderr,
                )
                return 1
            print(f"deleted {found.username}")
        return 0
    finally:
        await redis.close()
        await store.close()


async def _delete(settings: Settings, store: Store, redis: RedisLink, user_id: str) -> None:
    """Delete through the API's path, with the features that hold per-user data."""
    analytics = (
        Analytics(
            store.sql,
            retention_days=settings.analytics_retention_days,
            flush_seconds=settings.analytics_flush_seconds,
        )
        if settings.analytics
        else None
    )
    features: list[Feature] = [analytics] if analytics is not None else []
    hooks = FeatureHooks()
    hooks.install(features)

    sent: list[dict[str, Any]] = []

    def announce(data: dict[str, Any]) -> None:
        sent.append(data)
        handler = hooks.control.get(str(data.get("type")))
        if handler is not None:
            handler(data)

    auth = Auth(settings, store.sql, redis=redis, documents=store, announce=announce)
    try:
        await auth.delete_user(user_id)
    finally:
        await auth.stop()
    for feature in features:
        await feature.stop()  # analytics finishes its erasure here
    if redis.client is not None:
        # What Node.broadcast_control would publish, for the nodes that are running.
        for data in sent:
            try:
                envelope = Envelope("cli", "", CONTROL, data)
                await redis.run("publish", CONTROL_CHANNEL, envelope.pack())
            except Exception as exc:
                print(f"draftroom: running nodes not told ({exc})", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except DraftroomError as exc:  # a bad name, a weak password, a taken name
        print(f"draftroom: {exc}", file=sys.stderr)
        return 1

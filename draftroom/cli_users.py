"""``draftroom user create|list|delete``: manage accounts straight in the store.

Works with the server running or not. Deleting a user also removes their sessions
(from Redis too when ``--redis-url`` / DRAFTROOM_REDIS_URL is set); running nodes
close that user's sockets at their next re-check (``--auth-recheck-seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

from draftroom.auth.permissions import Members
from draftroom.auth.redis_link import RedisLink
from draftroom.auth.sessions import Sessions
from draftroom.auth.users import UserError, Users
from draftroom.cli_store import missing_store
from draftroom.config import settings_from
from draftroom.errors import DraftroomError
from draftroom.store import store_for


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
    await store.open()
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
            sole = await Members(store.sql).sole_owned(found.id)
            if sole:
                print(
                    f"draftroom: {found.username} is the only owner of: {', '.join(sole)}."
                    " Make someone else owner, or delete those documents, first.",
                    file=sys.stderr,
                )
                return 1
            await Sessions(store.sql, redis, settings.session_ttl_seconds).revoke_user(found.id)
            await users.delete(found.id)
            print(f"deleted {found.username}")
        return 0
    finally:
        await redis.close()
        await store.close()


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except DraftroomError as exc:  # a bad name, a weak password, a taken name
        print(f"draftroom: {exc}", file=sys.stderr)
        return 1

"""Accounts: username, argon2 password hash, and whether the user is a site admin."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from draftroom.auth.passwords import check_policy, hash_password, verify_password
from draftroom.errors import Exists, Invalid
from draftroom.store.base import SQL
from draftroom.times import iso

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class UserError(Invalid):
    """A request to create a user that cannot be honoured (bad name, weak password)."""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    is_admin: bool
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "admin": self.is_admin,
            "created_at": iso(self.created_at),
        }


def _user(row: dict[str, Any]) -> User:
    return User(row["id"], row["username"], bool(row["is_admin"]), float(row["created_at"]))


class Users:
    def __init__(self, sql: SQL) -> None:
        self.sql = sql

    async def create(self, username: str, password: str, *, admin: bool = False) -> User:
        if not USERNAME_RE.match(username):
            raise UserError(
                "username must be 1-64 of A-Z a-z 0-9 . _ - (letter first)",
                code="invalid_username",
            )
        problem = check_policy(password)
        if problem:
            raise UserError(problem, code="weak_password")
        hashed = await hash_password(password)
        row = await self.sql.fetchrow(
            "INSERT INTO users (id, username, password_hash, is_admin, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING"
            " RETURNING id, username, is_admin, created_at",
            uuid.uuid4().hex,
            username,
            hashed,
            1 if admin else 0,
            time.time(),
        )
        if row is None:
            raise Exists(f"user {username!r} already exists")
        return _user(row)

    async def get(self, user_id: str) -> User | None:
        row = await self.sql.fetchrow(
            "SELECT id, username, is_admin, created_at FROM users WHERE id = $1", user_id
        )
        return _user(row) if row else None

    async def by_name(self, username: str) -> User | None:
        row = await self.sql.fetchrow(
            "SELECT id, username, is_admin, created_at FROM users WHERE username = $1", username
        )
        return _user(row) if row else None

    async def find(self, name_or_id: str) -> User | None:
        return await self.by_name(name_or_id) or await self.get(name_or_id)

    async def list(self) -> list[User]:
        rows = await self.sql.fetch(
            "SELECT id, username, is_admin, created_at FROM users ORDER BY username"
        )
        return [_user(r) for r in rows]

    async def count(self) -> int:
        row = await self.sql.fetchrow("SELECT count(*) AS n FROM users")
        return int(row["n"]) if row else 0

    async def check_password(self, username: str, password: str) -> User | None:
        """The user if the password is right; None otherwise (same cost either way)."""
        row = None
        if USERNAME_RE.match(username):
            row = await self.sql.fetchrow(
                "SELECT id, username, is_admin, created_at, password_hash FROM users"
                " WHERE username = $1",
                username,
            )
        ok = await verify_password(row["password_hash"] if row else None, password)
        return _user(row) if ok and row else None

    async def delete(self, user_id: str) -> bool:
        # Credentials and roles first: a half-finished delete must leave the user
        # unable to log in rather than leave orphaned grants behind.
        await self.sql.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
        await self.sql.execute("DELETE FROM api_tokens WHERE user_id = $1", user_id)
        await self.sql.execute("DELETE FROM document_members WHERE user_id = $1", user_id)
        return await self.sql.execute("DELETE FROM users WHERE id = $1", user_id) > 0

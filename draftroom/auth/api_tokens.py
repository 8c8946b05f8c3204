"""API tokens for programs: scoped (read, write, admin), revocable, shown once.

A token acts as its user, narrowed by its scopes: ``read`` can read and export,
``write`` can also edit, comment and create documents, ``admin`` can also share,
delete and (for a site admin) manage users.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from draftroom.auth.tokens_util import API_TOKEN_PREFIX, MAX_TOKEN_LENGTH, new_secret, secret_hash
from draftroom.store.base import SQL
from draftroom.times import iso, iso_or_none

SCOPES = ("read", "write", "admin")
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    scopes: frozenset[str]
    created_at: float
    last_used_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "created_at": iso(self.created_at),
            "last_used_at": iso_or_none(self.last_used_at),
        }


def _token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(
        row["id"],
        row["user_id"],
        row["name"],
        frozenset(s for s in row["scopes"].split(",") if s),
        float(row["created_at"]),
        row["last_used_at"],
    )


_COLUMNS = "id, user_id, name, scopes, created_at, last_used_at"


class ApiTokens:
    def __init__(self, sql: SQL) -> None:
        self.sql = sql

    async def create(self, user_id: str, name: str, scopes: list[str]) -> tuple[str, ApiToken]:
        secret = new_secret(API_TOKEN_PREFIX)
        row = await self.sql.fetchrow(
            f"INSERT INTO api_tokens (id, token_hash, user_id, name, scopes, created_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            uuid.uuid4().hex,
            secret_hash(secret),
            user_id,
            name,
            ",".join(sorted(set(scopes))),
            time.time(),
        )
        assert row is not None
        return secret, _token(row)

    async def lookup(self, secret: str) -> ApiToken | None:
        if not secret.startswith(API_TOKEN_PREFIX) or len(secret) > MAX_TOKEN_LENGTH:
            return None
        row = await self.sql.fetchrow(
            f"SELECT {_COLUMNS} FROM api_tokens WHERE token_hash = $1", secret_hash(secret)
        )
        if row is None:
            return None
        token = _token(row)
        now = time.time()
        if token.last_used_at is None or now - token.last_used_at > 60:
            # Coarse on purpose: "last used" for the owner, not a write per request.
            await self.sql.execute(
                "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", now, token.id
            )
        return token

    async def get(self, token_id: str) -> ApiToken | None:
        row = await self.sql.fetchrow(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = $1", token_id)
        return _token(row) if row else None

    async def list(self, user_id: str) -> list[ApiToken]:
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at", user_id
        )
        return [_token(r) for r in rows]

    async def revoke(self, token_id: str) -> bool:
        return await self.sql.execute("DELETE FROM api_tokens WHERE id = $1", token_id) > 0

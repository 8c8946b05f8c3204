"""Login sessions: hot copy in Redis with a sliding TTL, durable copy in the database.

    Redis   draftroom:session:<sha256>  ->  msgpack {u: user id, n: name, a: admin, d: db expiry}
    DB      sessions(token_hash, user_id, created_at, expires_at)

Writes go to the database first (write-through), then Redis. Lookups try Redis and
fall back to the database on a miss or an error, so a flushed or stopped Redis logs
nobody out. Revocation deletes the database row first, then the Redis key, and a
Redis delete that fails is retried; for a while after any Redis failure, Redis hits
are confirmed against the database, so a key a missed delete left behind cannot let
a revoked session in.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import msgpack
from redis.exceptions import RedisError

from draftroom.auth.tokens_util import (
    MAX_TOKEN_LENGTH,
    SESSION_PREFIX,
    new_secret,
    secret_hash,
)
from draftroom.auth.users import User
from draftroom.redis import RedisLink
from draftroom.store.base import SQL

KEY = "draftroom:session:"
# After a Redis failure, confirm Redis hits against the database for this long.
DISTRUST_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    user_id: str
    username: str
    is_admin: bool
    expires_at: float


class Sessions:
    def __init__(self, sql: SQL, redis: RedisLink, ttl: float) -> None:
        self.sql = sql
        self.redis = redis
        self.ttl = ttl
        self._pending_deletes: set[str] = set()
        self.db_lookups = 0  # for tests and metrics: how often Redis could not answer

    async def create(self, user: User) -> tuple[str, Session]:
        secret = new_secret(SESSION_PREFIX)
        now = time.time()
        session = Session(
            secret_hash(secret), user.id, user.username, user.is_admin, now + self.ttl
        )
        await self.sql.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            session.token_hash,
            user.id,
            now,
            session.expires_at,
        )
        await self._cache(session)
        return secret, session

    async def lookup(self, secret: str) -> Session | None:
        if not secret.startswith(SESSION_PREFIX) or len(secret) > MAX_TOKEN_LENGTH:
            return None
        return await self.lookup_hash(secret_hash(secret))

    async def lookup_hash(self, token_hash: str) -> Session | None:
        session = await self._from_redis(token_hash)
        if session is not None:
            distrust = time.monotonic() - self.redis.last_failure < DISTRUST_SECONDS
            if self.redis.last_failure and distrust and not await self._in_db(token_hash):
                await self._forget(token_hash)
                return None
            if session.expires_at - time.time() < self.ttl * 0.75:
                # Slide the durable copy too, but only every quarter TTL: one DB write
                # per session per few days, not one per request.
                session = await self._extend(session)
            return session
        return await self._from_db(token_hash)

    async def _from_redis(self, token_hash: str) -> Session | None:
        try:
            raw = await self.redis.run("get", KEY + token_hash)
            if raw is None:
                return None
            await self.redis.run("expire", KEY + token_hash, int(self.ttl))
        except RedisError:
            return None
        data = msgpack.unpackb(raw)
        return Session(token_hash, data["u"], data["n"], bool(data["a"]), float(data["d"]))

    async def _in_db(self, token_hash: str) -> bool:
        row = await self.sql.fetchrow(
            "SELECT 1 AS ok FROM sessions WHERE token_hash = $1 AND expires_at > $2",
            token_hash,
            time.time(),
        )
        return row is not None

    async def _from_db(self, token_hash: str) -> Session | None:
        self.db_lookups += 1
        row = await self.sql.fetchrow(
            "SELECT s.user_id, s.expires_at, u.username, u.is_admin FROM sessions s"
            " JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
            token_hash,
        )
        if row is None:
            return None
        if row["expires_at"] <= time.time():
            await self.sql.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)
            return None
        session = Session(
            token_hash, row["user_id"], row["username"], bool(row["is_admin"]), row["expires_at"]
        )
        if session.expires_at - time.time() < self.ttl * 0.75:
            return await self._extend(session)  # slides the DB copy, re-caches in Redis
        await self._cache(session)
        return session

    async def _extend(self, session: Session) -> Session:
        expires = time.time() + self.ttl
        changed = await self.sql.execute(
            "UPDATE sessions SET expires_at = $1 WHERE token_hash = $2", expires, session.token_hash
        )
        if not changed:
            return session  # revoked meanwhile: do not resurrect it in Redis
        session = Session(
            session.token_hash, session.user_id, session.username, session.is_admin, expires
        )
        await self._cache(session)
        return session

    async def _cache(self, session: Session) -> None:
        value = msgpack.packb(
            {"u": session.user_id, "n": session.username, "a": session.is_admin,
             "d": session.expires_at}
        )  # fmt: skip
        try:
            await self.redis.run("set", KEY + session.token_hash, value, int(self.ttl))
        except RedisError:
            pass  # the database copy is enough; the next lookup re-caches

    async def revoke(self, token_hash: str) -> bool:
        found = await self.sql.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)
        await self._forget(token_hash)
        return found > 0

    async def revoke_user(self, user_id: str) -> list[str]:
        rows = await self.sql.fetch("SELECT token_hash FROM sessions WHERE user_id = $1", user_id)
        await self.sql.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
        hashes = [r["token_hash"] for r in rows]
        for token_hash in hashes:
            await self._forget(token_hash)
        return hashes

    async def _forget(self, token_hash: str) -> None:
        try:
            await self.redis.run("delete", KEY + token_hash)
            self._pending_deletes.discard(token_hash)
        except RedisError:
            self._pending_deletes.add(token_hash)

    async def retry_deletes(self) -> None:
        """Background: finish Redis deletes that failed while Redis was away."""
        for token_hash in list(self._pending_deletes):
            await self._forget(token_hash)
            await asyncio.sleep(0)

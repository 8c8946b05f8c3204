"""The auth features' Redis connection: ``draftroom.redis.RedisLink``, whose default
breaker (one failure, one second away) is what sessions, rate limits and connection
leases want. Kept as a name so their imports need not change."""

from __future__ import annotations

from draftroom.redis import RedisLink

__all__ = ["RedisLink"]

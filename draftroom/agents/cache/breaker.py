"""The reply cache's circuit breaker is the one every Redis user shares:
``draftroom.redis.CircuitBreaker``."""

from __future__ import annotations

from draftroom.redis import CircuitBreaker

__all__ = ["CircuitBreaker"]

"""The agent reply cache: Redis behind a circuit breaker with a database fallback, or a
bounded in-memory LRU for the embedded single-node setup. See tiered.py."""

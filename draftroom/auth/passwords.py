"""Password hashing with argon2id, OWASP's recommended minimum: 19 MiB, 2 passes, 1 lane.

(argon2-cffi's default, RFC 9106's 64 MiB x 3 passes x 4 lanes, took ~300 ms per login
on a 2-core node: a login flood would eat the CPU the edits need.) Parameters live in
each hash, so raising them later still verifies old hashes.

Hashing is deliberately slow (tens of ms), so it runs in a thread, at most two at a
time: a burst of logins must neither stall the event loop nor take every core.
"""

from __future__ import annotations

import asyncio
import weakref

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# One semaphore per event loop (tests and the CLI run several loops in one process).
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(2)
    return slots


MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; bound the work an attacker can ask for

# Verified against when the username does not exist, so a miss costs as much time as a
# wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("draftroom-timing-equaliser")


def check_policy(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    async with _limit():
        return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored``; None (no such user) costs the same time."""
    if len(password) > MAX_LENGTH:
        return False
    async with _limit():
        return await asyncio.to_thread(_verify, stored, password)

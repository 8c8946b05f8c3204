"""Cutting off live sockets whose access ended: at once on a revoke message, and on a
timer as a safety net for control messages pub/sub lost.

A revoke is published on the bus as ``{"type": "auth.revoke", ...}`` with one of
    session=<hash>      logout                      -> 4401
    token=<id>          API token revoked           -> 4401
    user=<id>           account deleted             -> 4401
    user=<id>, doc=<id> role changed or revoked     -> re-check: 4403, or read-only flips
    deleted=<id>        document deleted            -> its room closes, every socket 4404
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from draftroom.auth.permissions import allowed
from draftroom.auth.service import REVOKE, Auth
from draftroom.auth.ws_guard import Admission
from draftroom.crdt.protocol import CloseCode
from draftroom.features import BaseFeature, ControlHandler
from draftroom.node import LiveSocket

log = logging.getLogger(__name__)


def admission(conn: LiveSocket) -> Admission | None:
    value = conn.auth
    return value if isinstance(value, Admission) else None


class Kicker(BaseFeature):
    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.node = auth.node
        self._task: asyncio.Task[None] | None = None
        self._rechecks: set[asyncio.Task[None]] = set()
        self.passes = 0

    def _live(self) -> list[tuple[LiveSocket, Admission]]:
        out = []
        for conn in list(self.node.connections):
            adm = admission(conn)
            if adm is not None and not conn.closed and not adm.principal.anonymous:
                out.append((conn, adm))
        return out

    def control_handlers(self) -> Mapping[str, ControlHandler]:
        return {REVOKE: self.on_revoke}

    def on_revoke(self, data: dict[str, Any]) -> None:
        deleted = data.get("deleted")
        if isinstance(deleted, str):
            # At once on every node: an editor left connected elsewhere would keep
            # appending, and its appends would re-create the document's row.
            self.node.rooms.close_room(deleted, CloseCode.DOCUMENT_DELETED, "document deleted")
            return
        session, token = data.get("session"), data.get("token")
        user, doc = data.get("user"), data.get("doc")
        recheck = []
        for conn, adm in self._live():
            p = adm.principal
            if session and p.session_hash == session:
                conn.close(CloseCode.UNAUTHENTICATED, "logged out")
            elif token and p.token_id == token:
                conn.close(CloseCode.UNAUTHENTICATED, "API token revoked")
            elif user and p.user_id == user and not doc:
                conn.close(CloseCode.UNAUTHENTICATED, "account deleted")
            elif user and doc and p.user_id == user and adm.doc_id == doc:
                recheck.append((conn, adm))
        if recheck:
            task = asyncio.get_running_loop().create_task(self.recheck(recheck))
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)

    async def recheck(self, live: list[tuple[LiveSocket, Admission]]) -> None:
        """Re-validate credentials and roles; close or re-flag what changed."""
        valid: dict[str, bool] = {}
        roles: dict[tuple[str, str], str | None] = {}
        for conn, adm in live:
            p = adm.principal
            key = p.session_hash or p.token_id or ""
            try:
                if key not in valid:
                    valid[key] = await self._credential_valid(adm)
                if (p.user_id, adm.doc_id) not in roles:
                    roles[p.user_id, adm.doc_id] = await self.auth.role(p, adm.doc_id)
            except Exception:
                # The database is unreachable: keep people working; the next pass retries.
                log.warning("auth recheck failed; will retry", exc_info=True)
                return
            role = roles[p.user_id, adm.doc_id]
            if not valid[key]:
                conn.close(CloseCode.UNAUTHENTICATED, "session ended")
            elif role is None or not allowed(role, p, "read"):
                conn.close(CloseCode.FORBIDDEN, "access to this document was revoked")
            else:
                adm.role = role
                conn.read_only, conn.role = adm.read_only, role

    async def _credential_valid(self, adm: Admission) -> bool:
        p = adm.principal
        if p.session_hash is not None:
            return await self.auth.sessions.lookup_hash(p.session_hash) is not None
        if p.token_id is not None:
            return await self.auth.tokens.get(p.token_id) is not None
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.auth.settings.auth_recheck_seconds)
            try:
                await self.auth.sessions.retry_deletes()
                live = self._live()
                await self.recheck(live)
                # Forget throttles of users with no socket left on this node.
                users = {adm.principal.user_id for _, adm in live}
                for user in [u for u in self.auth.ws_buckets if u not in users]:
                    del self.auth.ws_buckets[user]
                self.passes += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("auth recheck pass failed")

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._rechecks] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

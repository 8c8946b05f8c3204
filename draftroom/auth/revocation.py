"""Cutting off live sockets whose access ended: at once on a revoke message, and on a
timer as a safety net for control messages pub/sub lost.

A revoke is published on the bus as ``{"type": "auth.revoke", ...}`` with one of
    session=<hash>      logout                      -> 4401
    token=<id>          API token revoked           -> 4401
    user=<id>           account deleted             -> 4401
    user=<id>, doc=<id> role changed or revoked     -> re-check: 4403, or the new role
                                                       (read-only flips; a `role` message)
    deleted=<id>        document deleted            -> its room closes, every socket 4404
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from draftroom.auth.admission import Admission, AdmittedSocket
from draftroom.auth.permissions import allowed
from draftroom.auth.principal import Principal
from draftroom.auth.service import REVOKE, Auth
from draftroom.crdt.protocol import CloseCode
from draftroom.features import BaseFeature, ControlHandler

log = logging.getLogger(__name__)


class Kicker(BaseFeature):
    def __init__(
        self,
        auth: Auth,
        *,
        live: Callable[[], Iterable[AdmittedSocket]],
        close_room: Callable[[str, CloseCode, str], None],
    ) -> None:
        """``live``: this node's admitted sockets, now (the server's connections);
        ``close_room``: close a document's room and every socket in it."""
        self.auth = auth
        self.live = live
        self.close_room = close_room
        self._task: asyncio.Task[None] | None = None
        self._rechecks: set[asyncio.Task[None]] = set()
        self.passes = 0

    def _live(self) -> list[tuple[AdmittedSocket, Admission]]:
        return [
            (conn, conn.admission)
            for conn in list(self.live())
            if not conn.closed and not conn.admission.principal.anonymous
        ]

    def control_handlers(self) -> Mapping[str, ControlHandler]:
        return {REVOKE: self.on_revoke}

    def on_revoke(self, data: dict[str, Any]) -> None:
        deleted = data.get("deleted")
        if isinstance(deleted, str):
            # At once on every node: an editor left connected elsewhere would keep
            # appending, and its appends would re-create the document's row.
            self.close_room(deleted, CloseCode.DOCUMENT_DELETED, "document deleted")
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

    async def recheck(self, live: list[tuple[AdmittedSocket, Admission]]) -> None:
        """Re-validate credentials and roles; close or re-flag what changed."""
        valid: dict[Principal, bool] = {}
        roles: dict[tuple[str, str], str | None] = {}
        for conn, adm in live:
            p = adm.principal
            try:
                if p not in valid:
                    valid[p] = await self.auth.still_valid(p)
                if (p.user_id, adm.doc_id) not in roles:
                    roles[p.user_id, adm.doc_id] = await self.auth.role(p, adm.doc_id)
            except Exception:
                # The database is unreachable: keep people working; the next pass retries.
                log.warning("auth recheck failed; will retry", exc_info=True)
                return
            role = roles[p.user_id, adm.doc_id]
            if not valid[p]:
                conn.close(CloseCode.UNAUTHENTICATED, "session ended")
            elif role is None or not allowed(role, p, "read"):
                conn.close(CloseCode.FORBIDDEN, "access to this document was revoked")
            elif role != adm.role:
                adm.role = role
                conn.read_only = adm.read_only
                # Tell the client, so an editor UI turns editing on or off without a
                # reload (and without typing into edits the server will refuse).
                conn.role_changed()

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

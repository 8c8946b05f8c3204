"""A room: one open document, its presence, and the peers connected to it.

The edit path lives in ``Room.edit`` and reads top to bottom:
receive -> validate (structure, then apply to the doc) -> append (group commit)
-> fan-out -> ack. The structural check (update_check.py) bounds what one frame
can cost before yrs sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from pycrdt import Doc

from draftroom.bus.base import AWARENESS, PRESENCE_QUERY, UPDATE, Bus, Envelope
from draftroom.crdt.awareness import AwarenessRegistry, PresenceRefused
from draftroom.crdt.protocol import (
    AppMessage,
    AwarenessMessage,
    CloseCode,
    ProtocolError,
    QueryAwarenessMessage,
    SyncMessage,
    SyncType,
    UnknownMessage,
    as_update_frame,
    decode_message,
    encode_app,
    encode_awareness,
    encode_sync,
)
from draftroom.crdt.update_check import (
    SLOW_APPLY_SECONDS,
    STRICT_SECONDS,
    Checked,
    DepthIndex,
    UpdateRefused,
    check_update,
    index_of,
)
from draftroom.errors import Rejected
from draftroom.store.base import Store
from draftroom.telemetry.metrics import HOT
from draftroom.telemetry.tracing import edit_context

log = logging.getLogger(__name__)

# What Yjs sends as sync step 2 when the other side already has everything.
EMPTY_UPDATE = b"\x00\x00"


class Peer(Protocol):
    """One connected client, as a room sees it. Sends never block the room."""

    app_messages: bool  # opted in to Draftroom app messages
    awareness_ids: set[int]
    updates_received: int
    user: str | None  # opaque user id; None for internal peers
    username: str | None  # what collaborators are shown
    read_only: bool  # updates are refused, never applied, stored or broadcast

    @property
    def role(self) -> str | None: ...  # owner, editor, commenter, viewer; None: internal

    def send(self, frame: bytes) -> None: ...

    def ack(self, upto: int, version: int) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


AppHandler = Callable[["Room", Peer, dict[str, Any]], None]


class RoomHooks(Protocol):
    """What features add to every room (``draftroom.features.FeatureHooks``)."""

    # Seconds a peer's presence relay is held, the latest one replacing the ones
    # before (0: relayed at once). Admission control raises it under load, so cursor
    # chatter gives way to edits.
    presence_delay: float

    def app_handler(self, kind: str) -> AppHandler | None: ...

    def on_room_advance(self, room: Room) -> None: ...

    def on_peer_leave(self, room: Room, peer: Peer) -> None: ...  # run by Rooms.leave


class _NoHooks:
    presence_delay = 0.0

    def app_handler(self, kind: str) -> AppHandler | None:
        return None

    def on_room_advance(self, room: Room) -> None:
        return None

    def on_peer_leave(self, room: Room, peer: Peer) -> None:
        return None


NO_HOOKS: RoomHooks = _NoHooks()


@dataclass(frozen=True, slots=True)
class RoomLimits:
    max_document_bytes: int
    compact_after: int  # log entries beyond the snapshot


class Room:
    def __init__(
        self,
        doc_id: str,
        doc: Doc,
        *,
        version: int,
        snapshot_seq: int,
        size_bytes: int,
        store: Store,
        limits: RoomLimits,
        bus: Bus,
        hooks: RoomHooks = NO_HOOKS,
        on_broken: Callable[[Room], None] | None = None,
        depths: DepthIndex | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.doc = doc
        # What update_check knows of every item in self.doc, kept as updates are
        # applied (built by build_doc when the room loads, else from the doc here).
        self.depths = depths if depths is not None else index_of(doc)
        self._strict_until = 0.0  # see update_check.SLOW_APPLY_SECONDS
        # Every update with seq <= version is in self.doc; seqs above it that are
        # in too (ours, or from other nodes out of order) wait in _ahead.
        self.version = version
        self._ahead: set[int] = set()
        self._repair: asyncio.TimerHandle | None = None
        self._catching_up: asyncio.Task[None] | None = None
        self.bus = bus
        self.snapshot_seq = snapshot_seq
        self.size_bytes = size_bytes
        self.store = store
        self.limits = limits
        self.peers: set[Peer] = set()
        self.awareness = AwarenessRegistry()
        # Presence relays held while ``hooks.presence_delay`` is set: the latest per peer.
        self._presence_due: dict[Peer, bytes] = {}
        self._presence_timer: asyncio.TimerHandle | None = None
        self.closed = False
        # Bumped whenever the doc's content may have changed (before it is committed),
        # so readers can reuse what they derived from it while it stays put.
        self.changes = 0
        self._last_append: asyncio.Future[int] | None = None
        self._compaction: asyncio.Task[None] | None = None
        self.gap_repairs = 0
        # The features' app-message handlers, and their on_room_advance (the version
        # moved, from here or other nodes), shared by all rooms.
        self.hooks = hooks
        # Called when the room can no longer guarantee durability and must be dropped.
        self.on_broken = on_broken

    # -- peers ----------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        self.peers.add(peer)
        peer.send(encode_sync(SyncType.STEP1, self.doc.get_state()))
        states = self.awareness.encode_all()
        if states is not None:
            peer.send(encode_awareness(states))
        if peer.app_messages:
            peer.send(self.welcome(peer))

    def welcome(self, peer: Peer) -> bytes:
        # The role comes first so an editor UI can be read-only before any keystroke.
        return encode_app(
            {
                "type": "welcome",
                "doc": self.doc_id,
                "version": self.version,
                "role": peer.role,
                "read_only": peer.read_only,
            }
        )

    def leave(self, peer: Peer) -> None:
        self.peers.discard(peer)
        self._presence_due.pop(peer, None)  # its removal below supersedes it
        removal = self.awareness.remove(peer.awareness_ids)
        if removal is not None:
            self.broadcast(encode_awareness(removal), exclude=None)
            self.publish(AWARENESS, removal)

    def broadcast(self, frame: bytes, exclude: Peer | None) -> None:
        for peer in self.peers:
            if peer is not exclude:
                peer.send(frame)

    def broadcast_app(self, frame: bytes) -> None:
        """An app message for every collaborator that opted in to them."""
        for peer in self.peers:
            if peer.app_messages:
                peer.send(frame)

    def close_all(self, code: int, reason: str) -> None:
        for peer in list(self.peers):
            peer.close(code, reason)

    # -- incoming frames ------------------------------------------------------

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one frame from a peer. Raises Rejected to end that connection."""
        try:
            message = decode_message(frame)
        except UnknownMessage as exc:
            raise Rejected(str(exc), close_code=CloseCode.UNSUPPORTED_MESSAGE) from None
        except ProtocolError as exc:
            raise Rejected(str(exc), close_code=CloseCode.MALFORMED_MESSAGE) from None
        if isinstance(message, SyncMessage):
            if message.subtype == SyncType.STEP1:
                self.answer_step1(peer, message.payload)
            else:
                self.edit(peer, frame, message)
        elif isinstance(message, AwarenessMessage):
            self.presence(peer, frame, message.update)
        elif isinstance(message, QueryAwarenessMessage):
            states = self.awareness.encode_all()
            if states is not None:
                peer.send(encode_awareness(states))
        elif isinstance(message, AppMessage):
            self.app_message(peer, message.data)
        # Auth messages carry nothing a server acts on until authentication exists.

    def presence(self, peer: Peer, frame: bytes, update: bytes) -> None:
        """Record and relay a peer's awareness, minus entries for ids it does not own."""
        try:
            relay, dropped = self.awareness.apply(update, peer.awareness_ids)
        except PresenceRefused as exc:
            raise Rejected(f"presence refused: {exc}", close_code=CloseCode.TOO_COMPLEX) from None
        except ProtocolError as exc:
            raise Rejected(
                f"bad awareness update: {exc}", close_code=CloseCode.MALFORMED_MESSAGE
            ) from None
        if dropped and peer.app_messages:
            peer.send(
                encode_app(
                    {
                        "type": "error",
                        "code": "presence_not_yours",
                        "message": f"{dropped} awareness entries belong to other clients; ignored",
                    }
                )
            )
        if relay is None:
            return
        if self.hooks.presence_delay > 0:
            self._presence_due[peer] = relay
            if self._presence_timer is None:
                self._presence_timer = asyncio.get_running_loop().call_later(
                    self.hooks.presence_delay, self._relay_presence
                )
            return
        self.broadcast(frame if relay is update else encode_awareness(relay), exclude=peer)
        self.publish(AWARENESS, relay)

    def _relay_presence(self) -> None:
        self._presence_timer = None
        due, self._presence_due = self._presence_due, {}
        if self.closed:
            return
        for peer, relay in due.items():
            self.broadcast(encode_awareness(relay), exclude=peer)
            self.publish(AWARENESS, relay)

    def answer_step1(self, peer: Peer, state_vector: bytes) -> None:
        try:
            diff = self.doc.get_update(state_vector)
        except ValueError:
            raise Rejected(
                "malformed state vector in sync step 1", close_code=CloseCode.MALFORMED_MESSAGE
            ) from None
        peer.send(encode_sync(SyncType.STEP2, diff))

    def app_message(self, peer: Peer, data: dict[str, Any]) -> None:
        # Sending any app message opts a client in to Draftroom's messages.
        peer.app_messages = True
        if data["type"] == "hello":
            peer.send(self.welcome(peer))
            return
        handler = self.hooks.app_handler(data["type"])
        if handler is not None:
            handler(self, peer, data)
            return
        peer.send(
            encode_app(
                {
                    "type": "error",
                    "code": "unknown_app_message",
                    "message": f"unknown app message type {data['type'][:64]!r}",
                }
            )
        )

    # -- the edit path --------------------------------------------------------

    async def room_to_edit(self) -> None:
        """Wait while the commit queue is full, as a client's reader does (server/ws.py),
        for server-side peers (agents, imports) about to call ``edit``; returns at once
        if the room closes. Call ``edit`` right after, with no await in between, or the
        queue may fill again meanwhile."""
        committer = self.store.committer
        while committer.congested and not self.closed:
            # Wakes now and then to notice the room closed meanwhile (drain).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(committer.wait_for_room(), 0.5)

    def edit(self, peer: Peer, frame: bytes, message: SyncMessage) -> None:
        # 1. receive: number the peer's updates so acks can say "saved up to N".
        peer.updates_received += 1
        HOT.updates_in += 1
        upto = peer.updates_received
        update = message.payload
        if update == EMPTY_UPDATE:
            self._ack_after(peer, upto, self._last_append)
            return
        if peer.read_only:
            # A viewer or commenter: drop the edit before it touches the doc. The socket
            # stays open (it still gets sync and presence); opted-in clients learn why.
            if peer.app_messages:
                peer.send(
                    encode_app(
                        {
                            "type": "error",
                            "code": "read_only",
                            "message": "your role on this document cannot edit; change not saved",
                        }
                    )
                )
            return
        if self.size_bytes + len(update) > self.limits.max_document_bytes:
            raise Rejected(
                "document size limit reached; edit not saved",
                close_code=CloseCode.DOCUMENT_TOO_LARGE,
            )
        # 2. validate: its structure within bounds (nesting, size, cost), then by
        # applying. Yrs decodes the whole update before integrating it, so a
        # malformed one raises here having changed nothing.
        checked = self._check(update)
        if checked is None:
            self._resync(peer, message)
            return
        if not self._apply_client_update(update, checked, message.subtype == SyncType.STEP2):
            # A reconnecting client's step 2 often repeats what we have (Yjs always
            # sends its whole delete set): nothing to store or relay.
            self._ack_after(peer, upto, self._last_append)
            return
        self.size_bytes += len(update)
        # 3. append: queued for the next group commit.
        saved = self.store.append(self.doc_id, update)
        self._last_append = saved
        # 4. fan-out to this node's other peers now; other nodes get it after commit.
        self.broadcast(as_update_frame(frame, message), exclude=peer)
        HOT.updates_out += len(self.peers) - 1
        # 5. ack once committed.
        # A sampled edit's trace context rides this callback (to the bus publish).
        saved.add_done_callback(
            partial(self._saved, peer, upto, update), context=edit_context(self.doc_id, saved)
        )

    def _check(self, update: bytes) -> Checked | None:
        """The update's parse, within bounds; None if it builds on content this room
        lacks (see ``_resync``). Raises Rejected for the rest."""
        try:
            strict = self._strict_until > time.monotonic()
            return check_update(update, self.depths, strict=strict)
        except UpdateRefused as exc:
            if exc.missing:
                return None
            if exc.malformed:
                raise Rejected(
                    f"invalid update: {exc.reason}", close_code=CloseCode.INVALID_UPDATE
                ) from None
            raise Rejected(
                f"update refused: {exc.reason}; edit not saved", close_code=CloseCode.TOO_COMPLEX
            ) from None

    def _resync(self, peer: Peer, message: SyncMessage) -> None:
        """An update that builds on content this room does not have yet: typically a
        client that failed over from a stopped node types on before its sync step 2
        lands here, or before that node's last updates reach this one. Closing it
        with 4422 would end it for good (y-websocket never reconnects on 44xx), and
        its unsaved edits with it. Nothing is applied or acknowledged; the client
        still holds the update, so a sync step 1 asks it for a step 2 of everything
        this room lacks, which carries the update and what it builds on."""
        if message.subtype == SyncType.UPDATE:
            peer.send(encode_sync(SyncType.STEP1, self.doc.get_state()))
            return
        # A step 2 already holds everything the client has that this room lacks, so
        # the missing part is missing on the client too (parked there, waiting for
        # it): asking again would only repeat it. Reconnecting later resyncs.
        raise Rejected(
            "sync step 2 depends on content this server does not have yet; reconnect to resync",
            close_code=CloseCode.TRY_AGAIN_LATER,
        )

    def _apply_client_update(self, update: bytes, checked: Checked, detect_noop: bool) -> bool:
        """Apply or raise Rejected; with detect_noop, return whether anything changed.

        Yrs fires doc observers only for transactions that change the document, so
        a temporary observer tells a no-op from an edit. Only sync step 2 pays
        for it; plain updates are always new.
        """
        changed = not detect_noop
        subscription = None
        if detect_noop:

            def on_change(_event: object) -> None:
                nonlocal changed
                changed = True

            subscription = self.doc.observe(on_change)
        try:
            started = time.perf_counter()
            self.doc.apply_update(update)
            elapsed = time.perf_counter() - started
            if elapsed > SLOW_APPLY_SECONDS:
                self._strict_until = time.monotonic() + STRICT_SECONDS
                log.warning(
                    "an update to %s took %.0f ms to apply; taking only small ones for %.0f s",
                    self.doc_id, elapsed * 1000, STRICT_SECONDS,
                )  # fmt: skip
        except ValueError as exc:
            raise Rejected(
                f"invalid update: {str(exc)[:80]}", close_code=CloseCode.INVALID_UPDATE
            ) from None
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except BaseException:  # a Rust panic (pyo3 PanicException) may leave the doc unsafe
            log.exception("applying an update panicked in %s; dropping the room", self.doc_id)
            self.break_room("internal error while applying an edit")
            raise Rejected(
                "internal error while applying the edit", close_code=CloseCode.UNAVAILABLE
            ) from None
        finally:
            if subscription is not None:
                self.doc.unobserve(subscription)
        self.depths.record(checked)
        self.changes += changed
        return changed

    def _saved(self, peer: Peer, upto: int, update: bytes, saved: asyncio.Future[int]) -> None:
        if saved.cancelled() or saved.exception() is not None:
            self.break_room("storage unavailable; unsaved edits will be re-sent on reconnect")
            return
        seq = saved.result()
        self._mark(seq)
        if peer.app_messages:
            peer.ack(upto, seq)
        # 6. other nodes: published once, after commit, with its sequence number.
        self.publish(UPDATE, update, seq)
        if seq - self.snapshot_seq >= self.limits.compact_after and self._compaction is None:
            self._compaction = asyncio.get_running_loop().create_task(self._compact())

    def _ack_after(self, peer: Peer, upto: int, pending: asyncio.Future[int] | None) -> None:
        if not peer.app_messages:
            return
        if pending is None or pending.done():
            peer.ack(upto, self.version)
        else:
            pending.add_done_callback(lambda _: peer.ack(upto, self.version))

    # -- other nodes ----------------------------------------------------------

    def publish(self, kind: str, payload: Any, seq: int = 0) -> None:
        self.bus.publish(Envelope(self.bus.node_id, self.doc_id, kind, payload, seq))

    def _mark(self, seq: int) -> None:
        """Record that update ``seq`` is in the doc; advance the watermark."""
        if seq <= self.version:
            return
        self._ahead.add(seq)
        advanced = False
        while self.version + 1 in self._ahead:
            self.version += 1
            self._ahead.discard(self.version)
            advanced = True
        if advanced:
            self.hooks.on_room_advance(self)
        if self._ahead and self._repair is None:
            # A hole may be our own commit whose result we have not processed yet,
            # or a message pub/sub lost. Give it a moment, then read the store.
            self._repair = asyncio.get_running_loop().call_later(0.2, self._check_gap)

    def _check_gap(self) -> None:
        self._repair = None
        if self._ahead and not self.closed:
            self.catch_up()

    def remote_update(self, seq: int, update: bytes) -> None:
        """An update another node committed."""
        if self.closed or seq <= self.version or seq in self._ahead:
            return
        self._apply_remote(update)
        self._mark(seq)

    def _integrate(self, update: bytes, snapshot: bool = False) -> bool:
        """Apply an update checked at its edge (another node, the store); keep the
        depth index true. Only what would kill or freeze the process (stored
        before the checks existed) is refused here: logged, not applied."""
        try:
            checked = check_update(update, self.depths, trusted=True, snapshot=snapshot)
        except UpdateRefused as exc:
            log.error("refused a stored or relayed update for %s: %s", self.doc_id, exc.reason)
            return False
        self.doc.apply_update(update)
        self.depths.record(checked)
        return True

    def _apply_remote(self, update: bytes) -> None:
        if not self._integrate(update):
            return
        self.changes += 1
        self.size_bytes += len(update)
        self.broadcast(encode_sync(SyncType.UPDATE, update), exclude=None)
        HOT.updates_out += len(self.peers)

    def remote_awareness(self, update: bytes) -> None:
        try:
            relay, _ = self.awareness.apply(update)
        except ProtocolError:
            return
        if relay is not None:
            self.broadcast(encode_awareness(relay), exclude=None)

    def query_presence(self) -> None:
        self.publish(PRESENCE_QUERY, b"")

    def answer_presence_query(self) -> None:
        # Only our own clients' states: relaying relayed ones would echo forever.
        states = self.awareness.encode_all(local_only=True)
        if states is not None:
            self.publish(AWARENESS, states)

    def catch_up(self) -> None:
        """Read from the store whatever this room has not seen (gap repair)."""
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.get_running_loop().create_task(self._catch_up())

    async def _catch_up(self) -> None:
        start = self.version
        try:
            rows = await self.store.updates_since(self.doc_id, start)
            if rows and rows[0][0] <= start + 1:
                how = "log"
            elif rows:
                how = "snapshot"  # compaction folded the start of the missed range
            elif (await self.store.versions([self.doc_id])).get(self.doc_id, 0) > start:
                how = "snapshot"  # compaction folded all of it: no rows are left
            else:
                return
            if how == "snapshot":
                await self._reload()
                rows = []
            for seq, update in rows:
                if not self.closed and seq > self.version and seq not in self._ahead:
                    self._apply_remote(update)
                self._mark(seq)
            self.gap_repairs += 1
            log.info(
                "caught up %s from the store: version %d -> %d (%s)",
                self.doc_id,
                start,
                self.version,
                how,
            )
        except Exception:
            log.exception("catching up %s from the store failed; will retry", self.doc_id)
            if not self.closed:
                asyncio.get_running_loop().call_later(1.0, self.catch_up)

    async def _reload(self) -> None:
        """Merge the whole stored document in: what we missed is no longer in the
        log as separate updates, only inside the snapshot."""
        state = await self.store.load(self.doc_id)
        before = self.doc.get_state()
        for update in ([state.snapshot] if state.snapshot else []) + state.updates:
            self._integrate(update, snapshot=update is state.snapshot)
        self.changes += 1
        self.snapshot_seq = max(self.snapshot_seq, state.snapshot_seq)
        diff = self.doc.get_update(before)
        if diff != EMPTY_UPDATE:
            self.broadcast(encode_sync(SyncType.UPDATE, diff), exclude=None)
        if state.seq > self.version:
            self.version = state.seq
            self._ahead = {s for s in self._ahead if s > self.version}
            while self.version + 1 in self._ahead:
                self.version += 1
                self._ahead.discard(self.version)
            self.hooks.on_room_advance(self)

    async def _compact(self) -> None:
        try:
            result = await self.store.compact(self.doc_id)
            if result is not None:
                self.snapshot_seq = result.snapshot_seq
                self.size_bytes = result.snapshot_bytes + result.remaining_bytes
        except Exception:
            log.exception("compaction of %s failed; the log is intact", self.doc_id)
        finally:
            self._compaction = None

    def break_room(self, reason: str) -> None:
        """Drop this room: peers reconnect, reload from the store, and re-send
        whatever was not saved (their sync step 2 carries it)."""
        if self.closed:
            return
        self.closed = True
        self.close_all(CloseCode.UNAVAILABLE, reason)
        if self.on_broken is not None:
            self.on_broken(self)

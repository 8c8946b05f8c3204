"""The Feature contract: the one way anything above the node plugs into it.

Auth, agents, export, analytics and telemetry are all features. Each is an object
with the same optional hooks; the composition root (``server/app.py``) builds them
and hands the list to ``Node.install``. Nothing else patches handlers onto rooms,
the bus or the store, so everything a feature adds to a node can be read in one
class, and a new feature (search, webhooks, history) needs no new hook list.

The hooks, all optional (``BaseFeature`` gives no-op defaults):

    routes()             HTTP/WebSocket routes, joined into one ordered table
                         (``server/routes.py``)
    control_handlers()   node-wide messages by "type" ("auth.revoke", "user.deleted"),
                         run on every node by ``Node.broadcast_control``
    app_handlers()       client app messages by "type" ("agent.invoke"), run in the
                         room that received them
    on_room_advance(r)   a room's version moved (edits from here or other nodes); on
                         the edit path, so it must only note the fact and return
    on_peer_leave(r, p)  a peer left a room (e.g. cancel the work it asked for)
    start() / stop()     background work; started in list order once the store and
                         bus are up, stopped in reverse order before they go down

The models are Hocuspocus's ``Extension`` interface, where every hook is optional and
one runner calls them in order, and Datasette's hookspecs, where built-ins use the
very hooks a plugin would. A domain package implements the hooks it needs on its
service class; its HTTP edge in ``server/`` adds ``routes()``, so domain packages
never import Starlette routing. Services are found by type: ``node.feature(Auth)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from draftroom.crdt.room import AppHandler, Peer, Room

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

ControlHandler = Callable[[dict[str, Any]], None]
F = TypeVar("F")


@runtime_checkable
class Feature(Protocol):
    def routes(self) -> Sequence[BaseRoute]: ...

    def control_handlers(self) -> Mapping[str, ControlHandler]: ...

    def app_handlers(self) -> Mapping[str, AppHandler]: ...

    def on_room_advance(self, room: Room) -> None: ...

    def on_peer_leave(self, room: Room, peer: Peer) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class BaseFeature:
    """No-op defaults: a feature overrides only the hooks it uses."""

    def routes(self) -> Sequence[BaseRoute]:
        return ()

    def control_handlers(self) -> Mapping[str, ControlHandler]:
        return {}

    def app_handlers(self) -> Mapping[str, AppHandler]:
        return {}

    def on_room_advance(self, room: Room) -> None:
        return None

    def on_peer_leave(self, room: Room, peer: Peer) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def _overrides(feature: Feature, name: str) -> bool:
    # Skipping BaseFeature's no-ops keeps the per-edit hook (on_room_advance) at the
    # cost of the features that actually listen.
    return getattr(type(feature), name, None) is not getattr(BaseFeature, name)


class FeatureHooks:
    """The features' hooks, merged once at install and run in list order.

    Rooms receive this object in their constructor (``crdt.room.RoomHooks``); the node
    fills it when the composition root installs the features, before any room opens.
    """

    def __init__(self) -> None:
        self.features: tuple[Feature, ...] = ()
        self.control: dict[str, ControlHandler] = {}
        self.app: dict[str, AppHandler] = {}
        self._advance: tuple[Callable[[Room], None], ...] = ()
        self._leave: tuple[Callable[[Room, Peer], None], ...] = ()

    def install(self, features: Iterable[Feature]) -> None:
        if self.features:
            raise RuntimeError("features are installed once, by the composition root")
        self.features = tuple(features)
        for feature in self.features:
            _merge(self.control, feature.control_handlers(), "control", feature)
            _merge(self.app, feature.app_handlers(), "app", feature)
        self._advance = tuple(
            f.on_room_advance for f in self.features if _overrides(f, "on_room_advance")
        )
        self._leave = tuple(
            f.on_peer_leave for f in self.features if _overrides(f, "on_peer_leave")
        )

    # -- crdt.room.RoomHooks ------------------------------------------------------

    def app_handler(self, kind: str) -> AppHandler | None:
        return self.app.get(kind)

    def on_room_advance(self, room: Room) -> None:
        for hook in self._advance:
            hook(room)

    def on_peer_leave(self, room: Room, peer: Peer) -> None:
        for hook in self._leave:
            hook(room, peer)

    # -- lookups ---------------------------------------------------------------------

    def find(self, kind: type[F]) -> F | None:
        for feature in self.features:
            if isinstance(feature, kind):
                return feature
        return None


def _merge(into: dict[str, Any], handlers: Mapping[str, Any], what: str, owner: object) -> None:
    for kind, handler in handlers.items():
        if kind in into:
            raise ValueError(f"two features handle the {what} message {kind!r} ({owner!r})")
        into[kind] = handler

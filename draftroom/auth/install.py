"""Wiring auth into an app and its hub (called once from ``create_app``)."""

from __future__ import annotations

from starlette.applications import Starlette

from draftroom.auth.kicker import Kicker
from draftroom.auth.service import Auth
from draftroom.server.hub import Hub


def install(app: Starlette, hub: Hub) -> Auth:
    auth = Auth(hub)
    kicker = Kicker(auth)

    async def start() -> None:
        await auth.start()
        await kicker.start()

    async def stop() -> None:
        await kicker.stop()
        await auth.stop()

    hub.on_start.append(start)
    hub.on_stop.append(stop)
    app.state.auth = auth
    app.state.auth_kicker = kicker
    return auth

"""How a handler finds the node and the features it needs.

The node is the one thing on ``app.state``; every service is a feature of it, found
by type, so a handler's dependencies are typed and there is no bag of attributes to
keep in sync with the composition root (``server/app.py``).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from draftroom.auth.service import Auth
from draftroom.node import Node


def node_of(conn: HTTPConnection) -> Node:
    node: Node = conn.app.state.node
    return node


def auth_of(conn: HTTPConnection) -> Auth:
    return node_of(conn).feature(Auth)

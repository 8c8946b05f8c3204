"""HTTP API for auth: login/logout, users (admin), API tokens, document sharing.

POST   /api/sessions                         log in -> token + cookies
DELETE /api/sessions                         log out (this session)
GET    /api/me                               who am I
GET    /api/users            POST /api/users           site admin
DELETE /api/users/{user}                               site admin
GET    /api/tokens           POST /api/tokens          own API tokens
DELETE /api/tokens/{id}
GET    /api/documents/{doc}/members                    read
PUT    /api/documents/{doc}/members/{user}   {"role"}  share
DELETE /api/documents/{doc}/members/{user}             share (or leaving yourself)
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from draftroom.auth.api_tokens import MAX_NAME, SCOPES
from draftroom.auth.origins import CSRF_COOKIE, SESSION_COOKIE
from draftroom.auth.permissions import ROLES
from draftroom.auth.service import Auth
from draftroom.auth.tokens_util import csrf_token
from draftroom.errors import (
    DraftroomError,
    Forbidden,
    Invalid,
    LastOwner,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from draftroom.server.body import json_object
from draftroom.server.credentials import client_ip
from draftroom.server.services import auth_of
from draftroom.times import iso


def _auth(request: Request) -> Auth:
    return auth_of(request)


def _string(body: dict[str, Any], name: str, limit: int = 1024) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Invalid(f"{name} must be a non-empty string")
    return value


# -- sessions --------------------------------------------------------------------------


async def login(request: Request) -> Response:
    auth = _auth(request)
    body = await json_object(request, allowed={"username", "password"}, public=True)
    username = _string(body, "username", 64)
    password = _string(body, "password")
    s = auth.settings
    # Failures count per (address, account), never per account alone: that would let
    # anyone lock a chosen user out by failing on purpose. Every attempt counts per
    # address, which bounds guessing (and parallel bursts) from one place.
    address = client_ip(request)
    failures = f"login:fail:{address}:{username.lower()}"
    wait = await auth.limiter.hit(f"login:ip:{address}", s.login_ip_rate_per_minute, 60)
    if wait is None:
        wait = await auth.limiter.over(failures, s.login_rate_per_minute, 60)
    if wait is not None:
        raise RateLimited("too many login attempts; wait and try again", retry_after=wait)
    user = await auth.users.check_password(username, password)
    if user is None:
        await auth.limiter.hit(failures, s.login_rate_per_minute, 60)
        raise Unauthenticated("wrong username or password", code="bad_credentials")
    secret, session = await auth.sessions.create(user)
    csrf = csrf_token(secret)
    response = JSONResponse(
        {
            "token": secret,
            "csrf_token": csrf,
            "expires_at": iso(session.expires_at),
            "user": user.to_json(),
        },
        status_code=201,
    )
    ttl = int(s.session_ttl_seconds)
    secure = s.session_cookie_secure
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=ttl, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(CSRF_COOKIE, csrf, max_age=ttl, samesite="lax", secure=secure)
    return response


async def logout(request: Request) -> Response:
    auth = _auth(request)
    principal = await auth.require(request)
    if principal.session_hash is None:
        raise DraftroomError("log out a session; revoke API tokens instead", code="not_a_session")
    await auth.logout(principal.session_hash)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


async def me(request: Request) -> Response:
    p = await _auth(request).require(request)
    return JSONResponse(
        {
            "id": p.user_id,
            "username": p.username,
            "admin": p.is_admin,
            "via": p.via,
            "scopes": sorted(p.scopes),
        }
    )


# -- users (site admin) -------------------------------------------------------------


async def list_users(request: Request) -> Response:
    auth = _auth(request)
    await auth.require_admin(request)
    return JSONResponse({"users": [u.to_json() for u in await auth.users.list()]})


async def create_user(request: Request) -> Response:
    auth = _auth(request)
    await auth.require_admin(request)
    body = await json_object(request, allowed={"username", "password", "admin"})
    admin = body.get("admin", False)
    if not isinstance(admin, bool):
        raise Invalid("admin must be true or false")
    user = await auth.users.create(
        _string(body, "username", 64), _string(body, "password"), admin=admin
    )
    return JSONResponse(user.to_json(), status_code=201)


async def delete_user(request: Request) -> Response:
    auth = _auth(request)
    await auth.require_admin(request)
    user = await auth.users.find(request.path_params["user"])
    if user is None:
        raise NotFound("no such user")
    try:
        await auth.delete_user(user.id)
    except LastOwner as exc:
        listed = ", ".join(exc.documents[:20]) + (", ..." if len(exc.documents) > 20 else "")
        raise LastOwner(
            f"{user.username} is the only owner of {len(exc.documents)} document(s):"
            f" {listed}. Make someone else owner, or delete them, first",
            documents=exc.documents,
        ) from None
    return Response(status_code=204)


# -- API tokens ---------------------------------------------------------------------


async def list_tokens(request: Request) -> Response:
    auth = _auth(request)
    p = await auth.require(request)
    return JSONResponse({"tokens": [t.to_json() for t in await auth.tokens.list(p.user_id)]})


async def create_token(request: Request) -> Response:
    auth = _auth(request)
    p = await auth.require(request)
    if p.anonymous:
        raise Forbidden("the anonymous local user cannot hold API tokens")
    if p.via != "session":
        # Tokens do not expire, so a token that minted tokens would outlive its own
        # revocation through them: only a logged-in user makes tokens.
        raise Forbidden("log in to create API tokens", code="session_required")
    body = await json_object(request, allowed={"name", "scopes"})
    name = _string(body, "name", MAX_NAME)
    scopes = body.get("scopes", ["read"])
    if (
        not isinstance(scopes, list)
        or not scopes
        or not all(isinstance(x, str) and x in SCOPES for x in scopes)
    ):
        raise Invalid(f"scopes must be a non-empty list of {SCOPES}", code="invalid_scopes")
    if not set(scopes) <= p.scopes:
        raise Forbidden("a token cannot have scopes its creator lacks")
    secret, token = await auth.tokens.create(p.user_id, name, scopes)
    return JSONResponse({**token.to_json(), "token": secret}, status_code=201)


async def delete_token(request: Request) -> Response:
    auth = _auth(request)
    p = await auth.require(request)
    token = await auth.tokens.get(request.path_params["token_id"])
    if token is None or (token.user_id != p.user_id and not p.is_admin):
        raise NotFound("no such token")
    if p.via == "token" and token.id != p.token_id:
        # Else a leaked read token could revoke its owner's admin token.
        raise Forbidden("an API token can revoke only itself; log in", code="session_required")
    await auth.revoke_token(token.id)
    return Response(status_code=204)


# -- sharing ------------------------------------------------------------------------


async def list_members(request: Request) -> Response:
    auth = _auth(request)
    doc_id = request.path_params["doc_id"]
    await auth.authorize(request, doc_id, "read")
    rows = await auth.members.of_document(doc_id)
    return JSONResponse(
        {"members": [{"user": r["username"], "id": r["user_id"], "role": r["role"]} for r in rows]}
    )


async def put_member(request: Request) -> Response:
    auth = _auth(request)
    doc_id = request.path_params["doc_id"]
    await auth.authorize(request, doc_id, "share")
    body = await json_object(request, allowed={"role"})
    role = body.get("role")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    user = await auth.users.find(request.path_params["user"])
    if user is None:
        raise NotFound("no such user")
    await auth.set_role(doc_id, user.id, str(role))
    return JSONResponse({"user": user.username, "id": user.id, "role": role})


async def delete_member(request: Request) -> Response:
    auth = _auth(request)
    doc_id = request.path_params["doc_id"]
    user = await auth.users.find(request.path_params["user"])
    p = await auth.require(request)
    if user is None or user.id != p.user_id:
        await auth.authorize(request, doc_id, "share")  # anyone may leave; others need share
    removed = user is not None and await auth.set_role(doc_id, user.id, None)
    if not removed:
        raise NotFound("that user has no role on this document")
    return Response(status_code=204)


routes = [
    Route("/api/sessions", login, methods=["POST"]),
    Route("/api/sessions", logout, methods=["DELETE"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{user}", delete_user, methods=["DELETE"]),
    Route("/api/tokens", list_tokens, methods=["GET"]),
    Route("/api/tokens", create_token, methods=["POST"]),
    Route("/api/tokens/{token_id}", delete_token, methods=["DELETE"]),
    Route("/api/documents/{doc_id:doc}/members", list_members, methods=["GET"]),
    Route("/api/documents/{doc_id:doc}/members/{user}", put_member, methods=["PUT"]),
    Route("/api/documents/{doc_id:doc}/members/{user}", delete_member, methods=["DELETE"]),
]

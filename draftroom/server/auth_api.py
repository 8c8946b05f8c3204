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
from draftroom.auth.permissions import ROLES, LastOwner
from draftroom.auth.service import Auth, RateLimited, client_ip
from draftroom.auth.tokens_util import csrf_token
from draftroom.auth.users import UserError
from draftroom.server.api import _doc_id
from draftroom.server.body import json_object
from draftroom.server.errors import ApiError
from draftroom.server.services import auth_of


def _auth(request: Request) -> Auth:
    return auth_of(request)


def _string(body: dict[str, Any], name: str, limit: int = 1024) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ApiError(422, "invalid", f"{name} must be a non-empty string")
    return value


# -- sessions --------------------------------------------------------------------------


async def login(request: Request) -> Response:
    auth = _auth(request)
    body = await json_object(request)
    username = _string(body, "username", 64)
    password = _string(body, "password")
    s = auth.settings
    for key, limit in (
        (f"login:ip:{client_ip(request)}", s.login_ip_rate_per_minute),
        (f"login:user:{username.lower()}", s.login_rate_per_minute),
    ):
        wait = await auth.limiter.hit(key, limit, 60)
        if wait is not None:
            raise RateLimited("too many login attempts; wait and try again", wait)
    user = await auth.users.check_password(username, password)
    if user is None:
        raise ApiError(401, "bad_credentials", "wrong username or password")
    secret, session = await auth.sessions.create(user)
    csrf = csrf_token(secret)
    response = JSONResponse(
        {
            "token": secret,
            "csrf_token": csrf,
            "expires_at": session.expires_at,
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
        raise ApiError(400, "not_a_session", "log out a session; revoke API tokens instead")
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
    body = await json_object(request)
    admin = body.get("admin", False)
    if not isinstance(admin, bool):
        raise ApiError(422, "invalid", "admin must be true or false")
    try:
        user = await auth.users.create(
            _string(body, "username", 64), _string(body, "password"), admin=admin
        )
    except UserError as exc:
        raise ApiError(409 if exc.code == "exists" else 422, exc.code, str(exc)) from None
    return JSONResponse(user.to_json(), status_code=201)


async def delete_user(request: Request) -> Response:
    auth = _auth(request)
    await auth.require_admin(request)
    user = await auth.users.find(request.path_params["user"])
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    await auth.delete_user(user.id)
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
        raise ApiError(403, "forbidden", "the anonymous local user cannot hold API tokens")
    body = await json_object(request)
    name = _string(body, "name", MAX_NAME)
    scopes = body.get("scopes", ["read"])
    if (
        not isinstance(scopes, list)
        or not scopes
        or not all(isinstance(x, str) and x in SCOPES for x in scopes)
    ):
        raise ApiError(422, "invalid_scopes", f"scopes must be a non-empty list of {SCOPES}")
    if not set(scopes) <= p.scopes:
        raise ApiError(403, "forbidden", "a token cannot have scopes its creator lacks")
    secret, token = await auth.tokens.create(p.user_id, name, scopes)
    return JSONResponse({**token.to_json(), "token": secret}, status_code=201)


async def delete_token(request: Request) -> Response:
    auth = _auth(request)
    p = await auth.require(request)
    token = await auth.tokens.get(request.path_params["token_id"])
    if token is None or (token.user_id != p.user_id and not p.is_admin):
        raise ApiError(404, "not_found", "no such token")
    await auth.revoke_token(token.id)
    return Response(status_code=204)


# -- sharing ------------------------------------------------------------------------


async def list_members(request: Request) -> Response:
    auth = _auth(request)
    doc_id = _doc_id(request)
    await auth.authorize(request, doc_id, "read")
    rows = await auth.members.of_document(doc_id)
    return JSONResponse(
        {"members": [{"user": r["username"], "id": r["user_id"], "role": r["role"]} for r in rows]}
    )


async def put_member(request: Request) -> Response:
    auth = _auth(request)
    doc_id = _doc_id(request)
    await auth.authorize(request, doc_id, "share")
    body = await json_object(request)
    role = body.get("role")
    if role not in ROLES:
        raise ApiError(422, "invalid_role", f"role must be one of {', '.join(ROLES)}")
    user = await auth.users.find(request.path_params["user"])
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    try:
        await auth.set_role(doc_id, user.id, str(role))
    except LastOwner:
        raise _last_owner() from None
    return JSONResponse({"user": user.username, "id": user.id, "role": role})


async def delete_member(request: Request) -> Response:
    auth = _auth(request)
    doc_id = _doc_id(request)
    user = await auth.users.find(request.path_params["user"])
    p = await auth.require(request)
    if user is None or user.id != p.user_id:
        await auth.authorize(request, doc_id, "share")  # anyone may leave; others need share
    try:
        removed = user is not None and await auth.set_role(doc_id, user.id, None)
    except LastOwner:
        raise _last_owner() from None
    if not removed:
        raise ApiError(404, "not_found", "that user has no role on this document")
    return Response(status_code=204)


def _last_owner() -> ApiError:
    return ApiError(409, "last_owner", "a document needs an owner: make someone else owner first")


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
    Route("/api/documents/{doc_id:path}/members", list_members, methods=["GET"]),
    Route("/api/documents/{doc_id:path}/members/{user}", put_member, methods=["PUT"]),
    Route("/api/documents/{doc_id:path}/members/{user}", delete_member, methods=["DELETE"]),
]

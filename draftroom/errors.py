"""Every failure Draftroom reports to a client, as one tree of exceptions.

An error carries what each transport needs, so code deep in a feature raises one
exception and never decides how it is shown: the HTTP handler in
``server/errors.py`` turns it into ``status`` + ``{"error": code, "message": ...}``
(+ ``headers``), and a WebSocket closes with ``close_code`` and the message as reason.
``code`` is a stable, machine-readable string; a subclass has a default and a raise
site may narrow it (``NotFound("...", code="unknown_agent")``).

One argument order everywhere: ``Error(message, *, code=..., headers=...)``.

    DraftroomError                  400 bad_request
    ├── Invalid                     422 invalid
    │   ├── UserError                   (auth/users.py: bad name, weak password)
    │   ├── OptionError                 (export/params.py: a bad export option)
    │   └── AgentError                  (agents/base.py: any agent failure; carries its
    │       │                            own status: 404, 409, 429, 503 where fitting)
    │       └── LLMError                502 (agents/llm/client.py: the endpoint failed)
    ├── Unauthenticated             401 unauthenticated   close 4401
    ├── Forbidden                   403 forbidden         close 4403
    ├── NotFound                    404 not_found
    │   └── MissingDocuments            (export/jobs.py: names the unknown ids)
    ├── Conflict                    409 conflict
    │   ├── Exists                      409 exists  (a user or document already there)
    │   │   └── DocumentExists              (auth/service.py: whoever holds the id)
    │   └── LastOwner                   409 last_owner (``documents``: which ones)
    ├── DocumentDeleted             410 deleted           close 4404 (ids are not reused)
    ├── PayloadTooLarge             413 too_large
    ├── RateLimited                 429 rate_limited      close 4429, Retry-After
    ├── Unavailable                 503 unavailable       close 1011
    │   ├── Busy                        (export/jobs.py: too many jobs)
    │   └── Overloaded              503 overloaded        close 1013, Retry-After
    │                                   (admission/: the node is at a limit)
    └── Rejected                    a frame that ends the connection which sent it
                                    (crdt/room.py, server/ws.py); close code per raise

``AgentError`` takes ``status=`` rather than splitting into subclasses, so the agent
protocol keeps one exception type for plugins to raise and catch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from draftroom.crdt.protocol import CloseCode


class DraftroomError(Exception):
    """Base of every client-facing error: HTTP status, stable code, message."""

    status: int = 400
    code: str = "bad_request"
    close_code: CloseCode | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class Invalid(DraftroomError):
    status, code = 422, "invalid"


class Unauthenticated(DraftroomError):
    status, code, close_code = 401, "unauthenticated", CloseCode.UNAUTHENTICATED


class Forbidden(DraftroomError):
    status, code, close_code = 403, "forbidden", CloseCode.FORBIDDEN


class NotFound(DraftroomError):
    status, code = 404, "not_found"


class Conflict(DraftroomError):
    status, code = 409, "conflict"


class Exists(Conflict):
    code = "exists"


class DocumentExists(Exists):
    """The id is taken: a document has it, or someone already holds a role on it."""


class LastOwner(Conflict):
    """The change would leave a document with no owner (``documents``: which ones)."""

    code = "last_owner"

    def __init__(
        self,
        message: str = "a document needs an owner: make someone else owner first",
        *,
        documents: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.documents = documents or []


class DocumentDeleted(DraftroomError):
    """The id belonged to a deleted document; deleted ids stay deleted."""

    status, code, close_code = 410, "deleted", CloseCode.DOCUMENT_DELETED


class PayloadTooLarge(DraftroomError):
    status, code = 413, "too_large"


class RateLimited(DraftroomError):
    status, code, close_code = 429, "rate_limited", CloseCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
        self.retry_after = retry_after


class Unavailable(DraftroomError):
    status, code, close_code = 503, "unavailable", CloseCode.UNAVAILABLE


class Overloaded(Unavailable):
    """The node is at one of its admission limits; another node (or this one, a
    little later) will take the client. ``retry_after`` is a hint in seconds."""

    code, close_code = "overloaded", CloseCode.TRY_AGAIN_LATER

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
        self.retry_after = retry_after


class Rejected(DraftroomError):
    """A frame that ends the connection which sent it; the close code says why."""

    code = "rejected"
    close_code: CloseCode

    def __init__(self, message: str, *, close_code: CloseCode) -> None:
        super().__init__(message, code=close_code.name.lower())
        self.close_code = close_code

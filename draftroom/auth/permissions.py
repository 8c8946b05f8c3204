"""Document roles and what each may do (the guard routes call is
``auth.service.authorize``).

    action   owner editor commenter viewer   token scope needed
    read       x     x       x        x      read
    export     x     x       x        x      read
    comment    x     x       x               write
    edit       x     x                       write
    share      x                             admin
    delete     x                             admin

Site admins (and the anonymous local user) act as owner of every document.
"""

from __future__ import annotations

import time
from typing import Any

from draftroom.auth.principal import Principal
from draftroom.errors import LastOwner
from draftroom.store.base import SQL, document_order

ROLES = ("owner", "editor", "commenter", "viewer")
ACTIONS = ("read", "export", "comment", "edit", "share", "delete")

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "owner": frozenset(ACTIONS),
    "editor": frozenset({"read", "export", "comment", "edit"}),
    "commenter": frozenset({"read", "export", "comment"}),
    "viewer": frozenset({"read", "export"}),
}

SCOPE_FOR_ACTION = {
    "read": "read",
    "export": "read",
    "comment": "write",
    "edit": "write",
    "share": "admin",
    "delete": "admin",
}


def allowed(role: str | None, principal: Principal, action: str) -> bool:
    if role is None or action not in ROLE_ACTIONS[role]:
        return False
    return SCOPE_FOR_ACTION[action] in principal.scopes


class Members:
    """document_members: one role per (document, user)."""

    def __init__(self, sql: SQL) -> None:
        self.sql = sql

    async def role(self, doc_id: str, user_id: str) -> str | None:
        row = await self.sql.fetchrow(
            "SELECT role FROM document_members WHERE doc_id = $1 AND user_id = $2",
            doc_id,
            user_id,
        )
        return str(row["role"]) if row else None

    async def grant(self, doc_id: str, user_id: str, role: str) -> None:
        """Give ``user_id`` this role; raises LastOwner rather than demote the last owner."""
        changed = await self.sql.execute(
            "INSERT INTO document_members (doc_id, user_id, role, granted_at)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role"
            f" WHERE excluded.role = 'owner' OR {_NOT_LAST_OWNER}",
            doc_id,
            user_id,
            role,
            time.time(),
        )
        if changed == 0 and await self.role(doc_id, user_id) != role:
            raise LastOwner()

    async def any(self, doc_id: str) -> bool:
        """True if anyone holds a role on ``doc_id``."""
        row = await self.sql.fetchrow(
            "SELECT 1 AS x FROM document_members WHERE doc_id = $1 LIMIT 1", doc_id
        )
        return row is not None

    async def sole_owned(self, user_id: str) -> list[str]:
        """Documents whose only owner is ``user_id``: they would be left ownerless."""
        rows = await self.sql.fetch(
            "SELECT m.doc_id FROM document_members m WHERE m.user_id = $1 AND m.role = 'owner'"
            " AND NOT EXISTS (SELECT 1 FROM document_members o WHERE o.doc_id = m.doc_id"
            " AND o.role = 'owner' AND o.user_id <> $1) ORDER BY m.doc_id",
            user_id,
        )
        return [r["doc_id"] for r in rows]

    async def revoke(self, doc_id: str, user_id: str) -> bool:
        """Remove the role; False if there was none. Raises LastOwner rather than leave
        the document without an owner (nobody could share or delete it any more)."""
        removed = await self.sql.execute(
            "DELETE FROM document_members WHERE doc_id = $1 AND user_id = $2"
            f" AND {_NOT_LAST_OWNER}",
            doc_id,
            user_id,
        )
        if removed == 0 and await self.role(doc_id, user_id) == "owner":
            raise LastOwner()
        return removed > 0

    async def roles(self, user_id: str, doc_ids: list[str]) -> dict[str, str]:
        """``user_id``'s role on each of ``doc_ids`` that they hold one on (one query)."""
        if not doc_ids:
            return {}
        marks = ", ".join(f"${i}" for i in range(2, len(doc_ids) + 2))
        rows = await self.sql.fetch(
            f"SELECT doc_id, role FROM document_members WHERE user_id = $1 AND doc_id IN ({marks})",
            user_id,
            *doc_ids,
        )
        return {r["doc_id"]: str(r["role"]) for r in rows}

    async def remove_document(self, doc_id: str) -> None:
        await self.sql.execute("DELETE FROM document_members WHERE doc_id = $1", doc_id)

    async def of_document(self, doc_id: str) -> list[dict[str, Any]]:
        return await self.sql.fetch(
            "SELECT m.user_id, u.username, m.role, m.granted_at FROM document_members m"
            " JOIN users u ON u.id = m.user_id WHERE m.doc_id = $1 ORDER BY u.username",
            doc_id,
        )

    async def documents_of(
        self,
        user_id: str,
        limit: int,
        offset: int,
        sort: str = "updated_at",
        descending: bool = True,
    ) -> list[str]:
        """A page of the documents ``user_id`` holds a role on, in the same order as
        the store's ``list_documents`` (hence the join: the order is the documents')."""
        rows = await self.sql.fetch(
            "SELECT m.doc_id FROM document_members m JOIN documents ON documents.id = m.doc_id"
            f" WHERE m.user_id = $1 {document_order(sort, descending)} LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
        )
        return [r["doc_id"] for r in rows]


# True unless the row is its document's only owner. One statement, so two owners
# demoting each other at once cannot both succeed on SQLite (one writer at a time);
# on PostgreSQL two such statements racing could, and a site admin can still fix it.
_NOT_LAST_OWNER = (
    "(document_members.role <> 'owner' OR (SELECT count(*) FROM document_members o"
    " WHERE o.doc_id = document_members.doc_id AND o.role = 'owner') > 1)"
)


async def role_of(members: Members, principal: Principal, doc_id: str) -> str | None:
    if principal.is_admin:
        return "owner"
    return await members.role(doc_id, principal.user_id)

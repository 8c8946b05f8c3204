"""Cache keys: what a reply depends on, hashed.

The digest covers the document id, the agent's name and version, the model, the
normalized parameters and the exact input context (the text or selection the agent
reads). An edit changes the input, so it changes the key: a changed document can
never be answered from an older reply, and no invalidation is needed for correctness.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

PREFIX = "draftroom:agent:"


@dataclass(frozen=True, slots=True)
class EntryKey:
    agent: str
    doc_id: str
    digest: str  # sha256 hex of everything the reply depends on

    @property
    def doc_hash(self) -> str:
        # Document ids may contain ':'; a fixed-width hash keeps Redis key patterns
        # for "every entry of this document" exact.
        return doc_hash(self.doc_id)

    @property
    def redis_key(self) -> str:
        return f"{PREFIX}{self.agent}:{self.doc_hash}:{self.digest}"


def doc_hash(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode()).hexdigest()[:16]


def make_key(
    *,
    agent: str,
    version: str,
    model: str,
    params: dict[str, Any],
    context: str,
    doc_id: str,
) -> EntryKey:
    h = hashlib.sha256()
    header = json.dumps(
        {"agent": agent, "version": version, "model": model, "params": params, "doc": doc_id},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    h.update(header.encode())
    h.update(b"\x00")
    h.update(context.encode("utf-8", "surrogatepass"))
    return EntryKey(agent, doc_id, h.hexdigest())


def redis_pattern(agent: str | None, doc_id: str | None) -> str:
    """A SCAN MATCH pattern for entries of an agent, a document, both or all."""
    return f"{PREFIX}{agent or '*'}:{doc_hash(doc_id) if doc_id else '*'}:*"

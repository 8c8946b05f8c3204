"""Which export formats exist: the built-in writers plus any registered under the
``draftroom.export_formats`` entry-point group.

Each writer module exposes ``FORMAT = ExportFormat(...)``; nothing else names the
formats, so the HTTP API, export jobs and ``draftroom export`` all accept exactly what
is registered here. A third-party package adds a format without forking Draftroom::

    [project.entry-points."draftroom.export_formats"]
    txt = "my_package.plaintext:FORMAT"

The registry is filled on first use, not at import: the writers pull in python-docx
and friends, which ``draftroom --help`` and the edit path should not pay for. An entry
point that fails to load, or is not an ``ExportFormat``, is logged and skipped; it
never stops the server.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from draftroom.plugins import entry_points

if TYPE_CHECKING:
    from draftroom.document.tree import Document
    from draftroom.export.options import ExportOptions

log = logging.getLogger(__name__)

GROUP = "draftroom.export_formats"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

# Listed here, not as entry points of our own package: a checkout run without an
# installed distribution (or with stale metadata) still has every built-in.
BUILTIN_MODULES = (
    "draftroom.export.markdown",
    "draftroom.export.docx",
    "draftroom.export.pdf",
    "draftroom.export.html",
    "draftroom.export.scrivener",
)


@dataclass(frozen=True)
class ExportFormat:
    """A named writer: ``render`` turns documents into one file's bytes.

    ``render`` runs in an export worker process, so it must be a module-level
    function (picklable) and must not touch the event loop.
    """

    name: str  # the URL and CLI name: /export/{name}, --format {name}
    content_type: str
    extension: str  # appended to the file name, with its dot: ".docx", ".scriv.zip"
    render: Callable[[list[Document], ExportOptions], bytes]


class UnknownFormat(ValueError):
    def __init__(self, name: str, known: Mapping[str, ExportFormat]) -> None:
        super().__init__(f"unknown export format {name!r}; use one of {', '.join(known)}")
        self.name = name


_formats: dict[str, ExportFormat] = {}
_loaded = False


def register_format(fmt: object, *, source: str = "") -> bool:
    """Add one format; the entry-point loader calls this for each entry point.

    A later format with a taken name replaces it (so a plugin can override a
    built-in writer), with a warning. Returns False, logging why, for anything that
    is not a well-named ``ExportFormat``.
    """
    _load()  # the built-ins first, so a plugin registered early can still replace one
    where = source or repr(fmt)
    if not isinstance(fmt, ExportFormat):
        log.error("export format %s skipped: not an ExportFormat", where)
        return False
    if not NAME_RE.match(fmt.name):
        log.error("export format %s skipped: name must match %s", where, NAME_RE.pattern)
        return False
    if not fmt.extension.startswith("."):
        log.error("export format %s skipped: extension must start with '.'", where)
        return False
    existing = _formats.get(fmt.name)
    if existing is not None and existing != fmt:
        log.warning("export format %r from %s replaces an earlier one", fmt.name, where)
    _formats[fmt.name] = fmt
    return True


def known_formats() -> Mapping[str, ExportFormat]:
    """Every registered format by name, in registration order (built-ins first)."""
    _load()
    return _formats


def get_format(name: str) -> ExportFormat:
    known = known_formats()
    try:
        return known[name]
    except KeyError:
        raise UnknownFormat(name, known) from None


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        register_format(importlib.import_module(module).FORMAT, source=module)
    for ep in entry_points(GROUP):
        try:
            loaded = ep.load()
        except Exception:
            log.exception("export format entry point %s could not be loaded; skipped", ep.value)
            continue
        register_format(loaded, source=ep.value)

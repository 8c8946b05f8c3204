"""Safe, unique file names and a ZIP writer that hands out bytes as it goes."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator

from draftroom.export.safety import safe_name

_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)


def safe_stem(title: str) -> str:
    """A file name stem from a title that is valid on Windows, macOS and Linux: within
    ``MAX_NAME_BYTES`` UTF-8 bytes, so with " (2)" and any extension it fits 255."""
    stem = safe_name(title).rstrip(" .")
    if not stem:
        return "Untitled"
    if _RESERVED.match(stem):
        stem = "_" + stem
    return stem


class UniqueNames:
    """Hands out names that differ case-insensitively: "A", "A (2)", "A (3)"."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def name(self, title: str, extension: str) -> str:
        stem = safe_stem(title)
        candidate, n = stem + extension, 1
        while candidate.casefold() in self._taken:
            n += 1
            candidate = f"{stem} ({n}){extension}"
        self._taken.add(candidate.casefold())
        return candidate


class ChunkSink(io.RawIOBase):
    """An unseekable stream: zipfile then writes data descriptors and never seeks back,
    so what has been written can be handed out (and forgotten) right away."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def drain(self) -> Iterator[bytes]:
        chunks, self._chunks = self._chunks, []
        yield from chunks


ERRORS_NAME = "EXPORT-ERRORS.txt"


class ZipWriter:
    """A ZIP built one entry at a time; each call returns the bytes ready to send.

    For callers that produce entries asynchronously (the server renders them in
    worker processes) and so cannot hand ``zip_stream`` an iterator.

    A document that cannot be rendered is skipped and named in ``EXPORT-ERRORS.txt``
    inside the ZIP (``skip``): the archive streams while it is built, after a 200
    status, so failing would leave the reader a truncated file, and failing up front
    would mean rendering the whole batch before the first byte. The archive is always
    complete, and says what is missing and why.
    """

    def __init__(self) -> None:
        self._sink = ChunkSink()
        self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
        self.skipped: list[str] = []

    def add(self, name: str, data: bytes) -> list[bytes]:
        self._zip.writestr(name, data)
        return list(self._sink.drain())

    def skip(self, label: str, error: BaseException) -> None:
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        self.skipped.append(f"{label}: not exported ({type(error).__name__}: {reason})")

    def abandon(self) -> None:
        """The reader went away: finish the archive into the void, so the ZipFile is not
        left to close itself at garbage collection on a stream that is already gone."""
        if self._zip.fp is not None:
            self._zip.close()
            self._sink.drain()

    def close(self) -> list[bytes]:
        if self.skipped:
            report = "Documents left out of this export:\n" + "\n".join(self.skipped) + "\n"
            self._zip.writestr(ERRORS_NAME, report.encode("utf-8"))
        self._zip.close()
        return list(self._sink.drain())


def zip_stream(entries: Iterator[tuple[str, Callable[[], bytes]]]) -> Iterator[bytes]:
    """Yield a ZIP archive chunk by chunk while the entries are still being made.

    Each entry is a name and a function that renders it; one that raises is left
    out and reported inside the archive (see ``ZipWriter``).
    """
    writer = ZipWriter()
    for name, render in entries:
        try:
            data = render()
        except Exception as exc:
            writer.skip(name, exc)
            continue
        yield from writer.add(name, data)
    yield from writer.close()

"""Scrivener 3 project writer: a ZIP holding ``Name.scriv/`` as Scrivener saves it.

Layout (learnt from projects saved by Scrivener 3):
  Name.scriv/Name.scrivx                     binder XML, Version="2.0"
  Name.scriv/Files/version.txt               "23"
  Name.scriv/Files/Data/<UUID>/content.rtf   one per non-empty text item
  Name.scriv/Files/Data/docs.checksum        "<UUID>/content.rtf=<sha1>" lines
  Name.scriv/Settings/
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
import zipfile
from datetime import datetime
from typing import IO
from xml.etree import ElementTree as ET

from draftroom.document.tree import Document, split_scenes
from draftroom.export.formats import ExportFormat
from draftroom.export.options import ExportOptions
from draftroom.export.rtf import render_rtf

CREATOR = "Draftroom-0.1.0"
FORMAT_VERSION = "23"


def project_name(options: ExportOptions, docs: list[Document]) -> str:
    title = options.project_title or (docs[0].title if docs else "") or "Draftroom"
    # The package name is also a folder name on macOS and Windows.
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title).strip(" .")
    return name[:80] or "Draftroom"


def render_scrivener(docs: list[Document], options: ExportOptions) -> bytes:
    out = io.BytesIO()
    write_scrivener(docs, options, out)
    return out.getvalue()


def write_scrivener(docs: list[Document], options: ExportOptions, out: IO[bytes]) -> None:
    name = project_name(options, docs)
    root = f"{name}.scriv"
    stamp = _date(options.now)
    files: dict[str, bytes] = {}

    def text_item(doc: Document) -> ET.Element:
        item_id = _uuid()
        item = _binder_item(item_id, "Text", doc.title or "Untitled", stamp)
        if doc.blocks:  # Scrivener gives empty items no Data folder
            files[f"{item_id}/content.rtf"] = render_rtf(doc)
        return item

    draft = _binder_item(_uuid(), "DraftFolder", "Draft", stamp)
    children = ET.SubElement(draft, "Children")
    for doc in docs:
        if options.split_scenes:
            folder = _binder_item(_uuid(), "Folder", doc.title or "Untitled", stamp)
            scenes = ET.SubElement(folder, "Children")
            for scene in split_scenes(doc):
                scenes.append(text_item(scene))
            children.append(folder)
        else:
            children.append(text_item(doc))

    project = ET.Element(
        "ScrivenerProject",
        {
            "Version": "2.0",
            "Identifier": _uuid(),
            "Creator": CREATOR,
            "Author": options.author,
            "Modified": stamp,
            "ModID": _uuid(),
        },
    )
    binder = ET.SubElement(project, "Binder")
    binder.append(draft)
    binder.append(_binder_item(_uuid(), "ResearchFolder", "Research", stamp))
    binder.append(_binder_item(_uuid(), "TrashFolder", "Trash", stamp))
    ET.indent(project, space="    ")
    scrivx = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(project, encoding="utf-8")

    checksum = "".join(
        f"{path}={hashlib.sha1(data).hexdigest()}\n" for path, data in sorted(files.items())
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.writestr(f"{root}/{name}.scrivx", scrivx)
        z.writestr(f"{root}/Files/version.txt", FORMAT_VERSION)
        for path, data in files.items():
            z.writestr(f"{root}/Files/Data/{path}", data)
        z.writestr(f"{root}/Files/Data/docs.checksum", checksum)
        z.writestr(zipfile.ZipInfo(f"{root}/Settings/"), b"")


def _binder_item(item_id: str, kind: str, title: str, stamp: str) -> ET.Element:
    item = ET.Element(
        "BinderItem", {"UUID": item_id, "Type": kind, "Created": stamp, "Modified": stamp}
    )
    ET.SubElement(item, "Title").text = title
    meta = ET.SubElement(item, "MetaData")
    ET.SubElement(meta, "IncludeInCompile").text = "Yes"
    return item


def _uuid() -> str:
    return str(uuid.uuid4()).upper()


def _date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")


# A .scriv project is a folder, so it travels zipped.
FORMAT = ExportFormat("scriv", "application/zip", ".scriv.zip", render_scrivener)

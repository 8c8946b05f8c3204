from __future__ import annotations

import hashlib
import re
import zipfile
from xml.etree import ElementTree as ET

from draftroom.export.rtf import escape

from .conftest import Artifacts, run
from .samples import is_subsequence, source_words, words

UUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$")


def check_project(z: zipfile.ZipFile) -> ET.Element:
    """The structure Scrivener 3 itself saves (see the module docstring of scrivener.py)."""
    names = z.namelist()
    root = names[0].split("/")[0]
    assert root.endswith(".scriv") and all(n.startswith(root + "/") for n in names)
    project_name = root[: -len(".scriv")]
    assert z.read(f"{root}/Files/version.txt") == b"23"
    assert f"{root}/Settings/" in names
    project = ET.fromstring(z.read(f"{root}/{project_name}.scrivx"))
    assert project.tag == "ScrivenerProject" and project.get("Version") == "2.0"
    for attr in ("Identifier", "ModID"):
        assert UUID.match(project.get(attr, "")), attr
    assert DATE.match(project.get("Modified", ""))
    top = [item.get("Type") for item in project.findall("./Binder/BinderItem")]
    assert sorted(top) == ["DraftFolder", "ResearchFolder", "TrashFolder"]
    data = f"{root}/Files/Data/"
    checksums = dict(
        line.split("=", 1) for line in z.read(data + "docs.checksum").decode().splitlines()
    )
    for item in project.iter("BinderItem"):
        assert UUID.match(item.get("UUID", "")) and DATE.match(item.get("Created", ""))
        assert item.find("Title") is not None
        assert item.findtext("MetaData/IncludeInCompile") == "Yes"
        rtf_path = f"{item.get('UUID')}/content.rtf"
        if item.get("Type") == "Text" and item.findtext("Title") != "Empty":
            body = z.read(data + rtf_path)
            assert body.startswith(b"{\\rtf1")
            assert checksums[rtf_path] == hashlib.sha1(body).hexdigest()
    assert all(data + path in names for path in checksums)
    return project


def test_flat_project_structure(artifacts: Artifacts) -> None:
    with zipfile.ZipFile(artifacts.scriv["flat"]) as z:
        project = check_project(z)
        assert z.namelist()[0].startswith("Chapter One.scriv/")
    draft = project.find("./Binder/BinderItem[@Type='DraftFolder']/Children")
    assert draft is not None
    assert [(i.get("Type"), i.findtext("Title")) for i in draft] == [
        ("Text", "Chapter One"),
        ("Text", "Plain Y.Text"),
        ("Text", "Empty"),
    ]
    assert len(artifacts.rtf_by("flat")) == 2  # the empty document has no Data folder


def test_scene_split_project_structure(artifacts: Artifacts) -> None:
    with zipfile.ZipFile(artifacts.scriv["scenes"]) as z:
        project = check_project(z)
    draft = project.find("./Binder/BinderItem[@Type='DraftFolder']/Children")
    assert draft is not None
    assert [i.get("Type") for i in draft] == ["Folder", "Folder", "Folder"]
    scenes = [s.findtext("Title") for s in draft[0].iterfind("Children/BinderItem")]
    assert scenes == ["Chapter One: Départ 🚀", "A Scene", "Deep heading"]


def test_libreoffice_reads_every_rtf_with_text_intact(artifacts: Artifacts) -> None:
    assert artifacts.rtf, "no RTF files were produced"
    all_words: list[str] = []
    for key, txt in artifacts.rtf_txt.items():
        assert txt.exists(), f"LibreOffice could not read {key}"
        text = txt.read_text("utf-8-sig")
        if key.startswith("flat/"):
            all_words += words(text)
        assert "\ufffd" not in text and "??" not in text
    titles = {"Chapter", "One", "Plain", "Y", "Text", "Empty"}
    # Titles live in the binder, not in the RTF; everything else must be there in order
    # (LibreOffice adds the list numbers, which the tree keeps as structure).
    expected = [w for w in source_words(artifacts.docs) if w not in titles]
    assert is_subsequence(expected, all_words), sorted(set(expected) - set(all_words))
    joined = "".join(t.read_text("utf-8-sig") for t in artifacts.rtf_txt.values())
    for sample in (
        "😀👍🏽",
        "\U0001d518\U0001d52b\U0001d526",
        "中文",
        "🎉",
        "{braces}",
        "\\back\\slash",
    ):
        assert sample in joined, sample


def test_pandoc_reads_rtf_formatting(artifacts: Artifacts) -> None:
    rtf = next(
        p
        for k, p in sorted(artifacts.rtf.items())
        if k.startswith("flat/") and b"Williams" in p.read_bytes()
    )
    text = run("pandoc", "-f", "rtf", "-t", "markdown", str(rtf))
    # pandoc 2.17 drops the character after a \\uN? escape (LibreOffice does not),
    # so only ASCII words are compared here; Unicode is checked with LibreOffice above.
    assert "**dark**" in text and "*stormy*" in text and "~~struck~~" in text
    assert "[Underlined]{.underline}" in text and "### Deep heading" in text


def test_rtf_escapes() -> None:
    assert escape("a{b}\\") == "a\\{b\\}\\\\"
    assert escape("é") == "\\u233?"
    assert escape("😀") == "\\u-10179?\\u-8704?"  # surrogate pair D83D DE00
    assert escape("\uffff") == "\\u-1?"

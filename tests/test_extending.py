"""docs/EXTENDING.md's example plugin, installed as pip would lay it out, is used by the
agent, export-format and store registries, the HTTP API and the CLI.

The plugin is built from the page itself (its Python blocks are the module, its TOML
block the entry points), so the documented example cannot rot unnoticed.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Doc, Text
from store import test_contract as contract

import draftroom.export.formats as format_registry
import draftroom.store as store_registry
from devtools.inprocess import make_settings, running_server
from draftroom.agents.base import BaseAgent
from draftroom.agents.registry import load_agents, register
from draftroom.auth.backends import ApiTokenBackend, SessionBackend
from draftroom.auth.service import Auth
from draftroom.cli import main as cli
from draftroom.client import DraftroomClient
from draftroom.export import export_documents, known_formats
from draftroom.export.formats import ExportFormat, get_format
from draftroom.store import create_store, register_store, store_class
from draftroom.store.base import Store
from draftroom.store.sqlite import SQLiteStore

PAGE = Path(__file__).parent.parent / "docs" / "EXTENDING.md"
MODULE = "my_draftroom_plugin"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", PAGE.read_text(), flags=re.M | re.S)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EXTENDING.md's package, installed; the registries forget what they loaded."""
    site = tmp_path / "site"
    info = site / "my_draftroom_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"{MODULE}.py").write_text("\n\n".join(blocks("python")))
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-draftroom-plugin\nVersion: 0.1\n"
    )
    (toml,) = blocks("toml")
    groups = tomllib.loads(toml)["project"]["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
            for group, points in groups.items()
        )
    )
    monkeypatch.syspath_prepend(str(site))
    # Registries load their entry points once per process; start this test from none.
    monkeypatch.setattr(format_registry, "_formats", {})
    monkeypatch.setattr(format_registry, "_loaded", False)
    monkeypatch.setattr(store_registry, "STORES", dict(store_registry.STORES))
    monkeypatch.setattr(store_registry, "_plugins_loaded", False)


def test_the_page_has_one_of_each() -> None:
    (toml,) = blocks("toml")
    groups = tomllib.loads(toml)["project"]["entry-points"]
    assert set(groups) == {
        "draftroom.agents",
        "draftroom.export_formats",
        "draftroom.stores",
        "draftroom.credentials",
    }


def test_the_registries_load_the_example(plugin: None, tmp_path: Path) -> None:
    agents = load_agents()
    shout = agents["shout"]
    # A BaseAgent subclass is used as it is: its defaults come from the class.
    assert isinstance(shout, BaseAgent) and type(shout).__module__ == MODULE
    assert (shout.version, shout.uses_llm, shout.cache_ttl) == ("1", False, None)
    assert {"style", "readability", "outline", "continue"} <= set(agents)

    txt = known_formats()["txt"]
    assert list(known_formats())[:5] == ["md", "docx", "pdf", "html", "scriv"]
    assert (txt.content_type, txt.extension) == ("text/plain; charset=utf-8", ".txt")

    assert store_class("tiny").__name__ == "TinyStore"
    store = create_store(
        database_url=f"tiny:{tmp_path / 'db'}", data_dir=tmp_path, commit_delay=0, max_batch=10
    )
    assert isinstance(store, SQLiteStore) and type(store).__name__ == "TinyStore"
    assert store.path == tmp_path / "db" / "draftroom.sqlite3"


def test_a_format_registered_directly_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(format_registry, "_formats", {})
    monkeypatch.setattr(format_registry, "_loaded", False)
    shout = ExportFormat("shout", "text/plain", ".txt", _render_upper)
    assert format_registry.register_format(shout)
    assert get_format("shout") is shout and "md" in known_formats()  # the built-ins too
    assert export_documents([], "shout") == b"NOTHING"
    # What is not a well-formed format is refused, with the reason logged.
    assert not format_registry.register_format(object())
    assert not format_registry.register_format(ExportFormat("Bad Name", "x/y", ".x", _render_upper))
    assert not format_registry.register_format(ExportFormat("noext", "x/y", "x", _render_upper))
    with pytest.raises(ValueError, match=r"unknown export format 'nope'.*shout"):
        get_format("nope")


def _render_upper(docs: list[Any], options: Any) -> bytes:
    return b"NOTHING" if not docs else b"SOMETHING"


class Echo(BaseAgent):
    name = "echo"

    def cache_input(self, ctx: Any) -> str:
        return str(ctx.input_text)


class OtherSQLite(SQLiteStore):
    pass


def test_agents_and_stores_registered_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    agents = load_agents()
    assert register(agents, Echo(), source="test") and agents["echo"].name == "echo"
    assert not register(agents, object()), "not an agent: skipped"
    assert "style" in agents

    monkeypatch.setattr(store_registry, "STORES", dict(store_registry.STORES))
    register_store("other", OtherSQLite)
    assert store_class("OTHER") is OtherSQLite  # schemes are case-insensitive
    with pytest.raises(ValueError, match="invalid URL scheme"):
        register_store("no spaces", OtherSQLite)
    with pytest.raises(TypeError, match="from_url"):
        register_store("bare", object)  # type: ignore[arg-type]


def test_an_unknown_store_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="no store for database URL scheme 'mysql'"):
        create_store(database_url="mysql://db", data_dir=Path("."), commit_delay=0, max_batch=1)


async def test_the_server_runs_on_the_example_store_agent_and_format(
    plugin: None, tmp_path: Path
) -> None:
    folder = tmp_path / "tiny"
    settings = make_settings(tmp_path / "data", database_url=f"tiny:{folder}")
    async with running_server(settings) as server:
        assert type(server.hub.store).__name__ == "TinyStore"
        async with (
            httpx.AsyncClient(base_url=server.http, timeout=60) as http,
            DraftroomClient(server.ws("ch1")) as client,
        ):
            await client.wait_saved(client.insert("Call me Ishmael."))
            listed = (await http.get("/api/agents")).json()["agents"]
            assert any(a["name"] == "shout" and a["available"] for a in listed)

            response = await http.post("/api/documents/ch1/agents/shout", json={})
            events = [json.loads(line) for line in response.text.splitlines() if line]
            chunks = [e["data"] for e in events if e["type"] == "agent.chunk"]
            assert chunks == [{"text": "CALL ME ISHMAEL."}]

            single = await http.get("/api/documents/ch1/export/txt")
            assert single.status_code == 200, single.text
            assert single.headers["content-type"] == "text/plain; charset=utf-8"
            assert single.text == "\n\nCall me Ishmael."  # untitled: an empty title line

            batch = await http.post("/api/export", json={"documents": ["ch1"], "format": "txt"})
            assert batch.status_code == 200, batch.text
            with zipfile.ZipFile(io.BytesIO(batch.content)) as archive:
                (name,) = archive.namelist()
                assert name.endswith(".txt") and b"Call me Ishmael." in archive.read(name)

            unknown = await http.get("/api/documents/ch1/export/odt")
            assert unknown.status_code == 404
            assert (
                unknown.json()["error"] == "unknown_format" and "txt" in unknown.json()["message"]
            )
    assert (folder / "draftroom.sqlite3").exists(), "the example store kept the document"


def test_the_cli_exports_to_the_example_format(
    plugin: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"tiny:{tmp_path / 'tiny'}"
    asyncio.run(_seed(url, tmp_path, "notes", "Plain words."))
    out = tmp_path / "notes.txt"
    args = ["notes", "--format", "txt", "--database-url", url, "-o", str(out)]
    code = cli(["export", *args, "--export-workers", "1"])
    assert code == 0, capsys.readouterr().err
    assert "Plain words." in out.read_text()

    assert cli(["export", "notes", "--format", "odt", "--database-url", url]) == 2
    assert "invalid choice: 'odt'" in capsys.readouterr().err


async def _seed(url: str, data_dir: Path, doc_id: str, text: str) -> None:
    store = create_store(database_url=url, data_dir=data_dir, commit_delay=0, max_batch=10)
    await store.open()
    try:
        await store.create_document(doc_id, "")
        doc: Doc = Doc()
        doc.get("text", type=Text).insert(0, text)
        await store.append(doc_id, doc.get_update())
    finally:
        await store.close()


@pytest.mark.parametrize(
    "case",
    [
        contract.test_appends_get_dense_sequence_numbers_and_group_commit,
        contract.test_compaction_folds_log_into_snapshot,
        contract.test_metadata_crud,
        contract.test_stats_count_commits_and_show_the_pool,
    ],
    ids=lambda case: case.__name__,
)
async def test_the_example_store_passes_contract_cases(
    plugin: None, tmp_path: Path, case: Any
) -> None:
    store: Store = create_store(
        database_url=f"tiny:{tmp_path / 'tiny'}",
        data_dir=tmp_path,
        commit_delay=0.002,
        max_batch=1000,
    )
    await store.open()
    try:
        await case(store)
    finally:
        await store.close()


async def test_the_example_credential_backend_signs_a_robot_in(
    plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "bot_" + "s3cret" * 6
    monkeypatch.setenv("BUILD_BOT_SECRET", secret)
    settings = make_settings(tmp_path / "data", allow_anonymous=False, auth_recheck_seconds=0.2)
    async with running_server(settings) as server:
        auth = server.hub.feature(Auth)
        kinds = [type(b) for b in auth.backends]
        assert kinds[:2] == [SessionBackend, ApiTokenBackend]
        assert [type(b).__module__ for b in auth.backends[2:]] == [MODULE]

        # The robot creates a document by connecting, edits it, and reads it back.
        async with DraftroomClient(server.ws("build-log") + f"?token={secret}") as client:
            await client.wait_saved(client.insert("Build 42 passed."))
        async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
            bearer = {"Authorization": f"Bearer {secret}"}
            content = await http.get("/api/documents/build-log/content", headers=bearer)
            assert content.status_code == 200, content.text
            assert "Build 42 passed." in json.dumps(content.json())
            me = await http.get("/api/me", headers=bearer)
            assert me.status_code == 200, me.text
            assert me.json()["username"] == "build bot"

            wrong = {"Authorization": "Bearer bot_" + "x" * 36}
            refused = await http.get("/api/documents/build-log/content", headers=wrong)
            assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
        bad = await websockets.connect(server.ws("build-log") + "?token=bot_nope")
        async with asyncio.timeout(10):
            await bad.wait_closed()
        assert (bad.close_code, bad.close_reason) == (4401, "invalid or expired credentials")

        # The re-check asks the backend that signed the robot in: once the secret is
        # withdrawn, the robot's open socket is cut off.
        robot = await auth.principal_for(secret)
        assert robot is not None and robot.via == "bot" and await auth.still_valid(robot)
        assert await auth.principal_for("bot_" + "s3cret" * 6 + "!") is None
        live = await websockets.connect(server.ws("build-log") + f"?token={secret}")
        await live.recv()  # admitted: the server's first sync message
        auth.backends[2].secret = ""  # type: ignore[attr-defined]
        async with asyncio.timeout(10):
            await live.wait_closed()
        assert (live.close_code, live.close_reason) == (4401, "session ended")

"""The README's JavaScript client is a real file, and it works as pasted under Node.

docs/examples/client.mjs runs in a folder that has only the npm packages its header names
(tests/js pins their versions), against a real server, and must see its edit acknowledged
as saved. The README shows the same file, character for character.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

from pycrdt import Text

from devtools.inprocess import make_settings, running_server
from devtools.jsclient import JS_DIR, find_node
from draftroom.document.load import build_doc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "client.mjs"


def test_readme_shows_the_example_file_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "```js\n" + EXAMPLE.read_text() + "```" in readme


async def test_the_example_client_edits_and_sees_its_save_acknowledged(tmp_path: Path) -> None:
    node = find_node()
    project = tmp_path / "project"  # a user's folder: the example and its packages only
    project.mkdir()
    shutil.copy(EXAMPLE, project / "client.mjs")
    (project / "node_modules").symlink_to(JS_DIR / "node_modules")
    async with running_server(make_settings(tmp_path / "server")) as srv:
        env = {
            **os.environ,
            "DRAFTROOM_URL": f"ws://127.0.0.1:{srv.port}/ws",
            "DRAFTROOM_DOC": "example",
        }
        proc = await asyncio.create_subprocess_exec(
            node, "client.mjs", cwd=project, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, (out.decode(), err.decode())
        messages = [
            json.loads(line.removeprefix("draftroom: "))
            for line in out.decode().splitlines()
            if line.startswith("draftroom: ")
        ]
        assert messages[0]["type"] == "welcome" and messages[0]["doc"] == "example", messages
        assert messages[0]["version"] == 0 and messages[0]["read_only"] is False, messages
        assert messages[-1]["type"] == "saved" and messages[-1]["version"] >= 1, messages
        state = await srv.hub.store.load("example")
        stored = build_doc(state.snapshot, state.updates).get("text", type=Text)
        assert str(stored) == "It was a dark and stormy night."

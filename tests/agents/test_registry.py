"""Third-party agents arrive through the ``draftroom.agents`` entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

from devtools.inprocess import make_settings, running_server
from draftroom.agents.registry import load_agents
from draftroom.client import DraftroomClient

from .helpers import invoke, reply_of

PLUGIN = """
class ToneAgent:
    name = "tone"
    version = "3"
    description = "Counts exclamation marks."
    params_schema = {"type": "object", "properties": {}}

    def cache_input(self, ctx):
        return ctx.input_text

    async def run(self, ctx):
        yield {"exclamations": ctx.input_text.count("!")}


class NotAnAgent:
    pass
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution declaring agents, as pip would lay it out."""
    site = tmp_path / "site"
    info = site / "draftroom_tone-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "draftroom_tone.py").write_text(textwrap.dedent(PLUGIN))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: draftroom-tone\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[draftroom.agents]\n"
        "tone = draftroom_tone:ToneAgent\n"
        "broken = draftroom_tone:DoesNotExist\n"
        "invalid = draftroom_tone:NotAnAgent\n"
    )
    monkeypatch.syspath_prepend(str(site))


def test_entry_point_agents_are_loaded_and_bad_ones_skipped(plugin: None) -> None:
    agents = load_agents()
    assert agents["tone"].version == "3"
    assert agents["tone"].uses_llm is False and agents["tone"].cache_ttl is None
    # The defaults come from a wrapper: the plugin's own object is left as it was.
    plugin_object = getattr(agents["tone"], "inner", agents["tone"])
    assert type(plugin_object).__name__ == "ToneAgent"
    assert not hasattr(plugin_object, "uses_llm") and not hasattr(plugin_object, "cache_ttl")
    assert agents["tone"].cache_params({"a": 1}) == {"a": 1}
    assert "broken" not in agents and "invalid" not in agents
    assert {"style", "readability", "outline", "continue"} <= set(agents)


async def test_a_third_party_agent_is_listed_and_runs(plugin: None, tmp_path: Path) -> None:
    async with running_server(make_settings(tmp_path)) as server:
        async with httpx.AsyncClient(timeout=30) as http:
            listed = (await http.get(f"{server.http}/api/agents")).json()["agents"]
            tone = next(a for a in listed if a["name"] == "tone")
            assert tone["available"] and tone["description"] == "Counts exclamation marks."
            async with DraftroomClient(server.ws("doc")) as client:
                await client.wait_saved(client.insert("Wow! Really!"))
                _, events = await invoke(http, server.http, "doc", "tone")
                assert reply_of(events) == [{"exclamations": 2}]
                again, _ = await invoke(http, server.http, "doc", "tone")
                assert again.headers["x-agent-cache"] == "hit"

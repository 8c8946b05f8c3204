"""What the cluster scale tests share: one account and document per writer, made
through the load balancer, and a node's open-socket count from its /metrics."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import httpx

from devtools.cluster import Cluster

PASSWORD = "pw-cluster-123456"


async def connections(http_url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        scrape = (await http.get(f"{http_url}/metrics")).text
    found = re.search(r"^draftroom_websocket_connections(?:\{[^}]*\})? (\S+)$", scrape, re.M)
    return int(float(found.group(1))) if found else 0


async def writer_accounts(
    cluster: Cluster, http: httpx.AsyncClient, count: int
) -> list[tuple[str, str]]:
    """``count`` users ``w0``... each with a session token and a document ``doc-<name>``."""
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "draftroom", "user", "create", "admin", "--admin",
         "--password-stdin", "--database-url", cluster.database_url],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    r = await http.post("/api/sessions", json={"username": "admin", "password": PASSWORD})
    admin = {"Authorization": f"Bearer {r.json()['token']}"}
    accounts = []
    for i in range(count):
        name = f"w{i}"
        r = await http.post(
            "/api/users", json={"username": name, "password": PASSWORD}, headers=admin
        )
        assert r.status_code == 201, r.text
        r = await http.post("/api/sessions", json={"username": name, "password": PASSWORD})
        token = r.json()["token"]
        r = await http.post(
            "/api/documents",
            json={"id": f"doc-{name}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        accounts.append((name, token))
    return accounts

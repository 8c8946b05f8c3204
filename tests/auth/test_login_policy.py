"""Login limits count the real client: nobody can lock out someone else, and a forged
X-Forwarded-For neither evades a limit nor frames another address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from auth.helpers import add_user, auth_server, password_of

BAD = {"username": "ann", "password": "wrong-password"}


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_failed_logins_elsewhere_do_not_lock_the_user_out(tmp_path: Path) -> None:
    limits: dict[str, Any] = {"login_rate_per_minute": 3, "forwarded_allow_ips": "127.0.0.1"}
    async with auth_server(tmp_path, **limits) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            attacker = _from("203.0.113.9")
            codes = [
                (await http.post("/api/sessions", json=BAD, headers=attacker)).status_code
                for _ in range(5)
            ]
            assert codes == [401, 401, 401, 429, 429]
            # The attacker is stopped even with the right password now...
            good = {"username": "ann", "password": password_of("ann")}
            r = await http.post("/api/sessions", json=good, headers=attacker)
            assert r.status_code == 429
            # ...but ann, from her own address, is not.
            r = await http.post("/api/sessions", json=good, headers=_from("198.51.100.7"))
            assert r.status_code == 201, r.text


async def test_every_attempt_counts_per_address(tmp_path: Path) -> None:
    limits: dict[str, Any] = {"login_ip_rate_per_minute": 4, "forwarded_allow_ips": "127.0.0.1"}
    async with auth_server(tmp_path, **limits) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            codes = [
                (
                    await http.post(
                        "/api/sessions",
                        json={"username": f"user{i}", "password": "guess-123456"},
                        headers=_from("203.0.113.9"),
                    )
                ).status_code
                for i in range(6)
            ]
            assert codes == [401, 401, 401, 401, 429, 429]


def forged_attempts(base_url: str, n: int) -> list[int]:
    """``n`` failed logins from this client, each claiming another X-Forwarded-For."""
    with httpx.Client(base_url=base_url) as http:
        return [
            http.post(
                "/api/sessions",
                json={"username": "nobody", "password": "guess-123456"},
                headers=_from(f"10.0.{i}.1"),
            ).status_code
            for i in range(n)
        ]


def test_forged_forwarded_for_is_not_trusted_by_default(draftroom_process: Any) -> None:
    node = draftroom_process("--login-ip-rate-per-minute", "3", anonymous=False)
    assert forged_attempts(node.http_url, 5) == [401, 401, 401, 429, 429]

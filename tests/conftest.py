"""Shared fixtures: real PostgreSQL / Redis / Draftroom processes and the JS Yjs harness.

Fixtures
    free_port                     -> Callable[[], int]   (call it: ``free_port()``)
    postgres_server   (session)   -> PostgresServer | ExternalPostgres
    postgres_url      (function)  -> str   fresh database "test_<hex>" on postgres_server
    module_postgres_url (module)  -> str   the same, shared by one module's tests
    pgbouncer         (session)   -> PgBouncer (transaction mode) in front of postgres_server
    pgbouncer_url     (function)  -> str   postgres_url's database, reached through pgbouncer
    redis_server      (session)   -> RedisServer | ExternalRedis
    redis_url         (function)  -> str   redis://127.0.0.1:P/0 after FLUSHALL
    draftroom_process (function)  -> factory(*extra_args, env=None, start=True, **kw)
                                     -> DraftroomProcess; all are stopped at teardown
    js                (function)  -> JSHarness (async), node stopped at teardown

DRAFTROOM_TEST_POSTGRES_URL / DRAFTROOM_TEST_REDIS_URL: use those servers instead of starting
our own (then the kill/stop/restart methods are unavailable and raise).
Services are started once per session, on demand. A missing binary is an error, not a skip.

Property tests (Hypothesis) run under the "ci" profile unless HYPOTHESIS_PROFILE names
another: a fixed derandomized sequence of examples, so a red run is red again on rerun and
a green one does not turn red by luck. Long random searches are a separate command,
``scripts/fuzz`` (profile "long"), which runs only the tests marked ``property`` (every
Hypothesis test is marked automatically).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis.internal.conjecture import providers as _hypothesis_providers

from devtools.draftroom import DraftroomProcess
from devtools.jsclient import JSHarness
from devtools.pgbouncer import PgBouncer
from devtools.postgres import ExternalPostgres, PostgresServer, run_sql
from devtools.process import ServiceError
from devtools.process import free_port as _free_port
from devtools.redis import ExternalRedis, RedisServer

# `@pytest.mark.serial`: a test that must have the machine to itself under xdist
pytest_plugins = ["devtools.pytest_serial"]

# -- Hypothesis profiles ----------------------------------------------------------------------

hypothesis_settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=40, database=None, print_blob=True
)
hypothesis_settings.register_profile(
    "long", derandomize=False, deadline=None, max_examples=2000, print_blob=True
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Hypothesis mixes constants it finds in every module loaded so far into what it
# generates, so a derandomized test's examples would depend on which tests ran before
# it in the same process: green alone, red in the whole suite (and the other way round
# whenever a test is added). Its own fixed constants stay; the harvested ones go.
_hypothesis_providers._get_local_constants = lambda: _hypothesis_providers._local_constants


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "property: a Hypothesis test (scripts/fuzz runs these)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)


# -- outcome of each test phase, so teardowns can print logs only on failure -----------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(getattr(getattr(node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a currently free TCP port on 127.0.0.1."""
    return _free_port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | ExternalPostgres]:
    yield from _session_server("DRAFTROOM_TEST_POSTGRES_URL", ExternalPostgres, PostgresServer)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer | ExternalPostgres) -> Iterator[str]:
    """URL of a brand-new empty database (dropped again afterwards)."""
    yield from _fresh_database(postgres_server)


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server: PostgresServer | ExternalPostgres) -> Iterator[str]:
    """Like postgres_url, but one database for a whole module: for module-scoped servers
    whose tests only read what the fixture wrote."""
    yield from _fresh_database(postgres_server)


def _fresh_database(postgres_server: PostgresServer | ExternalPostgres) -> Iterator[str]:
    if isinstance(postgres_server, PostgresServer) and not postgres_server.running:
        postgres_server.start()  # an earlier test killed/stopped it
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    if postgres_server.running:
        try:
            run_sql(postgres_server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                    timeout=10)  # fmt: skip
        except Exception:  # best effort: the test may have left the server broken
            pass


@pytest.fixture(scope="session")
def pgbouncer(postgres_server: PostgresServer | ExternalPostgres) -> Iterator[PgBouncer]:
    if not isinstance(postgres_server, PostgresServer):
        pytest.skip("pgbouncer is started only in front of the managed PostgreSQL")
    bouncer = PgBouncer(postgres_server.port, pool_size=4)
    try:
        yield bouncer.start()
    finally:
        bouncer.cleanup()


@pytest.fixture
def pgbouncer_url(pgbouncer: PgBouncer, postgres_url: str) -> str:
    return pgbouncer.database_url(postgres_url.rsplit("/", 1)[-1])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | ExternalRedis]:
    yield from _session_server("DRAFTROOM_TEST_REDIS_URL", ExternalRedis, RedisServer)


class _Managed(Protocol):
    def start(self) -> object: ...
    def cleanup(self) -> None: ...


_E = TypeVar("_E")
_M = TypeVar("_M", bound=_Managed)


def _session_server(
    env: str, external: Callable[[str], _E], managed: Callable[[], _M]
) -> Iterator[_E | _M]:
    """The server the URL in ``env`` names (CI's service container), else one started
    here for the session and cleaned up after it."""
    url = os.environ.get(env)
    if url:
        yield external(url)
        return
    server = managed()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer | ExternalRedis) -> str:
    """redis://127.0.0.1:P/0, emptied (FLUSHALL) for this test."""
    if isinstance(redis_server, RedisServer) and not redis_server.running:
        redis_server.start()  # an earlier test killed/stopped it (same port)
    redis_server.command("FLUSHALL")
    return redis_server.url


DraftroomFactory = Callable[..., DraftroomProcess]


@pytest.fixture
def draftroom_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DraftroomFactory]:
    """Factory: ``proc = draftroom_process("--postgres-url", url, env={...})`` starts
    `python -m draftroom serve ...` (waits for /healthz) and returns the DraftroomProcess.
    Pass start=False to get it unstarted, anonymous=False to require auth (the default
    passes --allow-anonymous); other kwargs go to DraftroomProcess. Data and logs
    live in tmp_path/draftroom<N>/. All processes are stopped at teardown; their log tails
    are printed if the test failed."""
    procs: list[DraftroomProcess] = []

    def make(
        *extra_args: str, start: bool = True, anonymous: bool = True, **kwargs: Any
    ) -> DraftroomProcess:
        base = tmp_path / f"draftroom{len(procs)}"
        kwargs.setdefault("data_dir", base / "data")
        kwargs.setdefault("log_dir", base / "logs")
        if anonymous:  # tests predating auth connect without credentials
            extra_args = (*extra_args, "--allow-anonymous")
        proc = DraftroomProcess(extra_args, **kwargs)
        procs.append(proc)
        if start:
            proc.start()
        return proc

    yield make

    errors: list[str] = []
    for proc in procs:
        try:
            proc.cleanup()
        except ServiceError as e:
            errors.append(str(e))
    if _failed(request):
        for proc in procs:
            print(f"\n===== {proc!r}\n{proc.describe_logs()}")
    if errors:
        pytest.fail("draftroom did not shut down cleanly:\n" + "\n".join(errors))


@pytest.fixture
async def js(request: pytest.FixtureRequest) -> AsyncIterator[JSHarness]:
    """A running JS harness (node + unmodified y-websocket clients)."""
    harness = JSHarness()
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
        if _failed(request):
            print(f"\n{harness.stderr_tail()}")
        harness.remove_log()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Async tests run on uvloop, like `draftroom serve`: its transports differ from asyncio's."""
    import uvloop

    return {"uvloop": uvloop.new_event_loop}

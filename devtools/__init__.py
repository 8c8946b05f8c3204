"""Test and development support for Draftroom: real service processes and test clients.

The test suite, the benchmarks (bench/), the load tests (loadtests/) and the local cluster
(deploy/cluster.py) all start PostgreSQL, Redis, Draftroom nodes and JavaScript clients the
same way, so that code lives here, installed by the ``test`` and ``bench`` extras, instead
of being imported out of ``tests/`` through ``sys.path``. One job per module:

- ``process``: the one process supervisor, ``free_port``, CPU pinning and accounting, and
  the lifecycle a server on a loopback port shares (wait until ready, retry a lost port,
  clean up its directory)
- ``postgres``, ``redis`` (with a tiny RESP client), ``pgbouncer``, ``draftroom``: the servers
- ``cluster``: PostgreSQL + Redis + N nodes + HAProxy on loopback
- ``inprocess``: a Draftroom app served by uvicorn inside the test's event loop
- ``jsclient``: unmodified JavaScript Yjs clients driven from Python
- ``fake_openai``: a real OpenAI-compatible HTTP server on loopback
- ``memory_store``: the ``Store`` protocol in memory, for unit tests of rooms
- ``waiting``: ``eventually()``
- ``pytest_serial``: the ``serial`` marker (a test that has the machine to itself under xdist)
"""

"""Run a local Draftroom cluster: PostgreSQL, Redis, N nodes and HAProxy, all on loopback.

    python deploy/cluster.py --nodes 3 --port 8080 -- --allow-anonymous
    python deploy/cluster.py --nodes 3 --started 2 --pgbouncer -- --allow-anonymous

While it runs, type ``add`` to start a node that is down (HAProxy sends it clients once
its /readyz passes; busy nodes shed some to it), ``remove`` to SIGTERM the last node up
(it drains: its clients reconnect to the others) and ``status``. ``--pgbouncer`` puts
pgbouncer in transaction mode between the nodes and PostgreSQL, as in production.

The cluster itself is ``devtools.cluster.Cluster`` (installed by the test and bench extras),
which the cluster tests and the load test use too.
"""

from __future__ import annotations

import sys

from devtools.cluster import main

if __name__ == "__main__":
    sys.exit(main())

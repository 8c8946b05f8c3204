"""Run a local Draftroom cluster: PostgreSQL, Redis, N nodes and HAProxy, all on loopback.

    python deploy/cluster.py --nodes 3 --port 8080 -- --allow-anonymous

The cluster itself is ``devtools.cluster.Cluster`` (installed by the test and bench extras),
which the cluster tests and the load test use too.
"""

from __future__ import annotations

import sys

from devtools.cluster import main

if __name__ == "__main__":
    sys.exit(main())

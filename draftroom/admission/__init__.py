"""Admission control: a node refuses newcomers before it slows down the writers it has.

Past ``--max-connections`` open sockets, or with the event loop lagging past
``--max-loop-lag-ms``, new WebSockets are closed with 1013 (try again later) and
HTTP requests answered 503 with ``Retry-After``; clients already admitted keep
their latency. From half the lag limit, work that can wait (agents, export,
analytics) is refused first. ``gate.AdmissionControl`` decides and counts;
``server/admission.py`` is the ASGI edge that applies its answers.
"""

from draftroom.admission.gate import AdmissionControl, Pressure, Work

__all__ = ["AdmissionControl", "Pressure", "Work"]

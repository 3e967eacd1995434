"""Contact-tracing rules. Pure: no I/O.

- A person reported in several categories is held in the most serious one
  (close > secondary > companion > general), and the measure and deadline
  follow from that category by policy (fangkong/policy.py).
- A report's fingerprint identifies it, so the same report sent twice is
  kept once while a second channel reporting the same person adds a source.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from fangkong.policy import Policy

CATEGORY_RANK = {"close": 0, "secondary": 1, "companion": 2, "general": 3}
CATEGORY_LABELS = {
    "close": ("密切接触者", "close contact"),
    "secondary": ("密接的密接", "secondary contact"),
    "companion": ("时空伴随者", "spatiotemporal companion"),
    "general": ("一般接触者", "general contact"),
}
CHANNEL_LABELS = {
    "self_report": ("群众自报", "self-report"),
    "screening": ("基层排查", "door-to-door screening"),
    "request": ("区域协查", "cross-region request"),
    "bigdata": ("大数据推送", "big-data push"),
    "investigation": ("流调", "investigation"),
}
MEASURE_LABELS = {
    "centralized_quarantine": ("集中隔离", "centralized quarantine"),
    "home_quarantine": ("居家隔离", "home quarantine"),
    "health_monitoring": ("居家健康监测", "home health monitoring"),
    "none": ("无", "none"),
}
STATUS_LABELS = {
    "to_find": ("待查找", "to find"),
    "found": ("已找到", "found"),
    "under_measure": ("已管控", "under the measure"),
    "outside_region": ("不在本辖区，已发协查", "outside our region: request sent"),
    "released": ("已解除", "released"),
}
# Where a risk person's status may go from each status (a supervisor's action).
NEXT_STATUSES = {
    "to_find": ("found", "under_measure", "outside_region", "released"),
    "found": ("under_measure", "outside_region", "released"),
    "under_measure": ("released",),
    "outside_region": ("to_find", "released"),
    "released": (),
}
CONTROLLED_STATUSES = ("under_measure",)


def more_serious(a: str, b: str) -> str:
    """The more serious of two categories."""
    return a if CATEGORY_RANK[a] <= CATEGORY_RANK[b] else b


def measure_for(category: str, policy: Policy) -> str:
    return policy.measure_for(category)


def deadline_for(identified_at: datetime, category: str, policy: Policy) -> datetime:
    """When a risk person identified at ``identified_at`` must be under the
    measure of ``category``."""
    return identified_at + timedelta(hours=policy.deadline_hours_for(category))


def report_fingerprint(channel: str, source: str, category: str, reported_at: datetime) -> str:
    """One report, whoever sends it again: channel, source, category and
    reporting time (to the second, in UTC: the same moment written with
    another offset is the same report)."""
    moment = reported_at.astimezone(UTC).isoformat(timespec="seconds")
    key = "\x1f".join((channel, source, category, moment))
    return hashlib.sha256(key.encode()).hexdigest()

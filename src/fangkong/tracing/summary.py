"""``tracing_summary``: a region's risk persons in figures, for the command
line and the daily picture — how many persons are at risk (each counted
once, however many channels found them), by category, by channel, by
status, how many are overdue, and how many incoming records wait for a
person to decide who they are.

Scoped twice: to the region asked for and to the actor's jurisdiction. A
region above the jurisdiction (a county user asking for the city) counts
the jurisdiction's part only; a region outside it is not found.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, require
from fangkong.regions.service import get_region
from fangkong.tracing.models import (
    CATEGORIES,
    CHANNELS,
    RISK_STATUSES,
    PendingMatch,
    RiskPerson,
    RiskSource,
)
from fangkong.tracing.rules import CONTROLLED_STATUSES

# Not yet under the measure: what can be overdue.
OPEN_STATUSES = tuple(s for s in RISK_STATUSES if s not in (*CONTROLLED_STATUSES, "released"))


def tracing_summary(session: Session, actor: Actor, region: str) -> dict[str, Any]:
    """The figures of ``region`` (a region code) at ``clock.now()``:

    - ``risk_persons``: persons at risk, not released (one per person);
    - ``by_category``: the same by category;
    - ``by_channel``: persons at risk with at least one report from the
      channel (a person found by two channels counts in both, so these add
      up to more than ``risk_persons``);
    - ``by_status``: every risk person by status, the released included;
    - ``overdue``: not yet under the measure (to find, found, outside the
      region) and past the deadline;
    - ``pending_matches``: incoming records waiting for a person to decide.
    """
    require(actor, Permission.TRACING_READ)
    place = get_region(session, actor, region.strip())
    prefix = place.prefix if covers(actor.jurisdiction, place.prefix) else actor.jurisdiction
    now = clock.now()
    in_region = RiskPerson.region_code.startswith(prefix, autoescape=True)
    at_risk = in_region & (RiskPerson.status != "released")
    by_status = _counts(session, select(RiskPerson.status, func.count()).where(in_region))
    by_category = _counts(session, select(RiskPerson.category, func.count()).where(at_risk))
    by_channel = _counts(
        session,
        select(RiskSource.channel, func.count(distinct(RiskSource.risk_person_id)))
        .join(RiskPerson, RiskPerson.id == RiskSource.risk_person_id)
        .where(at_risk),
    )
    overdue = session.scalar(
        select(func.count()).where(
            in_region, RiskPerson.status.in_(OPEN_STATUSES), RiskPerson.deadline_at < now
        )
    )
    pending = session.scalar(
        select(func.count()).where(
            PendingMatch.region_code.startswith(prefix, autoescape=True),
            PendingMatch.status == "open",
        )
    )
    return {
        "region": place.code,
        "name": place.name,
        "at": now.isoformat(),
        "risk_persons": sum(by_category.values()),
        "by_category": {c: by_category.get(c, 0) for c in CATEGORIES},
        "by_channel": {c: by_channel.get(c, 0) for c in CHANNELS},
        "by_status": {s: by_status.get(s, 0) for s in RISK_STATUSES},
        "overdue": int(overdue or 0),
        "pending_matches": int(pending or 0),
    }


def _counts(session: Session, stmt: Any) -> dict[str, int]:
    """``SELECT key, count ... GROUP BY key`` as a dict."""
    grouped = stmt.group_by(stmt.selected_columns[0])
    return {str(key): int(count) for key, count in session.execute(grouped)}

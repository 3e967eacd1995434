"""Control completeness (应隔尽隔): who is at risk and not yet under the
required measure, who is late, and the supervisor's bulk actions on a
filtered list (assign, order a measure, move a status).

A risk person is *overdue* when not under the measure (nor released) after
their deadline; *on time* when brought under the measure by the deadline.
The time from a case's confirmation to a contact under control is measured
over the exposures the case's investigation named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.rules import Permission
from fangkong.access.service import (
    Actor,
    ensure_in_scope,
    record_audit,
    record_audits,
    require,
    scope,
)
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.people.phones import mask_phone
from fangkong.testing.rules import percentile
from fangkong.tracing.graph_service import release_risk_person, update_secondary_contacts_around
from fangkong.tracing.models import (
    CATEGORIES,
    CHANNELS,
    MEASURES,
    RISK_STATUSES,
    Case,
    Exposure,
    RiskPerson,
    RiskSource,
)
from fangkong.tracing.rules import NEXT_STATUSES, STATUS_LABELS

OPEN_STATUSES = ("to_find", "found", "outside_region")  # not yet under the measure
MAX_PAGE = 500


@dataclass(frozen=True)
class RiskFilter:
    """What a supervisor filters a list by (empty: any)."""

    region: str = ""
    category: str = ""
    status: str = ""
    channel: str = ""
    overdue: bool = False

    def check(self) -> None:
        for field, value, allowed in (
            ("category", self.category, CATEGORIES),
            ("status", self.status, RISK_STATUSES),
            ("channel", self.channel, CHANNELS),
        ):
            if value and value not in allowed:
                raise InvalidInput(field, f"unknown {field} {value!r}; one of {', '.join(allowed)}")
        if self.region and not self.region.isdigit():
            raise InvalidInput("region", "a region code is digits only")


@dataclass(frozen=True)
class RiskRow:
    id: int
    person_id: int
    name: str
    id_number: str
    phone: str
    region_code: str
    category: str
    measure: str
    status: str
    deadline_at: datetime
    overdue: bool
    channels: list[str]


def _filtered(actor: Actor, wanted: RiskFilter, now: datetime) -> Select[Any]:
    wanted.check()
    stmt = scope(select(RiskPerson.id), RiskPerson.region_code, actor)
    if wanted.region:
        stmt = stmt.where(RiskPerson.region_code.startswith(wanted.region, autoescape=True))
    if wanted.category:
        stmt = stmt.where(RiskPerson.category == wanted.category)
    if wanted.status:
        stmt = stmt.where(RiskPerson.status == wanted.status)
    if wanted.overdue:
        stmt = stmt.where(RiskPerson.status.in_(OPEN_STATUSES), RiskPerson.deadline_at < now)
    if wanted.channel:
        stmt = stmt.where(
            select(RiskSource.id)
            .where(RiskSource.risk_person_id == RiskPerson.id, RiskSource.channel == wanted.channel)
            .exists()
        )
    return stmt


def list_risk_persons(
    session: Session,
    actor: Actor,
    wanted: RiskFilter,
    *,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[RiskRow], int]:
    """One page of the filtered list, latest deadline last, and the total.
    Identity numbers and phones are masked, as in every list (DESIGN.md):
    a person's page shows them whole to the roles that need them."""
    require(actor, Permission.TRACING_READ)
    now = clock.now()
    rows, total = risk_person_page(session, _filtered(actor, wanted, now), offset, limit)
    channels = _channels_of(session, [risk.id for risk, _ in rows])
    return [
        RiskRow(
            id=risk.id,
            person_id=person.id,
            name=person.name,
            id_number=mask_identity(person.id_number),
            phone=mask_phone(person.phone) if person.phone else "",
            region_code=risk.region_code,
            category=risk.category,
            measure=risk.measure,
            status=risk.status,
            deadline_at=risk.deadline_at,
            overdue=risk.status in OPEN_STATUSES and risk.deadline_at < now,
            channels=channels.get(risk.id, []),
        )
        for risk, person in rows
    ], total


def risk_person_page(
    session: Session, ids: Select[Any], offset: int, limit: int
) -> tuple[list[tuple[RiskPerson, Person]], int]:
    """One page of the risk persons whose ids ``ids`` selects, with their
    persons, earliest deadline first, and how many it selects in all (the
    risk-person list and the placement candidates)."""
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput("limit", f"between 1 and {MAX_PAGE}")
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    rows = session.execute(
        select(RiskPerson, Person)
        .join(Person, Person.id == RiskPerson.person_id)
        .where(RiskPerson.id.in_(ids))
        .order_by(RiskPerson.deadline_at, RiskPerson.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return [(risk, person) for risk, person in rows], int(total)


def _channels_of(session: Session, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not ids:
        return found
    stmt = (
        select(RiskSource.risk_person_id, RiskSource.channel)
        .where(RiskSource.risk_person_id.in_(ids))
        .distinct()
        .order_by(RiskSource.risk_person_id, RiskSource.channel)
    )
    for risk_id, channel in session.execute(stmt):
        found.setdefault(risk_id, []).append(channel)
    return found


def overdue_by_community(session: Session, actor: Actor, region: str = "") -> dict[str, int]:
    """Overdue risk persons per community, most first (a community worker's
    list of whom to find first)."""
    require(actor, Permission.TRACING_READ)
    ids = _filtered(actor, RiskFilter(region=region, overdue=True), clock.now())
    stmt = (
        select(RiskPerson.region_code, func.count())
        .where(RiskPerson.id.in_(ids))
        .group_by(RiskPerson.region_code)
        .order_by(func.count().desc(), RiskPerson.region_code)
    )
    return {code: int(n) for code, n in session.execute(stmt)}


@dataclass(frozen=True)
class ControlIndicators:
    identified: int  # risk persons not released for an error
    controlled: int  # brought under the measure (some since released)
    on_time: int  # of those, by their deadline
    overdue: int  # not yet under the measure, past the deadline
    median_hours_to_control: float | None  # a case's confirmation -> its contacts controlled
    p90_hours_to_control: float | None


def control_indicators(session: Session, actor: Actor, region: str = "") -> ControlIndicators:
    require(actor, Permission.TRACING_READ)
    now = clock.now()
    base = _filtered(actor, RiskFilter(region=region), now).where(
        RiskPerson.release_reason != "error"
    )
    mine = RiskPerson.id.in_(base)
    controlled = RiskPerson.controlled_at.isnot(None)
    counts = session.execute(
        select(
            func.count(),
            func.count().filter(controlled),
            func.count().filter(
                and_(controlled, RiskPerson.controlled_at <= RiskPerson.deadline_at)
            ),
            func.count().filter(
                and_(RiskPerson.status.in_(OPEN_STATUSES), RiskPerson.deadline_at < now)
            ),
        ).where(mine)
    ).one()
    # per contact, from the first confirmation of a case that named them
    delays = session.execute(
        select(func.min(Case.confirmed_at), RiskPerson.controlled_at)
        .join(Exposure, Exposure.source_person_id == Case.person_id)
        .join(RiskPerson, RiskPerson.person_id == Exposure.person_id)
        .where(mine, controlled)
        .group_by(RiskPerson.id, RiskPerson.controlled_at)
    ).all()
    hours = sorted(
        max(0.0, (done - confirmed).total_seconds() / 3600)
        for confirmed, done in delays
        if done is not None and confirmed is not None
    )
    return ControlIndicators(
        identified=int(counts[0]),
        controlled=int(counts[1]),
        on_time=int(counts[2]),
        overdue=int(counts[3]),
        median_hours_to_control=percentile(hours, 50) if hours else None,
        p90_hours_to_control=percentile(hours, 90) if hours else None,
    )


# --- bulk actions -------------------------------------------------------------------


def _selected(session: Session, actor: Actor, ids: list[int]) -> list[RiskPerson]:
    """The risk persons of ``ids``, all in the actor's jurisdiction (one
    outside makes the whole action fail: nothing half-done)."""
    if not ids:
        raise InvalidInput("ids", "select at least one risk person")
    if len(ids) > 10 * MAX_PAGE:
        raise InvalidInput("ids", f"at most {10 * MAX_PAGE} risk persons at once")
    stmt = scope(select(RiskPerson), RiskPerson.region_code, actor).where(
        RiskPerson.id.in_(set(ids))
    )
    found = list(session.scalars(stmt.with_for_update()))
    if len(found) != len(set(ids)):
        raise NotFound("risk person not found")
    return found


def _audit_each(
    session: Session,
    actor: Actor,
    action: str,
    changed: Sequence[tuple[RiskPerson, Mapping[str, Sequence[object]]]],
) -> None:
    record_audits(
        session,
        actor,
        action,
        "risk_person",
        ((risk.id, risk.region_code, dict(changes)) for risk, changes in changed),
    )


def assign_risk_persons(session: Session, actor: Actor, ids: list[int], user_id: int) -> int:
    """Give the selected risk persons to one worker of the jurisdiction."""
    require(actor, Permission.TRACING_MANAGE)
    user = session.get(User, user_id)
    if user is None or not user.active or not user.jurisdiction.startswith(actor.jurisdiction):
        raise InvalidInput("user_id", "no active user of this jurisdiction with that id")
    selected = _selected(session, actor, ids)
    now = clock.now()
    changed = []
    for risk in selected:
        if risk.assigned_to != user_id:
            changed.append((risk, {"assigned_to": [risk.assigned_to, user_id]}))
            risk.assigned_to = user_id
            risk.updated_at = now
    _audit_each(session, actor, "risk_person.assign", changed)
    session.commit()
    return len(changed)


def order_measure(session: Session, actor: Actor, ids: list[int], measure: str) -> int:
    """Order a measure for the selected risk persons (a command decision
    that overrides the category's default, e.g. home quarantine instead of
    monitoring for a building's general contacts)."""
    require(actor, Permission.TRACING_MANAGE)
    if measure not in MEASURES:
        raise InvalidInput("measure", f"unknown measure {measure!r}; one of {', '.join(MEASURES)}")
    selected = _selected(session, actor, ids)
    now = clock.now()
    changed = []
    for risk in selected:
        if risk.status == "released" or risk.measure == measure:
            continue
        changed.append((risk, {"measure": [risk.measure, measure]}))
        risk.measure = measure
        risk.updated_at = now
    _audit_each(session, actor, "risk_person.measure", changed)
    session.commit()
    return len(changed)


def move_risk_persons(session: Session, actor: Actor, ids: list[int], status: str) -> int:
    """Move the selected risk persons to ``status``; refuses the whole action,
    naming the first person who cannot move, when one of them cannot."""
    require(actor, Permission.TRACING_MANAGE)
    if status not in RISK_STATUSES:
        raise InvalidInput("status", f"unknown status {status!r}")
    selected = _selected(session, actor, ids)
    stuck = [r for r in selected if r.status != status and status not in NEXT_STATUSES[r.status]]
    if stuck:
        raise InvalidInput(
            "status",
            f"risk person {stuck[0].id} is {stuck[0].status} and cannot become {status} "
            f"({len(stuck)} of {len(selected)} selected cannot)",
        )
    now = clock.now()
    changed = []
    for risk in selected:
        if risk.status == status:
            continue
        changed.append((risk, {"status": [risk.status, status]}))
        risk.status = status
        risk.updated_at = now
        if status == "under_measure":
            risk.controlled_at = now
        if status == "released":
            risk.released_at = now
            risk.release_reason = "completed"
    _audit_each(session, actor, "risk_person.status", changed)
    if status == "released":  # the persons exposed to them may no longer be secondary
        update_secondary_contacts_around(session, [risk.person_id for risk, _ in changed])
    session.commit()
    return len(changed)


def set_risk_status(
    session: Session, actor: Actor, risk_person_id: int, status: str, *, reason: str = ""
) -> RiskPerson:
    """Move one risk person on (found, under the measure, outside our
    region, released); refuses a move the rules do not allow, with the
    reason. A release goes through :func:`release_risk_person`, which also
    brings the secondary contacts in line."""
    require(actor, Permission.TRACING_MANAGE)
    if status not in NEXT_STATUSES:
        raise InvalidInput("status", f"unknown status {status!r}")
    if status == "released":
        return release_risk_person(session, actor, risk_person_id, reason or "completed")
    if reason:
        raise InvalidInput("reason", "a reason goes with a release only")
    risk = session.get(RiskPerson, risk_person_id, with_for_update=True)
    ensure_in_scope(actor, risk.region_code if risk else None, "risk person")
    assert risk is not None
    if status not in NEXT_STATUSES[risk.status]:
        zh, en = STATUS_LABELS[risk.status]
        raise Conflict(
            f"状态为「{zh}」的风险人员不能改为该状态 (a risk person {en} cannot become {status})"
        )
    now = clock.now()
    record_audit(
        session,
        actor,
        "risk_person.status",
        "risk_person",
        risk.id,
        risk.region_code,
        {"status": [risk.status, status]},
    )
    risk.status, risk.updated_at = status, now
    if status == "under_measure":
        risk.controlled_at = now
    session.commit()
    return risk

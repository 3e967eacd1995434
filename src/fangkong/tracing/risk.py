"""Risk persons one at a time: the step every path that finds a risk person
ends with (an investigation's named contact, a self-report accepted by
staff, one row of a cross-region request), and the status changes of a
supervisor. The bulk channel import keeps the same rules with set-based
statements (:mod:`fangkong.tracing.risk_import`).

``note_risk_person`` adds to the caller's transaction and does not commit:
it is a step inside a service, not a service of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.policy import get_policy
from fangkong.tracing.models import (
    CATEGORIES,
    CHANNELS,
    RELEASE_REASONS,
    RiskPerson,
    RiskSource,
)
from fangkong.tracing.rules import (
    NEXT_STATUSES,
    STATUS_LABELS,
    deadline_for,
    measure_for,
    more_serious,
    report_fingerprint,
)


@dataclass
class Noted:
    risk_person: RiskPerson
    created: bool  # a new risk person
    new_source: bool  # the report was not known yet
    upgraded: bool  # the category became more serious


def note_risk_person(
    session: Session,
    *,
    person_id: int,
    region_code: str,
    category: str,
    channel: str,
    source: str,
    reported_at: datetime,
    last_exposure_at: datetime | None = None,
    import_batch_id: int | None = None,
) -> Noted:
    """Record one report of a person at risk. A person already at risk gets
    one more source (none when the same report came before); a more serious
    category raises theirs and brings the deadline forward; a released
    person reported again after their release is to be found again."""
    if category not in CATEGORIES:
        raise InvalidInput("category", f"unknown category {category!r}")
    if channel not in CHANNELS:
        raise InvalidInput("channel", f"unknown channel {channel!r}")
    now = clock.now()
    policy = get_policy()
    risk = session.scalars(
        select(RiskPerson).where(RiskPerson.person_id == person_id).with_for_update()
    ).one_or_none()
    created = upgraded = False
    if risk is None:
        risk = RiskPerson(
            person_id=person_id,
            region_code=region_code,
            category=category,
            measure=measure_for(category, policy),
            status="to_find",
            last_exposure_at=last_exposure_at,
            identified_at=now,
            deadline_at=deadline_for(now, category, policy),
            updated_at=now,
        )
        session.add(risk)
        session.flush()
        created = True
    else:
        if risk.status == "released" and risk.released_at and reported_at > risk.released_at:
            _reopen(risk, category, now)
            upgraded = True
        elif more_serious(category, risk.category) != risk.category:
            risk.category = category
            risk.measure = measure_for(category, policy)
            risk.deadline_at = min(risk.deadline_at, deadline_for(now, category, policy))
            upgraded = True
        if last_exposure_at and (
            risk.last_exposure_at is None or last_exposure_at > risk.last_exposure_at
        ):
            risk.last_exposure_at = last_exposure_at
        risk.updated_at = now
    fingerprint = report_fingerprint(channel, source, category, reported_at)
    known = session.scalar(
        select(RiskSource.id).where(
            RiskSource.risk_person_id == risk.id, RiskSource.fingerprint == fingerprint
        )
    )
    if known is None:
        session.add(
            RiskSource(
                risk_person_id=risk.id,
                region_code=risk.region_code,
                channel=channel,
                source=source,
                category=category,
                reported_at=reported_at,
                fingerprint=fingerprint,
                import_batch_id=import_batch_id,
                received_at=now,
            )
        )
    return Noted(risk, created, known is None, upgraded)


def _reopen(risk: RiskPerson, category: str, now: datetime) -> None:
    policy = get_policy()
    risk.category = category
    risk.measure = measure_for(category, policy)
    risk.status = "to_find"
    risk.released_at = None
    risk.release_reason = ""
    risk.controlled_at = None
    risk.identified_at = now
    risk.deadline_at = deadline_for(now, category, policy)


def get_risk_person(session: Session, actor: Actor, risk_person_id: int) -> RiskPerson:
    require(actor, Permission.TRACING_READ)
    risk = session.get(RiskPerson, risk_person_id)
    if risk is None or not risk.region_code.startswith(actor.jurisdiction):
        raise NotFound("risk person not found")
    return risk


def set_risk_status(
    session: Session, actor: Actor, risk_person_id: int, status: str, *, reason: str = ""
) -> RiskPerson:
    """Move a risk person on (found, under the measure, outside our region,
    released); refuses a move the rules do not allow, with the reason."""
    require(actor, Permission.TRACING_MANAGE)
    risk = get_risk_person(session, actor, risk_person_id)
    ensure_in_scope(actor, risk.region_code, "risk person")
    if status not in NEXT_STATUSES:
        raise InvalidInput("status", f"unknown status {status!r}")
    if reason and (status != "released" or reason not in RELEASE_REASONS):
        raise InvalidInput("reason", f"a release reason is one of {', '.join(RELEASE_REASONS[1:])}")
    if status not in NEXT_STATUSES[risk.status]:
        zh, en = STATUS_LABELS[risk.status]
        raise Conflict(
            f"状态为「{zh}」的风险人员不能改为该状态 (a risk person {en} cannot become {status})"
        )
    now = clock.now()
    before = risk.status
    risk.status = status
    risk.updated_at = now
    if status == "under_measure":
        risk.controlled_at = now
    if status == "released":
        risk.released_at = now
        risk.release_reason = reason or "completed"
    record_audit(
        session,
        actor,
        "risk_person.status",
        "risk_person",
        risk.id,
        risk.region_code,
        {"status": [before, status], **({"reason": reason} if reason else {})},
    )
    session.commit()
    return risk

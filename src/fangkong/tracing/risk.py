"""Risk persons one at a time: the step every path that finds a risk person
ends with (an investigation's named contact, a self-report accepted by
staff, one row of a cross-region request). A supervisor's status changes
are in :mod:`fangkong.tracing.control`. The bulk channel import keeps the same rules with set-based
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
from fangkong.errors import InvalidInput
from fangkong.policy import get_policy
from fangkong.tracing.models import (
    CATEGORIES,
    CHANNELS,
    RiskPerson,
    RiskSource,
)
from fangkong.tracing.rules import (
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
        later_exposure = last_exposure_at is not None and (
            risk.last_exposure_at is None or last_exposure_at > risk.last_exposure_at
        )
        if later_exposure:
            risk.last_exposure_at = last_exposure_at
        if upgraded or later_exposure:  # a report that changes nothing leaves the row alone
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

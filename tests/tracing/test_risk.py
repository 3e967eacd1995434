"""One report at a time: the same person from several channels is one risk
person with several sources; the same report twice is kept once; a more
serious category raises the person's and brings the deadline forward;
status moves follow the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.errors import Conflict, NotFound
from fangkong.tracing.control import set_risk_status
from fangkong.tracing.models import RiskPerson, RiskSource
from fangkong.tracing.risk import Noted, note_risk_person
from tests.testing.conftest import FrozenClock, Registry, Resident


def note(
    session: Session, person: Resident, category: str, channel: str, source: str = "s"
) -> Noted:
    noted = note_risk_person(
        session,
        person_id=person.id,
        region_code=person.region_code,
        category=category,
        channel=channel,
        source=source,
        reported_at=clock.now(),
    )
    session.commit()
    return noted


def test_three_channels_make_one_risk_person_with_three_sources(
    session: Session, registry: Registry
) -> None:
    person = registry.a1[0]
    for channel in ("screening", "request", "bigdata"):
        note(session, person, "general", channel)
    note(session, person, "general", "bigdata")  # the same report again
    assert session.scalar(select(func.count()).select_from(RiskPerson)) == 1
    channels = session.scalars(select(RiskSource.channel).order_by(RiskSource.id)).all()
    assert channels == ["screening", "request", "bigdata"]


def test_a_more_serious_category_raises_the_measure_and_the_deadline(
    session: Session, registry: Registry
) -> None:
    person = registry.a1[1]
    first = note(session, person, "general", "screening").risk_person
    assert (first.measure, first.deadline_at) == (
        "health_monitoring",
        clock.now() + timedelta(hours=48),
    )
    raised = note(session, person, "close", "investigation", "case 1")
    assert raised.upgraded
    assert (raised.risk_person.category, raised.risk_person.measure) == (
        "close",
        "centralized_quarantine",
    )
    assert raised.risk_person.deadline_at == clock.now() + timedelta(hours=12)
    lower = note(session, person, "companion", "bigdata")
    assert not lower.upgraded
    assert lower.risk_person.category == "close"


def test_status_moves_follow_the_rules_and_stay_in_scope(
    session: Session, registry: Registry, epidemiologist: Actor, other_epidemiologist: Actor
) -> None:
    risk = note(session, registry.a1[2], "close", "investigation").risk_person
    with pytest.raises(NotFound):
        set_risk_status(session, other_epidemiologist, risk.id, "found")
    set_risk_status(session, epidemiologist, risk.id, "under_measure")
    assert risk.controlled_at == clock.now()
    with pytest.raises(Conflict, match="cannot become found"):
        set_risk_status(session, epidemiologist, risk.id, "found")
    set_risk_status(session, epidemiologist, risk.id, "released")
    assert (risk.status, risk.release_reason) == ("released", "completed")


def test_a_released_person_reported_again_is_to_be_found_again(
    session: Session,
    registry: Registry,
    epidemiologist: Actor,
    frozen: FrozenClock,
) -> None:
    risk = note(session, registry.a2[0], "close", "investigation").risk_person
    set_risk_status(session, epidemiologist, risk.id, "released")
    frozen.advance(days=3)
    again = note(session, registry.a2[0], "general", "screening").risk_person
    assert (again.id, again.status, again.category) == (risk.id, "to_find", "general")
    assert again.released_at is None

"""Control completeness: the filtered list, overdue persons per community,
the indicators, and the supervisor's bulk actions (all or nothing, in the
supervisor's jurisdiction only, audited)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import InvalidInput, NotFound
from fangkong.tracing.control import (
    RiskFilter,
    assign_risk_persons,
    control_indicators,
    list_risk_persons,
    move_risk_persons,
    order_measure,
    overdue_by_community,
)
from fangkong.tracing.models import RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.testing.conftest import A1, A2, FrozenClock, Registry, Resident


def at_risk(session: Session, person: Resident, category: str, channel: str) -> RiskPerson:
    noted = note_risk_person(
        session,
        person_id=person.id,
        region_code=person.region_code,
        category=category,
        channel=channel,
        source="test",
        reported_at=clock.now(),
    )
    session.commit()
    return noted.risk_person


@pytest.fixture
def risks(session: Session, registry: Registry) -> list[RiskPerson]:
    """Two close contacts in A1 (one reported twice), a general contact in A2,
    a close contact in Guangyang."""
    made = [
        at_risk(session, registry.a1[0], "close", "investigation"),
        at_risk(session, registry.a1[1], "close", "screening"),
        at_risk(session, registry.a2[0], "general", "bigdata"),
        at_risk(session, registry.gy[0], "close", "request"),
    ]
    at_risk(session, registry.a1[1], "general", "bigdata")
    return made


def test_the_list_filters_and_stays_in_the_jurisdiction(
    session: Session, risks: list[RiskPerson], epidemiologist: Actor
) -> None:
    rows, total = list_risk_persons(session, epidemiologist, RiskFilter())
    assert total == 3  # Guangyang's is not Anci's
    assert {r.id for r in rows} == {r.id for r in risks[:3]}
    close, n = list_risk_persons(session, epidemiologist, RiskFilter(category="close"))
    assert n == 2
    assert {r.region_code for r in close} == {A1}
    bigdata, n = list_risk_persons(session, epidemiologist, RiskFilter(channel="bigdata"))
    assert n == 2
    assert [r.channels for r in bigdata if r.id == risks[1].id] == [["bigdata", "screening"]]
    with pytest.raises(InvalidInput, match="category"):
        list_risk_persons(session, epidemiologist, RiskFilter(category="closest"))


def test_overdue_persons_are_counted_per_community(
    session: Session, risks: list[RiskPerson], epidemiologist: Actor, frozen: FrozenClock
) -> None:
    assert overdue_by_community(session, epidemiologist) == {}
    frozen.advance(hours=13)  # past the close contacts' 12 hours, not the general's 48
    assert overdue_by_community(session, epidemiologist) == {A1: 2}
    move_risk_persons(session, epidemiologist, [risks[0].id], "under_measure")
    assert overdue_by_community(session, epidemiologist) == {A1: 1}
    frozen.advance(hours=48)
    assert overdue_by_community(session, epidemiologist) == {A1: 1, A2: 1}
    rows, n = list_risk_persons(session, epidemiologist, RiskFilter(overdue=True))
    assert n == 2
    assert all(r.overdue for r in rows)


def test_indicators_count_control_on_time_and_late(
    session: Session, risks: list[RiskPerson], epidemiologist: Actor, frozen: FrozenClock
) -> None:
    move_risk_persons(session, epidemiologist, [risks[0].id], "under_measure")
    frozen.advance(hours=20)
    move_risk_persons(session, epidemiologist, [risks[1].id], "under_measure")
    got = control_indicators(session, epidemiologist)
    assert (got.identified, got.controlled, got.on_time, got.overdue) == (3, 2, 1, 0)


def test_bulk_actions_are_all_or_nothing_and_audited(
    session: Session,
    risks: list[RiskPerson],
    epidemiologist: Actor,
    make_actor: Callable[..., Actor],
) -> None:
    worker = make_actor("community_worker", "131002001")
    assert worker.user_id is not None
    anci = [r.id for r in risks[:3]]
    assert assign_risk_persons(session, epidemiologist, anci, worker.user_id) == 3
    with pytest.raises(NotFound):  # Guangyang's risk person is not Anci's to touch
        order_measure(session, epidemiologist, [*anci, risks[3].id], "home_quarantine")
    assert risks[2].measure == "health_monitoring"
    assert order_measure(session, epidemiologist, [risks[2].id], "home_quarantine") == 1
    move_risk_persons(session, epidemiologist, [risks[0].id], "under_measure")
    with pytest.raises(InvalidInput, match=f"risk person {risks[0].id} is under_measure"):
        move_risk_persons(session, epidemiologist, anci, "found")
    assert [r.status for r in risks[:3]] == ["under_measure", "to_find", "to_find"]
    audited = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("risk_person.%"))
    )
    assert audited == 3 + 1 + 1


def test_the_time_to_control_counts_each_contact_once_from_the_first_confirmation(
    session: Session, registry: Registry, epidemiologist: Actor, frozen: FrozenClock
) -> None:
    from fangkong.tracing.cases import record_case
    from fangkong.tracing.contacts import name_contact
    from fangkong.tracing.investigations import open_investigation

    contact = registry.a1[3]
    for hours_ago, index in ((10, registry.a1[0]), (4, registry.a1[1])):
        case = record_case(
            session,
            epidemiologist,
            person_id=index.id,
            classification="confirmed",
            severity="mild",
            detection_route="fever_clinic",
            sampled_at=clock.now() - timedelta(hours=hours_ago + 2),
            confirmed_at=clock.now() - timedelta(hours=hours_ago),
        )
        investigation = open_investigation(session, epidemiologist, case.id)
        name_contact(
            session,
            epidemiologist,
            investigation.id,
            person_id=contact.id,
            setting="household",
            last_exposure_at=clock.now() - timedelta(hours=hours_ago + 3),
        )
    risk = session.scalars(select(RiskPerson).where(RiskPerson.person_id == contact.id)).one()
    move_risk_persons(session, epidemiologist, [risk.id], "under_measure")
    got = control_indicators(session, epidemiologist)
    assert got.median_hours_to_control == pytest.approx(10)
    assert got.p90_hours_to_control == pytest.approx(10)

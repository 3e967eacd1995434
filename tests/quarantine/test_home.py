"""Home quarantine and home health monitoring: ordered for a household's
risk persons or a list of them, each a home stay in their community under
the measure from now with the policy's planned end and test days; the
community worker's daily check-ins, and the homes whose check-in is
missing, per community and only in the worker's own county."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.quarantine.home import (
    home_candidates,
    home_stays,
    missed_check_ins,
    order_home_quarantine,
)
from fangkong.quarantine.models import ScheduledTest, Stay
from fangkong.quarantine.stays import (
    record_health_check,
    release_stay,
    take_stay_sample,
)
from fangkong.tracing.models import RiskPerson
from tests.quarantine.test_stays import *  # noqa: F403  (make_stay)
from tests.quarantine.test_stays import at_risk, send_result
from tests.testing.conftest import A1, FrozenClock, Registry

EXPOSED = datetime(2022, 3, 12, 4, 0, tzinfo=UTC)  # 12 March, noon in Langfang


@pytest.fixture
def household(session: Session, registry: Registry) -> list[RiskPerson]:
    """Two general contacts of household A1-H1 (a1[0], a1[1]) exposed on 12
    March, and a third member who is not at risk."""
    return [
        at_risk(session, registry.a1[0], "general", EXPOSED),
        at_risk(session, registry.a1[1], "general", EXPOSED),
    ]


def test_a_household_is_put_under_home_quarantine_with_the_policys_end_and_tests(
    session: Session,
    community_worker: Actor,
    household: list[RiskPerson],
    registry: Registry,
) -> None:
    household_id = registry.a1[0].household_id
    assert household_id is not None

    stays = order_home_quarantine(
        session, community_worker, kind="home_quarantine", household_id=household_id
    )

    assert sorted(s.person_id for s in stays) == sorted(r.person_id for r in household)
    stay = stays[0]
    assert (stay.kind, stay.region_code, stay.household_id, stay.facility_id) == (
        "home_quarantine",
        A1,
        household_id,
        None,
    )
    assert (stay.started_at, stay.last_exposure_at) == (clock.now(), EXPOSED)
    assert stay.planned_end_on == datetime(2022, 3, 19).date()  # 7 days from 12 March
    tests = session.scalars(
        select(ScheduledTest).where(ScheduledTest.stay_id == stay.id).order_by(ScheduledTest.day)
    ).all()
    assert [(t.day, t.due_on.isoformat()) for t in tests] == [
        (1, "2022-03-14"),
        (4, "2022-03-17"),
        (7, "2022-03-19"),  # day 7 falls after the planned end: moved onto it
    ]
    for risk in household:
        session.refresh(risk)
        assert (risk.status, risk.measure, risk.controlled_at) == (
            "under_measure",
            "home_quarantine",
            clock.now(),
        )
    audits = session.scalars(select(AuditEvent.action)).all()
    assert audits.count("stay.order_home") == 2
    assert audits.count("risk_person.status") == 2


def test_home_monitoring_puts_the_risk_person_under_health_monitoring(
    session: Session, community_worker: Actor, registry: Registry
) -> None:
    risk = at_risk(session, registry.a1[3], "companion", EXPOSED)

    [stay] = order_home_quarantine(
        session, community_worker, kind="home_monitoring", risk_person_ids=[risk.id]
    )

    session.refresh(risk)
    assert (stay.kind, risk.measure, risk.status) == (
        "home_monitoring",
        "health_monitoring",
        "under_measure",
    )


def test_an_order_is_refused_whole_when_one_person_has_a_stay_in_force(
    session: Session, community_worker: Actor, household: list[RiskPerson]
) -> None:
    order_home_quarantine(
        session, community_worker, kind="home_quarantine", risk_person_ids=[household[0].id]
    )

    with pytest.raises(Conflict, match="has a stay in force"):
        order_home_quarantine(
            session,
            community_worker,
            kind="home_quarantine",
            risk_person_ids=[household[1].id, household[0].id],
        )

    assert len(session.scalars(select(Stay)).all()) == 1


def test_bad_orders_name_the_field_and_other_countys_persons_are_not_found(
    session: Session,
    community_worker: Actor,
    facility_manager: Actor,
    household: list[RiskPerson],
    registry: Registry,
) -> None:
    for kwargs, field in (
        ({"kind": "centralized", "risk_person_ids": [household[0].id]}, "kind"),
        ({"kind": "home_quarantine"}, "risk_person_ids"),
        ({"kind": "home_quarantine", "household_id": -5}, "household_id"),
    ):
        with pytest.raises(InvalidInput) as refused:
            order_home_quarantine(session, community_worker, **kwargs)  # type: ignore[arg-type]
        assert refused.value.field == field
    stranger = at_risk(session, registry.gy[0], "general", EXPOSED)
    with pytest.raises(NotFound):
        order_home_quarantine(
            session, community_worker, kind="home_quarantine", risk_person_ids=[stranger.id]
        )
    with pytest.raises(PermissionDenied):
        order_home_quarantine(
            session, facility_manager, kind="home_quarantine", risk_person_ids=[household[0].id]
        )


def test_the_candidates_are_risk_persons_due_at_home_and_not_yet_under_it(
    session: Session, community_worker: Actor, household: list[RiskPerson]
) -> None:
    assert {c.risk_person_id for c in home_candidates(session, community_worker)} == {
        r.id for r in household
    }
    order_home_quarantine(
        session, community_worker, kind="home_quarantine", risk_person_ids=[household[0].id]
    )
    assert [c.risk_person_id for c in home_candidates(session, community_worker)] == [
        household[1].id
    ]


# --- check-ins ---------------------------------------------------------------------------


def test_a_home_check_in_records_the_door_seal_and_must_say_whether_it_holds(
    session: Session, community_worker: Actor, household: list[RiskPerson]
) -> None:
    [stay] = order_home_quarantine(
        session, community_worker, kind="home_quarantine", risk_person_ids=[household[0].id]
    )
    with pytest.raises(InvalidInput) as refused:
        record_health_check(session, community_worker, stay.id, symptoms=False)
    assert refused.value.field == "seal_intact"

    check = record_health_check(
        session, community_worker, stay.id, symptoms=False, temperature=36.6, seal_intact=True
    )

    assert (check.seal_intact, check.checked_by) == (True, community_worker.user_id)
    [community] = home_stays(session, community_worker)
    assert community.region_code == A1
    assert [(r.stay_id, r.checked_today, r.seal_intact) for r in community.rows] == [
        (stay.id, True, True)
    ]


def test_missed_check_ins_are_listed_per_community_after_the_grace_hours(
    session: Session,
    community_worker: Actor,
    household: list[RiskPerson],
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    other = at_risk(session, registry.a2[0], "general", EXPOSED)
    stays = order_home_quarantine(
        session,
        community_worker,
        kind="home_quarantine",
        risk_person_ids=[household[0].id, household[1].id, other.id],
    )
    checked, missed, missed_elsewhere = stays
    assert missed_check_ins(session, community_worker, clock.today_local()) == []  # just began

    frozen.advance(hours=20)
    record_health_check(session, community_worker, checked.id, symptoms=False, seal_intact=True)
    frozen.advance(hours=6)  # 26 hours after the start; the check was 6 hours ago

    listed = missed_check_ins(session, community_worker, clock.today_local())

    assert {g.region_code: [r.stay_id for r in g.rows] for g in listed} == {
        A1: [missed.id],
        registry.a2[0].region_code: [missed_elsewhere.id],
    }
    assert all(r.last_checked_at is None for g in listed for r in g.rows)


def test_a_community_worker_of_another_county_sees_no_home_here(
    session: Session,
    community_worker: Actor,
    make_actor: Callable[..., Actor],
    household: list[RiskPerson],
    frozen: FrozenClock,
) -> None:
    [stay] = order_home_quarantine(
        session, community_worker, kind="home_quarantine", risk_person_ids=[household[0].id]
    )
    frozen.advance(hours=30)
    stranger = make_actor("community_worker", "131003001")

    assert missed_check_ins(session, stranger, clock.today_local()) == []
    assert home_stays(session, stranger) == []
    assert home_candidates(session, stranger) == []
    with pytest.raises(NotFound):
        record_health_check(session, stranger, stay.id, symptoms=False, seal_intact=True)
    assert [g.region_code for g in missed_check_ins(session, community_worker, clock.today_local())]


def test_a_facility_manager_sees_no_home_stay(
    session: Session,
    community_worker: Actor,
    facility_manager: Actor,
    household: list[RiskPerson],
    frozen: FrozenClock,
) -> None:
    order_home_quarantine(
        session, community_worker, kind="home_quarantine", risk_person_ids=[household[0].id]
    )
    frozen.advance(hours=30)
    assert home_stays(session, facility_manager) == []
    assert missed_check_ins(session, facility_manager, clock.today_local()) == []


def test_a_home_stay_with_its_tests_negative_is_released_by_the_community_worker(
    session: Session,
    community_worker: Actor,
    lab: Actor,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    risk = at_risk(session, registry.a1[4], "general", EXPOSED)
    [stay] = order_home_quarantine(
        session, community_worker, kind="home_quarantine", risk_person_ids=[risk.id]
    )
    for day, wait in ((1, 0), (4, 3), (7, 2)):  # 14, 17 and 19 March (the planned end)
        frozen.advance(days=wait)
        take_stay_sample(session, community_worker, stay.id, f"H{day}")
        send_result(session, lab, f"H{day}", "negative")
    assert clock.today_local() == stay.planned_end_on
    record_health_check(session, community_worker, stay.id, symptoms=False, seal_intact=True)

    release_stay(session, community_worker, stay.id)

    session.refresh(risk)
    assert (stay.end_reason, risk.status, risk.release_reason) == (
        "released",
        "released",
        "completed",
    )

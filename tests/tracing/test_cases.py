"""Cases from the positive board and from hospital reports: whether the
person was under control when the sample that found them was taken
(quarantine, a sealed or controlled zone, a known contact) is derived, and
separates controlled cases from community cases; a pool follow-up counts by
the pooled sample's time; a person is one case; another county sees
nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.regions.service import ZoneArea, designate_zone
from fangkong.testing.models import PositivePerson, Round
from fangkong.testing.results import record_lab_result
from fangkong.testing.sampling import add_to_tube, close_tube, open_tube
from fangkong.tracing.cases import (
    case_counts,
    create_case_from_positive,
    get_case,
    list_cases,
    record_case,
)
from fangkong.tracing.control import set_risk_status
from fangkong.tracing.models import Case, RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.testing.conftest import (
    A1,
    LAB_NAME,
    FrozenClock,
    Registry,
    Resident,
    fill_tube,
)

HOUR = timedelta(hours=1)


def positive(
    session: Session,
    sampler: Actor,
    lab: Actor,
    round_id: int,
    barcode: str,
    who: Resident,
    frozen: FrozenClock,
) -> PositivePerson:
    """``who`` swabbed now into a single tube of the round, positive two hours later."""
    fill_tube(session, sampler, round_id, barcode, [who], pool_size=1)
    frozen.advance(hours=2)
    send_result(session, lab, barcode, "positive")
    return session.scalars(select(PositivePerson).where(PositivePerson.person_id == who.id)).one()


def send_result(session: Session, lab: Actor, barcode: str, result: str) -> None:
    record_lab_result(
        session,
        lab,
        barcode=barcode,
        result=result,
        tested_at=clock.now() - timedelta(minutes=20),
        lab=LAB_NAME,
        ct_orf1ab=27.0 if result == "positive" else None,
    )


def close_contact(session: Session, who: Resident, source: str = "case 0") -> RiskPerson:
    noted = note_risk_person(
        session,
        person_id=who.id,
        region_code=who.region_code,
        category="close",
        channel="investigation",
        source=source,
        reported_at=clock.now(),
    )
    session.commit()
    return noted.risk_person


def hospital_case(
    session: Session, actor: Actor, who: Resident, *, route: str = "fever_clinic", **changes: object
) -> Case:
    values: dict[str, object] = {
        "person_id": who.id,
        "classification": "confirmed",
        "severity": "mild",
        "detection_route": route,
        "sampled_at": clock.now() - 5 * HOUR,
        "confirmed_at": clock.now() - HOUR,
        "onset_date": clock.today_local(),
        "reported_by": "廊坊市人民医院",
    }
    values.update(changes)
    return record_case(session, actor, **values)  # type: ignore[arg-type]


# --- controlled or community -------------------------------------------------------------


def test_a_case_found_in_quarantine_is_controlled(
    session: Session,
    epidemiologist: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    who = registry.a1[0]
    risk = close_contact(session, who)
    set_risk_status(session, epidemiologist, risk.id, "under_measure")
    frozen.advance(hours=24)
    found = positive(session, sampler, lab, anci_round.id, "S1001", who, frozen)

    case = create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")

    assert (case.controlled, case.control_basis) == (True, "quarantine")
    assert case.detection_route == "quarantine_screening"
    assert (case.positive_person_id, case.region_code) == (found.id, who.region_code)
    session.refresh(risk)
    assert (risk.status, risk.release_reason, risk.released_at) == (
        "released",
        "became_case",
        clock.now(),
    )


def test_a_case_found_at_a_community_test_site_is_a_community_case(
    session: Session,
    epidemiologist: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    sampled_at = clock.now()
    found = positive(session, sampler, lab, anci_round.id, "S1002", registry.a2[0], frozen)

    case = create_case_from_positive(
        session, epidemiologist, found.id, classification="asymptomatic"
    )

    assert (case.controlled, case.control_basis, case.detection_route) == (
        False,
        "",
        "mass_testing",
    )
    assert (case.sampled_at, case.result_at, case.confirmed_at) == (
        sampled_at,
        clock.now(),
        clock.now(),
    )
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.create")).one()
    assert audit.changes["controlled"] is False
    assert audit.object_id == str(case.id)


def test_a_pool_followup_case_counts_by_the_pooled_samples_time(
    session: Session,
    epidemiologist: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    """Quarantined after the pooled swab but before the re-sample: the pool
    found them, so they were not under control when found."""
    member, neighbour = registry.a1[1], registry.a1[2]
    pooled_at = clock.now()
    fill_tube(session, sampler, anci_round.id, "P1003", [member, neighbour])
    frozen.advance(hours=1)
    risk = close_contact(session, member)
    set_risk_status(session, epidemiologist, risk.id, "under_measure")
    frozen.advance(hours=2)
    send_result(session, lab, "P1003", "positive")  # temporary control starts now
    frozen.advance(hours=1)
    open_tube(session, sampler, round_id=anci_round.id, barcode="S1003", pool_size=1)
    add_to_tube(session, sampler, barcode="S1003", id_number=member.id_number)
    close_tube(session, sampler, barcode="S1003")
    frozen.advance(hours=2)
    send_result(session, lab, "S1003", "positive")
    found = session.scalars(select(PositivePerson)).one()

    case = create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")

    assert case.sampled_at == pooled_at
    assert (case.controlled, case.control_basis, case.detection_route) == (
        False,
        "",
        "pool_followup",
    )


def test_a_pool_member_quarantined_before_the_pooled_swab_is_a_controlled_case(
    session: Session,
    epidemiologist: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    member = registry.a2[1]
    risk = close_contact(session, member)
    set_risk_status(session, epidemiologist, risk.id, "under_measure")
    frozen.advance(hours=1)
    fill_tube(session, sampler, anci_round.id, "P1004", [member, registry.a2[2]])
    frozen.advance(hours=3)
    send_result(session, lab, "P1004", "positive")
    open_tube(session, sampler, round_id=anci_round.id, barcode="S1004", pool_size=1)
    add_to_tube(session, sampler, barcode="S1004", id_number=member.id_number)
    close_tube(session, sampler, barcode="S1004")
    frozen.advance(hours=2)
    send_result(session, lab, "S1004", "positive")
    found = session.scalars(select(PositivePerson)).one()

    case = create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")

    assert (case.controlled, case.control_basis, case.detection_route) == (
        True,
        "quarantine",
        "pool_followup",
    )


def test_a_known_close_contact_not_yet_quarantined_is_a_controlled_case(
    session: Session,
    epidemiologist: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    known, unknown = registry.b1[0], registry.b1[1]
    close_contact(session, known)
    frozen.advance(hours=1)
    first = positive(session, sampler, lab, anci_round.id, "S1005", known, frozen)
    second = positive(session, sampler, lab, anci_round.id, "S1006", unknown, frozen)
    close_contact(session, unknown)  # reported only after the swab

    known_case = create_case_from_positive(
        session, epidemiologist, first.id, classification="confirmed"
    )
    late_case = create_case_from_positive(
        session, epidemiologist, second.id, classification="confirmed"
    )

    assert (known_case.controlled, known_case.control_basis) == (True, "known_contact")
    assert known_case.detection_route == "contact_screening"
    assert (late_case.controlled, late_case.control_basis) == (False, "")
    assert late_case.detection_route == "mass_testing"


@pytest.mark.parametrize(
    ("level", "basis"),
    [("sealed", "sealed_zone"), ("controlled", "controlled_zone"), ("precaution", "")],
)
def test_a_case_swabbed_inside_a_sealed_or_controlled_zone_is_controlled(
    session: Session,
    epidemiologist: Actor,
    county_commander: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
    level: str,
    basis: str,
) -> None:
    designate_zone(
        session,
        county_commander,
        name="安次一社区",
        level=level,
        areas=[ZoneArea(region_code=A1)],
        starts_at=clock.now() - HOUR,
    )
    found = positive(session, sampler, lab, anci_round.id, "S1007", registry.a1[3], frozen)

    case = create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")

    assert (case.controlled, case.control_basis) == (basis != "", basis)


def test_a_zone_over_the_persons_address_counts_and_one_laid_after_the_swab_does_not(
    session: Session,
    epidemiologist: Actor,
    county_commander: Actor,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    inside, later = registry.a1[4], registry.a2[3]
    assert inside.address_id is not None
    assert later.address_id is not None
    designate_zone(
        session,
        county_commander,
        name="1号楼",
        level="sealed",
        areas=[ZoneArea(address_id=inside.address_id)],
        starts_at=clock.now() - 10 * HOUR,
    )
    designate_zone(
        session,
        county_commander,
        name="2号楼",
        level="sealed",
        areas=[ZoneArea(address_id=later.address_id)],
        starts_at=clock.now() - 2 * HOUR,
    )

    sealed = hospital_case(session, epidemiologist, inside, sampled_at=clock.now() - 5 * HOUR)
    outside = hospital_case(session, epidemiologist, later, sampled_at=clock.now() - 5 * HOUR)

    assert (sealed.controlled, sealed.control_basis) == (True, "sealed_zone")
    assert (outside.controlled, outside.control_basis) == (False, "")


# --- hospital reports ------------------------------------------------------------------------


def test_a_hospital_report_keeps_its_route_and_derives_control(
    session: Session, epidemiologist: Actor, registry: Registry, frozen: FrozenClock
) -> None:
    quarantined, walk_in = registry.a1[0], registry.a1[1]
    risk = close_contact(session, quarantined)
    set_risk_status(session, epidemiologist, risk.id, "under_measure")
    frozen.advance(hours=30)

    generic = hospital_case(session, epidemiologist, quarantined, route="hospital")
    specific = hospital_case(session, epidemiologist, walk_in, route="fever_clinic")

    assert (generic.detection_route, generic.control_basis) == (
        "quarantine_screening",
        "quarantine",
    )
    assert (specific.detection_route, specific.controlled) == ("fever_clinic", False)
    assert specific.reported_by == "廊坊市人民医院"
    assert specific.positive_person_id is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"classification": "suspected"}, "classification"),
        ({"severity": "grave"}, "severity"),
        ({"route": "guesswork"}, "detection_route"),
        ({"classification": "asymptomatic", "severity": ""}, "onset_date"),
        ({"confirmed_at": datetime(2022, 3, 1, tzinfo=clock.now().tzinfo)}, "confirmed_at"),
        ({"sampled_at": datetime(2022, 3, 14, 8, 0)}, "sampled_at"),  # no time zone
    ],
)
def test_a_hospital_report_with_a_bad_field_is_refused_naming_it(
    session: Session,
    epidemiologist: Actor,
    registry: Registry,
    changes: dict[str, object],
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        hospital_case(session, epidemiologist, registry.b1[2], **changes)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert session.scalars(select(Case)).all() == []


# --- one case per person, and scope -----------------------------------------------------------


def test_a_second_case_for_the_same_person_is_refused(
    session: Session,
    epidemiologist: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    found = positive(session, sampler, lab, anci_round.id, "S1008", registry.a2[2], frozen)
    first = create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")

    with pytest.raises(Conflict, match=f"already case {first.id}"):
        create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")
    with pytest.raises(Conflict, match=f"already case {first.id}"):
        hospital_case(session, epidemiologist, registry.a2[2])
    assert len(session.scalars(select(Case)).all()) == 1


def test_a_user_of_another_county_can_neither_read_list_count_nor_make_cases(
    session: Session,
    epidemiologist: Actor,
    other_epidemiologist: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    found = positive(session, sampler, lab, anci_round.id, "S1009", registry.a1[5], frozen)
    with pytest.raises(NotFound):
        create_case_from_positive(
            session, other_epidemiologist, found.id, classification="confirmed"
        )
    with pytest.raises(NotFound):
        hospital_case(session, other_epidemiologist, registry.a1[4])
    case = create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")
    today = clock.today_local()

    with pytest.raises(NotFound):
        get_case(session, other_epidemiologist, case.id)
    assert list_cases(session, other_epidemiologist) == []
    counted = case_counts(session, other_epidemiologist, None, (today, today))
    assert [(c.controlled, c.community) for c in counted] == [(0, 0)]
    with pytest.raises(NotFound):
        list_cases(session, other_epidemiologist, region=A1)
    assert get_case(session, epidemiologist, case.id).id == case.id


def test_roles_without_case_work_may_not_make_cases(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
    make_actor: Callable[..., Actor],
) -> None:
    found = positive(session, sampler, lab, anci_round.id, "S1010", registry.b1[1], frozen)
    worker = make_actor("community_worker", "131002")
    with pytest.raises(PermissionDenied):
        create_case_from_positive(session, worker, found.id, classification="confirmed")


# --- lists and counts ---------------------------------------------------------------------


def test_cases_list_newest_first_with_masked_identity_and_count_per_day(
    session: Session,
    epidemiologist: Actor,
    city_commander: Actor,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    risk = close_contact(session, registry.a1[0])
    set_risk_status(session, epidemiologist, risk.id, "under_measure")
    frozen.advance(hours=12)
    yesterday = hospital_case(session, epidemiologist, registry.a1[0], route="hospital")
    frozen.advance(days=1)
    today_community = hospital_case(session, epidemiologist, registry.a2[0])
    guangyang = hospital_case(
        session,
        city_commander,
        registry.gy[0],
        onset_date=None,
        classification="asymptomatic",
        severity="",
    )

    listed = list_cases(session, epidemiologist)
    assert [c.id for c in listed] == [today_community.id, yesterday.id]
    assert (
        listed[0].id_number
        == registry.a2[0].id_number[:4] + "*" * 10 + registry.a2[0].id_number[-4:]
    )
    assert [c.id for c in list_cases(session, epidemiologist, controlled=False)] == [
        today_community.id
    ]
    assert [c.id for c in list_cases(session, city_commander, region="131003")] == [guangyang.id]

    today = clock.today_local()
    days = case_counts(session, city_commander, "131000", (today - timedelta(days=2), today))
    assert [(c.day, c.controlled, c.community) for c in days] == [
        (today - timedelta(days=2), 0, 0),
        (today - timedelta(days=1), 1, 0),
        (today, 0, 2),
    ]
    anci = case_counts(session, city_commander, "131002", (today, today))
    assert [(c.controlled, c.community) for c in anci] == [(0, 1)]
    with pytest.raises(InvalidInput) as refused:
        case_counts(session, city_commander, None, (today, today - timedelta(days=1)))
    assert refused.value.field == "day_range"


def test_cases_on_dates_before_the_window_are_not_counted(
    session: Session, epidemiologist: Actor, registry: Registry
) -> None:
    hospital_case(session, epidemiologist, registry.b1[0])
    counted = case_counts(session, epidemiologist, "131002", (date(2022, 3, 1), date(2022, 3, 13)))
    assert sum(c.total for c in counted) == 0
    assert len(counted) == 13

"""Designated hospitals: admission by severity to a fitting bed (leaving a
quarantine stay), refusal with where beds are free, transfer, discharge,
bed occupancy by ward level and severity, and the cases not admitted within
the policy's hours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.quarantine.hospital_board import (
    bed_occupancy,
    cases_awaiting_admission,
    cases_not_admitted,
    list_patients,
)
from fangkong.quarantine.hospitals import (
    admit_case,
    bed_fits,
    discharge_patient,
    transfer_patient,
)
from fangkong.quarantine.models import Facility, Room, Stay, StayMove
from fangkong.quarantine.rules import RoomLayout
from fangkong.tracing.cases import record_case
from fangkong.tracing.models import Case
from tests.quarantine.conftest import make_facility
from tests.testing.conftest import Registry, Resident
from tests.tracing.conftest import ANCI

NOW = datetime(2022, 3, 14, 2, 0, tzinfo=UTC)  # the frozen clock


def case_of(
    session: Session,
    actor: Actor,
    resident: Resident,
    *,
    severity: str = "mild",
    confirmed_ago: timedelta = timedelta(hours=1),
) -> Case:
    confirmed = NOW - confirmed_ago
    return record_case(
        session,
        actor,
        person_id=resident.id,
        classification="confirmed" if severity else "asymptomatic",
        severity=severity,
        detection_route="fever_clinic",
        sampled_at=confirmed - timedelta(hours=6),
        confirmed_at=confirmed,
    )


def bed(session: Session, facility: Facility, number: str) -> Room:
    return session.scalars(
        select(Room).where(Room.facility_id == facility.id, Room.number == number)
    ).one()


def test_a_bed_takes_its_wards_level_or_any_when_the_ward_has_none() -> None:
    assert bed_fits("severe", "severe")
    assert not bed_fits("mild", "severe")
    assert bed_fits("", "critical")


def test_a_case_is_admitted_to_the_first_free_bed_of_its_severity(
    session: Session, hospital: Facility, registry: Registry, county_commander: Actor
) -> None:
    severe = case_of(session, county_commander, registry.a1[0], severity="severe")
    stay = admit_case(session, county_commander, severe.id, hospital.id)
    assert (stay.kind, stay.case_id, stay.severity, stay.facility_id) == (
        "hospital", severe.id, "severe", hospital.id,
    )  # fmt: skip
    taken = session.get(Room, stay.room_id)
    assert taken is not None
    assert (taken.number, taken.ward_level, taken.status) == ("201", "severe", "occupied")
    asymptomatic = case_of(session, county_commander, registry.a1[1], severity="")
    mild = admit_case(session, county_commander, asymptomatic.id, hospital.id)
    assert (mild.severity, bed(session, hospital, "101").id) == ("mild", mild.room_id)


def test_a_case_in_quarantine_leaves_the_stay_and_its_room_goes_to_cleaning(
    session: Session,
    hospital: Facility,
    site: Facility,
    registry: Registry,
    county_commander: Actor,
) -> None:
    room = bed(session, site, "102")
    quarantined = Stay(
        person_id=registry.a1[0].id,
        region_code=site.region_code,
        kind="centralized",
        facility_id=site.id,
        room_id=room.id,
        started_at=NOW - timedelta(days=3),
        end_reason="",
    )
    session.add(quarantined)
    room.status = "occupied"
    session.commit()
    case = case_of(session, county_commander, registry.a1[0])
    admitted = admit_case(session, county_commander, case.id, hospital.id, severity="mild")
    session.refresh(quarantined)
    session.refresh(room)
    assert (quarantined.end_reason, quarantined.ended_at) == ("became_case", NOW)
    assert room.status == "cleaning"
    assert (admitted.kind, admitted.started_at) == ("hospital", NOW)
    with pytest.raises(Conflict, match="transfer"):
        admit_case(session, county_commander, case.id, hospital.id, severity="mild")


def test_a_hospital_that_failed_its_inspection_receives_no_one(
    session: Session, registry: Registry, county_commander: Actor
) -> None:
    failed = make_facility(
        session, name="未达标方舱", kind="makeshift_hospital", region_code=ANCI,
        layouts=[RoomLayout("舱", 1, 1, 5, kind="bed", ward_level="mild")], passed=False,
    )  # fmt: skip
    case = case_of(session, county_commander, registry.a1[0])
    with pytest.raises(Conflict, match="failed its zone inspection"):
        admit_case(session, county_commander, case.id, failed.id)


def test_without_a_free_bed_of_the_level_the_refusal_names_where_one_is_free(
    session: Session, hospital: Facility, registry: Registry, county_commander: Actor
) -> None:
    make_facility(
        session, name="市重症救治中心", kind="designated_hospital", region_code=ANCI,
        layouts=[RoomLayout("ICU", 1, 1, 3, kind="bed", ward_level="critical")],
    )  # fmt: skip
    case = case_of(session, county_commander, registry.a1[0], severity="critical")
    with pytest.raises(Conflict) as refused:
        admit_case(session, county_commander, case.id, hospital.id)
    assert "no free critical bed" in refused.value.message
    assert "市重症救治中心 3" in refused.value.message


def test_a_named_bed_must_fit_the_severity_and_be_free(
    session: Session, hospital: Facility, registry: Registry, county_commander: Actor
) -> None:
    first = case_of(session, county_commander, registry.a1[0], severity="severe")
    second = case_of(session, county_commander, registry.a1[1], severity="severe")
    with pytest.raises(InvalidInput) as wrong:
        admit_case(
            session, county_commander, first.id, hospital.id, bed(session, hospital, "101").id
        )
    assert wrong.value.field == "bed_id"
    admit_case(session, county_commander, first.id, hospital.id, bed(session, hospital, "205").id)
    with pytest.raises(Conflict, match="205"):
        admit_case(
            session, county_commander, second.id, hospital.id, bed(session, hospital, "205").id
        )


def test_a_transfer_moves_the_patient_to_a_bed_of_the_new_severity_and_cleans_the_old(
    session: Session, hospital: Facility, registry: Registry, county_commander: Actor
) -> None:
    case = case_of(session, county_commander, registry.a1[0])
    stay = admit_case(session, county_commander, case.id, hospital.id)
    old = session.get(Room, stay.room_id)
    moved = transfer_patient(session, county_commander, stay.id, hospital.id, severity="severe")
    assert moved.id == stay.id
    new = session.get(Room, moved.room_id)
    assert old is not None
    assert new is not None
    assert (old.status, new.status, new.ward_level, moved.severity) == (
        "cleaning", "occupied", "severe", "severe",
    )  # fmt: skip
    move = session.scalars(select(StayMove).where(StayMove.stay_id == stay.id)).one()
    assert (move.from_room_id, move.to_room_id) == (old.id, new.id)


def test_a_discharge_ends_the_stay_cleans_the_bed_and_leaves_the_case_as_it_was(
    session: Session, hospital: Facility, registry: Registry, county_commander: Actor
) -> None:
    case = case_of(session, county_commander, registry.a1[0], severity="severe")
    stay = admit_case(session, county_commander, case.id, hospital.id)
    done = discharge_patient(session, county_commander, stay.id, "两次核酸阴性")
    assert (done.end_reason, done.ended_at) == ("discharged", NOW)
    left = session.get(Room, stay.room_id)
    assert left is not None
    assert left.status == "cleaning"
    session.refresh(case)
    assert (case.classification, case.severity) == ("confirmed", "severe")
    with pytest.raises(Conflict, match="ended already"):
        discharge_patient(session, county_commander, stay.id)
    assert cases_awaiting_admission(session, county_commander) == []  # admitted once


def test_bed_occupancy_adds_up_by_ward_level_and_counts_patients_by_severity(
    session: Session, hospital: Facility, registry: Registry, county_commander: Actor
) -> None:
    stays = [
        admit_case(session, county_commander, case_of(session, county_commander, r, severity=s).id,
                   hospital.id)
        for r, s in ((registry.a1[0], "mild"), (registry.a1[1], "mild"), (registry.a1[2], "severe"))
    ]  # fmt: skip
    discharge_patient(session, county_commander, stays[0].id)
    [board] = bed_occupancy(session, county_commander)
    wards = {
        w.level: (w.beds.total, w.beds.occupied, w.beds.free, w.beds.cleaning) for w in board.wards
    }
    assert wards == {"mild": (10, 1, 8, 1), "severe": (10, 1, 9, 0)}
    assert board.patients == {"mild": 1, "severe": 1}
    assert board.receiving
    assert [p.bed for p in list_patients(session, county_commander)] == ["102", "201"]


def test_cases_not_admitted_beyond_the_policys_hours_are_listed(
    session: Session,
    hospital: Facility,
    registry: Registry,
    county_commander: Actor,
    other_county_commander: Actor,
) -> None:
    late = case_of(session, county_commander, registry.a1[0], confirmed_ago=timedelta(hours=3))
    recent = case_of(session, county_commander, registry.a1[1], confirmed_ago=timedelta(hours=1))
    admitted = case_of(session, county_commander, registry.a1[2], confirmed_ago=timedelta(hours=5))
    admit_case(session, county_commander, admitted.id, hospital.id)
    overdue = cases_not_admitted(session, county_commander, NOW)
    assert [c.case_id for c in overdue] == [late.id]
    assert overdue[0].due_at == late.confirmed_at + timedelta(hours=2)
    assert "*" in overdue[0].id_number
    waiting = cases_awaiting_admission(session, county_commander, NOW)
    assert [(c.case_id, c.overdue) for c in waiting] == [(late.id, True), (recent.id, False)]
    assert cases_not_admitted(session, other_county_commander, NOW) == []


def test_a_facility_manager_admits_only_to_the_facilities_they_work_for(
    session: Session,
    hospital: Facility,
    registry: Registry,
    county_commander: Actor,
    facility_manager: Actor,
    make_actor: Callable[..., Actor],
) -> None:
    case = case_of(session, county_commander, registry.a1[0])
    with pytest.raises(NotFound):
        admit_case(session, facility_manager, case.id, hospital.id)
    assert bed_occupancy(session, facility_manager) == []
    worker = make_actor("community_worker", ANCI)
    with pytest.raises(PermissionDenied):
        admit_case(session, worker, case.id, hospital.id)

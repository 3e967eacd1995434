"""What the hospital board shows: beds by ward level and patients by
severity per hospital, the patients in a bed, the cases waiting for
admission (late ones beyond the policy's hours), and the free beds of a
level. The changes (admission, transfer, discharge) are
:mod:`fangkong.quarantine.hospitals`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require, scope
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.quarantine.capacity_rules import Counts
from fangkong.quarantine.facilities import latest_inspection
from fangkong.quarantine.hospitals import SEVERITIES, admission_overdue
from fangkong.quarantine.models import WARD_LEVELS, Facility, Room, Stay
from fangkong.quarantine.rules import HOSPITAL_KINDS
from fangkong.quarantine.scope import get_facility, scope_facilities, staffed_facility_ids
from fangkong.tracing.models import Case


@dataclass(frozen=True)
class WardOccupancy:
    level: str
    beds: Counts  # by status, as the capacity page counts rooms


@dataclass(frozen=True)
class HospitalOccupancy:
    facility: Facility
    receiving: bool
    wards: list[WardOccupancy]
    patients: dict[str, int]  # by severity


def _hospitals(session: Session, actor: Actor) -> list[Facility]:
    return list(
        session.scalars(
            scope_facilities(
                session,
                select(Facility).where(Facility.kind.in_(HOSPITAL_KINDS)).order_by(Facility.name),
                actor,
                Facility.region_code,
                Facility.id,
            )
        )
    )


def bed_occupancy(session: Session, actor: Actor) -> list[HospitalOccupancy]:
    """Per hospital the actor sees and ward level: beds in total, occupied,
    free (ready), being cleaned, out of service; patients by severity."""
    require(actor, Permission.QUARANTINE_READ)
    hospitals = _hospitals(session, actor)
    ids = [h.id for h in hospitals] or [-1]
    beds: dict[int, dict[str, Counter[str]]] = {}
    for facility_id, level, status, count in session.execute(
        select(Room.facility_id, Room.ward_level, Room.status, func.count())
        .where(Room.facility_id.in_(ids), Room.kind == "bed")
        .group_by(Room.facility_id, Room.ward_level, Room.status)
    ):
        beds.setdefault(facility_id, {}).setdefault(level, Counter())[status] += count
    patients: dict[int, Counter[str]] = {}
    for held_in, severity, count in session.execute(
        select(Stay.facility_id, Stay.severity, func.count())
        .where(Stay.facility_id.in_(ids), Stay.kind == "hospital", Stay.ended_at.is_(None))
        .group_by(Stay.facility_id, Stay.severity)
    ):
        if held_in is not None:
            patients.setdefault(held_in, Counter())[severity] += count
    result = []
    for hospital in hospitals:
        by_level = beds.get(hospital.id, {})
        wards = [
            WardOccupancy(level, Counts.of(by_level[level]))
            for level in WARD_LEVELS
            if level in by_level
        ]
        inspection = latest_inspection(session, hospital.id)
        receiving = hospital.active and inspection is not None and inspection.passed
        counted = patients.get(hospital.id, Counter())
        result.append(
            HospitalOccupancy(
                hospital, receiving, wards, {s: counted[s] for s in SEVERITIES if counted[s]}
            )
        )
    return result


@dataclass(frozen=True)
class PatientRow:
    stay_id: int
    case_id: int | None
    person_id: int
    name: str
    id_number: str  # masked
    facility_id: int
    facility: str
    bed: str
    ward_level: str
    severity: str
    started_at: datetime


def list_patients(
    session: Session, actor: Actor, facility_id: int | None = None
) -> list[PatientRow]:
    """The patients in the hospitals the actor sees (stays in force)."""
    require(actor, Permission.QUARANTINE_READ)
    stmt = (
        select(Stay, Person, Facility, Room)
        .join(Person, Person.id == Stay.person_id)
        .join(Facility, Facility.id == Stay.facility_id)
        .join(Room, Room.id == Stay.room_id)
        .where(Stay.kind == "hospital", Stay.ended_at.is_(None))
    )
    if facility_id is not None:
        get_facility(session, actor, facility_id)
        stmt = stmt.where(Stay.facility_id == facility_id)
    stmt = scope(stmt, Stay.region_code, actor)
    staffed = staffed_facility_ids(session, actor)
    if staffed is not None:
        stmt = stmt.where(Stay.facility_id.in_(staffed or {-1}))
    stmt = stmt.order_by(Facility.name, Room.building, Room.floor, Room.position).limit(1000)
    return [
        PatientRow(
            stay_id=stay.id,
            case_id=stay.case_id,
            person_id=person.id,
            name=person.name,
            id_number=mask_identity(person.id_number),
            facility_id=facility.id,
            facility=facility.name,
            bed=room.number,
            ward_level=room.ward_level,
            severity=stay.severity,
            started_at=stay.started_at,
        )
        for stay, person, facility, room in session.execute(stmt)
    ]


@dataclass(frozen=True)
class AwaitingAdmission:
    case_id: int
    person_id: int
    name: str
    id_number: str  # masked
    region_code: str
    classification: str
    severity: str
    confirmed_at: datetime
    due_at: datetime
    overdue: bool
    held_in: str  # the facility of a quarantine stay in force, else ""


def cases_awaiting_admission(
    session: Session, actor: Actor, now: datetime | None = None
) -> list[AwaitingAdmission]:
    """Cases of the actor's jurisdiction that never had a hospital stay,
    oldest confirmation first, each with its admission deadline."""
    require(actor, Permission.QUARANTINE_READ)
    now = now or clock.now()
    hours = get_policy().hospital_admission_deadline_hours
    admitted = select(Stay.id).where(
        Stay.kind == "hospital",
        (Stay.case_id == Case.id) | (Stay.person_id == Case.person_id),
    )
    stmt = scope(
        select(Case, Person)
        .join(Person, Person.id == Case.person_id)
        .where(~admitted.exists())
        .order_by(Case.confirmed_at, Case.id)
        .limit(1000),
        Case.region_code,
        actor,
    )
    rows = session.execute(stmt).all()
    held: dict[int, str] = dict(
        session.execute(
            select(Stay.person_id, Facility.name)
            .join(Facility, Facility.id == Stay.facility_id)
            .where(
                Stay.person_id.in_([person.id for _, person in rows] or [-1]),
                Stay.ended_at.is_(None),
            )
        ).all()
    )
    return [
        AwaitingAdmission(
            case_id=case.id,
            person_id=person.id,
            name=person.name,
            id_number=mask_identity(person.id_number),
            region_code=case.region_code,
            classification=case.classification,
            severity=case.severity,
            confirmed_at=case.confirmed_at,
            due_at=case.confirmed_at + timedelta(hours=hours),
            overdue=admission_overdue(case.confirmed_at, now, hours),
            held_in=held.get(person.id, ""),
        )
        for case, person in rows
    ]


def cases_not_admitted(
    session: Session, actor: Actor, now: datetime | None = None
) -> list[AwaitingAdmission]:
    """Cases not admitted beyond the policy's hours
    (``hospital_admission_deadline_hours`` after confirmation)."""
    return [c for c in cases_awaiting_admission(session, actor, now) if c.overdue]

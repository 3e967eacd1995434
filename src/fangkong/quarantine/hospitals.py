"""Designated and makeshift hospitals (定点医院, 方舱医院): admission of cases
to a bed by severity, transfers, discharge, bed occupancy, and the cases
not admitted within the policy's hours.

- A case is admitted to a bed whose ward level fits its severity
  (:func:`bed_fits`): a bed of the same level, or a bed whose ward has no
  level recorded. Without a bed named, the first free one of that level is
  taken (building, floor, corridor order). A hospital whose zone inspection
  has not passed receives no one; when no bed of the level is free, the
  refusal names the hospitals of the actor's jurisdiction that have one.
- A person still in a quarantine stay leaves it on admission (end reason
  ``became_case``); their room goes to cleaning, and the hospital stay
  starts (kind ``hospital``, with the case and its severity).
- A transfer moves the hospital stay to another bed (another ward or
  hospital, a new severity); a discharge ends it. Each bed left goes to
  cleaning. The case itself is never changed here.
- A case without any hospital stay whose confirmation is older than
  ``hospital_admission_deadline_hours`` (Protocol 8th ed.: within 2 hours)
  is listed as not admitted.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, record_audit, require
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.models import Person
from fangkong.quarantine.facilities import (
    latest_inspection,
    leave_room,
    refuse_unless_receiving,
    room_occupied,
)
from fangkong.quarantine.models import WARD_LEVELS, Facility, Room, Stay, StayMove
from fangkong.quarantine.rules import HOSPITAL_KINDS
from fangkong.quarantine.scope import get_facility, scope_facilities
from fangkong.tracing.cases import get_case

SEVERITIES = WARD_LEVELS[1:]  # mild, moderate, severe, critical
MAX_NOTE = 500


# --- the rules (pure) ----------------------------------------------------------------


def bed_fits(ward_level: str, severity: str) -> bool:
    """A bed takes a patient of its ward's level; a ward without a level
    recorded takes any."""
    return ward_level in ("", severity)


def admission_overdue(confirmed_at: datetime, now: datetime, deadline_hours: float) -> bool:
    return confirmed_at + timedelta(hours=deadline_hours) < now


# --- beds ------------------------------------------------------------------------------


def _check_severity(severity: str) -> None:
    if severity not in SEVERITIES:
        raise InvalidInput("severity", f"one of {', '.join(SEVERITIES)}")


def _hospital(session: Session, actor: Actor, facility_id: int) -> Facility:
    facility = get_facility(session, actor, facility_id)
    if facility.kind not in HOSPITAL_KINDS:
        raise InvalidInput("facility_id", f"{facility.name} is not a hospital")
    return facility


def _free_elsewhere(session: Session, actor: Actor, severity: str, but: int) -> str:
    """Where beds for ``severity`` are free among the hospitals the actor
    sees (a facility manager: only those they work for)."""
    rows = session.execute(
        scope_facilities(
            session,
            select(Facility.id, Facility.name, Room.ward_level, func.count())
            .join(Room, Room.facility_id == Facility.id)
            .where(
                Facility.kind.in_(HOSPITAL_KINDS),
                Facility.active.is_(True),
                Facility.id != but,
                Room.kind == "bed",
                Room.status == "ready",
            )
            .group_by(Facility.id, Facility.name, Room.ward_level)
            .order_by(Facility.name),
            actor,
            Facility.region_code,
            Facility.id,
        )
    ).all()
    free: Counter[str] = Counter()
    for facility_id, name, level, count in rows:
        inspection = latest_inspection(session, facility_id)
        if bed_fits(level, severity) and inspection is not None and inspection.passed:
            free[name] += count
    if not free:
        return f"no hospital of your jurisdiction has a free {severity} bed"
    return "free beds: " + ", ".join(f"{name} {count}" for name, count in free.items())


def _take_bed(
    session: Session, actor: Actor, facility: Facility, bed_id: int | None, severity: str
) -> Room:
    if bed_id is not None:
        bed = session.get(Room, bed_id, with_for_update=True)  # two admissions, one bed
        if bed is None or bed.facility_id != facility.id or bed.kind != "bed":
            raise InvalidInput("bed_id", f"not a bed of {facility.name}")
        if not bed_fits(bed.ward_level, severity):
            raise InvalidInput(
                "bed_id", f"bed {bed.number} is on a {bed.ward_level} ward, not {severity}"
            )
        if bed.status != "ready" or room_occupied(session, bed.id):
            raise Conflict(f"bed {bed.number} of {facility.name} is not free ({bed.status})")
        return bed
    candidates = session.scalars(
        select(Room)
        .where(
            Room.facility_id == facility.id,
            Room.kind == "bed",
            Room.status == "ready",
            Room.ward_level.in_(("", severity)),
        )
        .order_by((Room.ward_level == "").asc(), Room.building, Room.floor, Room.position)
        .with_for_update(skip_locked=True)
        .limit(20)
    ).all()
    for bed in candidates:
        if not room_occupied(session, bed.id):
            return bed
    raise Conflict(
        f"{facility.name} has no free {severity} bed; "
        f"{_free_elsewhere(session, actor, severity, facility.id)}"
    )


def _left_status(left: tuple[Room | None, bool]) -> str:
    """The status of a room left (for the audit), '' without a room."""
    room, _ = left
    return room.status if room is not None else ""


def _occupy(bed: Room, now: datetime) -> None:
    bed.status, bed.status_at = "occupied", now


# --- admission, transfer, discharge ------------------------------------------------------------


def admit_case(
    session: Session,
    actor: Actor,
    case_id: int,
    facility_id: int,
    bed_id: int | None = None,
    *,
    severity: str = "",
) -> Stay:
    """Admit a case to a bed of a hospital (``severity``: the case's when
    not given, ``mild`` for an asymptomatic infection). A quarantine stay in
    force ends (``became_case``) and its room goes to cleaning."""
    require(actor, Permission.QUARANTINE_STAYS)
    case = get_case(session, actor, case_id)
    severity = severity or case.severity or "mild"
    _check_severity(severity)
    facility = _hospital(session, actor, facility_id)
    refuse_unless_receiving(session, facility)
    current = session.scalars(
        select(Stay)
        .where(Stay.person_id == case.person_id, Stay.ended_at.is_(None))
        .with_for_update()  # a release of the same stay waits, then finds it ended
    ).one_or_none()
    if current is not None and current.kind == "hospital":
        held = session.get(Facility, current.facility_id) if current.facility_id else None
        where = held.name if held else "a hospital"
        raise Conflict(f"病例 {case.id} 已收治于 {where} (case {case.id} is in {where}; transfer)")
    bed = _take_bed(session, actor, facility, bed_id, severity)
    now = clock.now()
    ended: int | None = None
    left_status = ""
    if current is not None:
        current.ended_at, current.end_reason = now, "became_case"
        session.flush()
        left_status = _left_status(leave_room(session, current.room_id, now))
        ended = current.id
    person = session.get(Person, case.person_id)
    assert person is not None  # a foreign key
    stay = Stay(
        person_id=case.person_id,
        region_code=facility.region_code,
        kind="hospital",
        facility_id=facility.id,
        room_id=bed.id,
        risk_person_id=current.risk_person_id if current else None,
        case_id=case.id,
        household_id=person.household_id,
        exposure_key="",
        severity=severity,
        started_at=now,
        end_reason="",
        placed_by=actor.user_id,
    )
    session.add(stay)
    _occupy(bed, now)
    try:
        session.flush()
    except IntegrityError:  # the same case admitted at the same moment elsewhere
        session.rollback()
        raise Conflict(f"病例 {case.id} 刚被收治 (case {case.id} was just admitted)") from None
    record_audit(
        session,
        actor,
        "hospital.admit",
        "stay",
        stay.id,
        stay.region_code,
        {
            "case_id": case.id,
            "facility_id": facility.id,
            "bed": bed.number,
            "severity": severity,
            "ended_stay_id": ended,
            "bed_status": ["ready", "occupied"],
            "left_room_status": left_status,
        },
    )
    session.commit()
    return stay


def _hospital_stay(session: Session, actor: Actor, stay_id: int) -> Stay:
    stay = session.get(Stay, stay_id, with_for_update=True)  # a transfer racing a discharge
    if stay is None or stay.kind != "hospital" or stay.facility_id is None:
        raise NotFound("hospital stay not found")
    get_facility(session, actor, stay.facility_id)  # 404 out of scope
    if stay.ended_at is not None:
        raise Conflict(f"住院 {stay.id} 已结束 (stay {stay.id} ended already: {stay.end_reason})")
    return stay


def transfer_patient(
    session: Session,
    actor: Actor,
    stay_id: int,
    facility_id: int,
    bed_id: int | None = None,
    severity: str | None = None,
) -> Stay:
    """Move a patient to another bed (another ward or hospital), with a new
    severity when given; the bed left goes to cleaning."""
    require(actor, Permission.QUARANTINE_STAYS)
    stay = _hospital_stay(session, actor, stay_id)
    severity = severity or stay.severity or "mild"
    _check_severity(severity)
    facility = _hospital(session, actor, facility_id)
    if facility.id != stay.facility_id:
        refuse_unless_receiving(session, facility)
    if bed_id is not None and bed_id == stay.room_id:
        raise InvalidInput("bed_id", "is the patient's bed already")
    bed = _take_bed(session, actor, facility, bed_id, severity)
    now = clock.now()
    before = (stay.facility_id, stay.room_id, stay.severity)
    session.add(
        StayMove(
            stay_id=stay.id,
            from_room_id=stay.room_id,
            to_room_id=bed.id,
            reason=f"transfer ({severity})",
            moved_at=now,
            moved_by=actor.user_id,
        )
    )
    left = stay.room_id
    stay.facility_id, stay.room_id, stay.region_code = facility.id, bed.id, facility.region_code
    stay.severity = severity
    _occupy(bed, now)
    session.flush()
    left_status = _left_status(leave_room(session, left, now))
    record_audit(
        session,
        actor,
        "hospital.transfer",
        "stay",
        stay.id,
        stay.region_code,
        {
            "facility_id": [before[0], facility.id],
            "room_id": [before[1], bed.id],
            "severity": [before[2], severity],
            "bed_status": ["ready", "occupied"],
            "left_room_status": left_status,
        },
    )
    session.commit()
    return stay


def discharge_patient(session: Session, actor: Actor, stay_id: int, note: str = "") -> Stay:
    """Discharge a patient: the stay ends, the bed goes to cleaning; the
    case is not changed."""
    require(actor, Permission.QUARANTINE_STAYS)
    stay = _hospital_stay(session, actor, stay_id)
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput("note", f"at most {MAX_NOTE} characters")
    now = clock.now()
    stay.ended_at, stay.end_reason = now, "discharged"
    session.flush()
    left_status = _left_status(leave_room(session, stay.room_id, now))
    record_audit(
        session,
        actor,
        "hospital.discharge",
        "stay",
        stay.id,
        stay.region_code,
        {
            "case_id": stay.case_id,
            "end_reason": ["", "discharged"],
            "note": note,
            "left_room_status": left_status,
        },
    )
    session.commit()
    return stay


# --- beds for a form ------------------------------------------------------------------


def bed_by_number(session: Session, actor: Actor, facility_id: int, number: str) -> int | None:
    """The id of a hospital's bed by its number as the ward writes it
    (``None`` for an empty number: any free bed)."""
    number = number.strip()
    if not number:
        return None
    facility = _hospital(session, actor, facility_id)
    found = session.scalars(
        select(Room.id).where(
            Room.facility_id == facility.id, Room.kind == "bed", Room.number == number
        )
    ).all()
    if len(found) != 1:
        raise InvalidInput("bed", f"{facility.name} has no bed numbered {number}")
    return found[0]

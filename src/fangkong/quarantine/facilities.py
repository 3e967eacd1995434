"""Facilities, their rooms and beds, their zone inspections and their staff:
one service function per change, each validating, writing, auditing and
committing (DESIGN.md habit 2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.rules import Permission, Role, covers
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.quarantine.models import (
    FACILITY_KINDS,
    ROOM_STATUSES,
    WARD_LEVELS,
    Facility,
    FacilityInspection,
    FacilityStaff,
    Room,
    Stay,
)
from fangkong.quarantine.rules import (
    ZONE_CHECKLIST,
    RoomLayout,
    judge_inspection,
    rooms_of,
    unknown_items,
)
from fangkong.quarantine.scope import get_facility, scope_facilities
from fangkong.regions.models import Region

MAX_ROOMS_PER_LAYOUT = 5000


def create_facility(
    session: Session, actor: Actor, *, name: str, kind: str, region_code: str, address: str = ""
) -> Facility:
    require(actor, Permission.QUARANTINE_FACILITIES)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name", "a facility's name has 1 to 200 characters")
    if kind not in FACILITY_KINDS:
        raise InvalidInput("kind", f"one of {', '.join(FACILITY_KINDS)}")
    region_code = region_code.strip()
    if session.get(Region, region_code) is None:
        raise InvalidInput("region_code", f"{region_code!r} is not a known region code")
    if not covers(actor.jurisdiction, region_code):
        raise InvalidInput("region_code", f"outside your jurisdiction ({actor.jurisdiction})")
    if session.scalar(select(Facility.id).where(Facility.name == name)) is not None:
        raise Conflict(f"a facility named {name} exists already")
    facility = Facility(
        name=name,
        kind=kind,
        region_code=region_code,
        address=address.strip()[:300],
        active=True,
        created_at=clock.now(),
    )
    session.add(facility)
    session.flush()
    record_audit(
        session,
        actor,
        "facility.create",
        "facility",
        facility.id,
        region_code,
        {"name": name, "kind": kind},
    )
    session.commit()
    return facility


def add_rooms(session: Session, actor: Actor, facility_id: int, layout: RoomLayout) -> int:
    """Add the rooms (or beds) of a building layout; a room number the
    building already has is refused, and nothing is added."""
    require(actor, Permission.QUARANTINE_FACILITIES)
    facility = get_facility(session, actor, facility_id)
    if not layout.building.strip() or len(layout.building) > 40:
        raise InvalidInput("building", "a building's name has 1 to 40 characters")
    if not 1 <= layout.first_floor <= layout.last_floor <= 200:
        raise InvalidInput("last_floor", "floors run from the first to the last, 1 to 200")
    if not 1 <= layout.rooms_per_floor <= 500:
        raise InvalidInput("rooms_per_floor", "1 to 500 rooms a floor")
    if not 1 <= layout.capacity <= 4:
        raise InvalidInput("capacity", "a room holds 1 to 4 persons")
    if layout.kind not in ("room", "bed"):
        raise InvalidInput("kind", "room or bed")
    if layout.kind == "bed" and facility.kind == "quarantine_site":
        raise InvalidInput("kind", "a quarantine site has rooms, not beds")
    if layout.ward_level not in WARD_LEVELS:
        raise InvalidInput("ward_level", f"one of {', '.join(WARD_LEVELS[1:])}")
    planned = rooms_of(layout)
    if len(planned) > MAX_ROOMS_PER_LAYOUT:
        raise InvalidInput("rooms_per_floor", f"at most {MAX_ROOMS_PER_LAYOUT} rooms at once")
    taken = set(
        session.scalars(
            select(Room.number).where(
                Room.facility_id == facility.id, Room.building == layout.building
            )
        )
    )
    clash = sorted({r.number for r in planned} & taken)
    if clash:
        raise Conflict(f"building {layout.building} has rooms {', '.join(clash[:5])} already")
    now = clock.now()
    session.add_all(
        Room(
            facility_id=facility.id,
            region_code=facility.region_code,
            kind=r.kind,
            building=r.building,
            floor=r.floor,
            position=r.position,
            number=r.number,
            ward=r.ward,
            ward_level=r.ward_level,
            capacity=r.capacity,
            private_bathroom=r.private_bathroom,
            care_team="",
            status="ready",
            status_at=now,
        )
        for r in planned
    )
    record_audit(
        session,
        actor,
        "facility.rooms",
        "facility",
        facility.id,
        facility.region_code,
        {
            "building": layout.building,
            "floors": [layout.first_floor, layout.last_floor],
            "rooms": len(planned),
            "kind": layout.kind,
        },
    )
    session.commit()
    return len(planned)


def record_inspection(
    session: Session,
    actor: Actor,
    facility_id: int,
    *,
    items: dict[str, bool],
    inspected_on: date,
    inspector: str,
    note: str = "",
) -> FacilityInspection:
    """Record a zone-layout inspection; the facility receives persons only
    while its latest inspection passed."""
    require(actor, Permission.QUARANTINE_FACILITIES)
    facility = get_facility(session, actor, facility_id)
    unknown = unknown_items(items)
    if unknown:
        raise InvalidInput("items", f"not on the checklist: {', '.join(unknown)}")
    if inspected_on > clock.today_local():
        raise InvalidInput("inspected_on", "an inspection cannot be dated in the future")
    if not inspector.strip():
        raise InvalidInput("inspector", "name who inspected")
    verdict = judge_inspection(items)
    inspection = FacilityInspection(
        facility_id=facility.id,
        region_code=facility.region_code,
        inspected_on=inspected_on,
        inspector=inspector.strip()[:100],
        items={key: bool(items.get(key, False)) for key in ZONE_CHECKLIST},
        passed=verdict.passed,
        note=note.strip(),
        recorded_at=clock.now(),
    )
    session.add(inspection)
    session.flush()
    record_audit(
        session,
        actor,
        "facility.inspect",
        "facility",
        facility.id,
        facility.region_code,
        {"passed": verdict.passed, "failed": list(verdict.failed_items)},
    )
    session.commit()
    return inspection


def latest_inspection(session: Session, facility_id: int) -> FacilityInspection | None:
    return session.scalar(
        select(FacilityInspection)
        .where(FacilityInspection.facility_id == facility_id)
        .order_by(FacilityInspection.inspected_on.desc(), FacilityInspection.id.desc())
        .limit(1)
    )


def receiving_ids(session: Session, facility_ids: Sequence[int]) -> set[int]:
    """Which of the facilities may receive: active, latest inspection passed
    (one query for all; :func:`refuse_unless_receiving` says why not)."""
    latest = (
        select(
            FacilityInspection.facility_id,
            FacilityInspection.passed,
            func.row_number()
            .over(
                partition_by=FacilityInspection.facility_id,
                order_by=(FacilityInspection.inspected_on.desc(), FacilityInspection.id.desc()),
            )
            .label("n"),
        )
        .where(FacilityInspection.facility_id.in_(facility_ids))
        .subquery()
    )
    return set(
        session.scalars(
            select(Facility.id)
            .join(latest, latest.c.facility_id == Facility.id)
            .where(latest.c.n == 1, latest.c.passed.is_(True), Facility.active.is_(True))
        )
    )


def room_occupied(session: Session, room_id: int) -> bool:
    """Whether any stay in force is in the room (a companion shares one)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Stay)
            .where(Stay.room_id == room_id, Stay.ended_at.is_(None))
        )
        or 0
    ) > 0


def leave_room(session: Session, room_id: int | None, now: datetime) -> tuple[Room | None, bool]:
    """A room or bed left (the stay that left it ended or moved, and
    flushed): to cleaning once nobody is in it. Returns the room, locked (a
    companion may leave at the same moment; None without a room), and
    whether it went to cleaning now."""
    room = session.get(Room, room_id, with_for_update=True) if room_id is not None else None
    if room is None or room.status != "occupied" or room_occupied(session, room.id):
        return room, False
    room.status, room.status_at = "cleaning", now
    return room, True


def refuse_unless_receiving(session: Session, facility: Facility) -> None:
    """Raise Conflict naming why a facility may not receive persons now."""
    if not facility.active:
        raise Conflict(f"{facility.name} is closed")
    inspection = latest_inspection(session, facility.id)
    if inspection is None:
        raise Conflict(f"{facility.name} has no zone inspection (三区两通道) on record")
    if not inspection.passed:
        failed = judge_inspection(inspection.items).failed_items
        words = "; ".join(ZONE_CHECKLIST[key][1] for key in failed)
        raise Conflict(
            f"{facility.name} failed its zone inspection of {inspection.inspected_on}: {words}"
        )


def assign_staff(session: Session, actor: Actor, facility_id: int, user_id: int) -> None:
    """List a user as working for a facility (a facility manager then sees it)."""
    require(actor, Permission.QUARANTINE_FACILITIES)
    facility = get_facility(session, actor, facility_id)
    user = session.get(User, user_id)
    if user is None or not covers(actor.jurisdiction, user.jurisdiction):
        raise NotFound("user not found")
    if user.role != Role.FACILITY_MANAGER:
        raise InvalidInput("user_id", "only a facility manager is listed as a facility's staff")
    if session.get(FacilityStaff, (user.id, facility.id)) is None:
        session.add(FacilityStaff(user_id=user.id, facility_id=facility.id))
        record_audit(
            session,
            actor,
            "facility.staff",
            "facility",
            facility.id,
            facility.region_code,
            {"user": user.username},
        )
    session.commit()


def set_room_status(session: Session, actor: Actor, room_id: int, status: str) -> Room:
    """Mark a room cleaned (ready), being cleaned, or out of service. An
    occupied room changes only through the stays in it."""
    require(actor, Permission.QUARANTINE_STAYS)
    room = session.get(Room, room_id, with_for_update=True)  # a placement may be filling it
    if room is None:
        raise NotFound("room not found")
    get_facility(session, actor, room.facility_id)
    if status not in ROOM_STATUSES or status == "occupied":
        raise InvalidInput("status", "ready, cleaning or out_of_service")
    in_room = session.scalar(
        select(func.count())
        .select_from(Stay)
        .where(Stay.room_id == room.id, Stay.ended_at.is_(None))
    )
    if in_room:
        raise Conflict(f"room {room.number} is occupied; move or release its persons first")
    before = room.status
    room.status, room.status_at = status, clock.now()
    record_audit(
        session,
        actor,
        "room.status",
        "room",
        room.id,
        room.region_code,
        {"status": [before, status]},
    )
    session.commit()
    return room


@dataclass(frozen=True)
class FacilitySummary:
    facility: Facility
    rooms: dict[str, int]  # by status
    persons: int  # stays in force
    receiving: bool


def list_facilities(session: Session, actor: Actor) -> list[FacilitySummary]:
    require(actor, Permission.QUARANTINE_READ)
    facilities = session.scalars(
        scope_facilities(
            session,
            select(Facility).order_by(Facility.name),
            actor,
            Facility.region_code,
            Facility.id,
        )
    ).all()
    ids = [f.id for f in facilities]
    by_status: dict[int, Counter[str]] = {i: Counter() for i in ids}
    for facility_id, status, count in session.execute(
        select(Room.facility_id, Room.status, func.count())
        .where(Room.facility_id.in_(ids))
        .group_by(Room.facility_id, Room.status)
    ):
        by_status[facility_id][status] = count
    persons: dict[int, int] = {
        facility_id: count
        for facility_id, count in session.execute(
            select(Stay.facility_id, func.count())
            .where(Stay.facility_id.in_(ids), Stay.ended_at.is_(None))
            .group_by(Stay.facility_id)
        )
        if facility_id is not None
    }
    summaries = []
    for facility in facilities:
        inspection = latest_inspection(session, facility.id)
        receiving = facility.active and inspection is not None and inspection.passed
        summaries.append(
            FacilitySummary(
                facility,
                {s: by_status[facility.id][s] for s in ROOM_STATUSES},
                int(persons.get(facility.id, 0)),
                receiving,
            )
        )
    return summaries


def facility_in_scope(session: Session, actor: Actor, facility_id: int) -> Facility:
    """The facility, for reading (404 when out of scope)."""
    require(actor, Permission.QUARANTINE_READ)
    facility = get_facility(session, actor, facility_id)
    ensure_in_scope(actor, facility.region_code, "facility")
    return facility

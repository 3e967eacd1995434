"""Reading the stays: the releases due per facility (homes per community),
a stay's page and its release certificate. The changes to a stay are in
:mod:`fangkong.quarantine.stays`; every query is scoped the same way, through
:mod:`fangkong.quarantine.scope`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.errors import Conflict
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.quarantine.models import CheckIn, Facility, Room, Stay
from fangkong.quarantine.release_rules import (
    stay_day,
)
from fangkong.quarantine.scope import scope_facilities
from fangkong.quarantine.stays import (
    ScheduleRow,
    get_stay,
    latest_checks,
    local_date,
    may_change_stay,
    tests_of,
    unmet_criteria,
)
from fangkong.regions.service import region_names

# --- the day's lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DueRow:
    stay_id: int
    person_id: int
    name: str
    id_number: str  # masked
    kind: str
    place: str  # the room, or the community at home
    planned_end_on: date | None
    blockers: list[str]

    @property
    def ready(self) -> bool:
        return not self.blockers


@dataclass
class DueGroup:
    """The releases due of one facility, or of the homes of one community."""

    facility_id: int | None
    region_code: str
    label: str
    rows: list[DueRow] = field(default_factory=list)

    @property
    def ready(self) -> int:
        return sum(1 for r in self.rows if r.ready)


def visible_stays(session: Session, actor: Actor) -> ColumnElement[bool]:
    """The stays ``actor`` may see, as a condition (the scope rule of
    :func:`fangkong.quarantine.scope.scope_facilities`)."""
    ids = scope_facilities(session, select(Stay.id), actor, Stay.region_code, Stay.facility_id)
    return Stay.id.in_(ids)


def releases_due(session: Session, actor: Actor, on_date: date) -> list[DueGroup]:
    """Stays in force whose planned end is on or before ``on_date``, per
    facility (homes per community), each with what still stands in the way
    of its release (nothing: ready)."""
    require(actor, Permission.QUARANTINE_READ)
    stmt = (
        select(Stay, Person, Room, Facility)
        .join(Person, Person.id == Stay.person_id)
        .outerjoin(Room, Room.id == Stay.room_id)
        .outerjoin(Facility, Facility.id == Stay.facility_id)
        .where(
            visible_stays(session, actor),
            Stay.ended_at.is_(None),
            Stay.kind != "hospital",
            Stay.planned_end_on.isnot(None),
            Stay.planned_end_on <= on_date,
        )
        .order_by(Facility.name, Stay.region_code, Room.floor, Room.position, Stay.id)
    )
    rows = session.execute(stmt).all()
    ids = [stay.id for stay, *_ in rows]
    tests, checks = tests_of(session, ids), latest_checks(session, ids)
    names = region_names(session, {s.region_code for s, _, _, f in rows if f is None})
    now, judged_on = clock.now(), max(on_date, clock.today_local())
    groups: dict[tuple[int | None, str], DueGroup] = {}
    for stay, person, room, facility in rows:
        key = (facility.id, "") if facility else (None, stay.region_code)
        if key not in groups:
            label = facility.name if facility else names.get(stay.region_code, stay.region_code)
            groups[key] = DueGroup(key[0], stay.region_code, label)
        blockers = unmet_criteria(stay, tests[stay.id], checks.get(stay.id), now, judged_on)
        groups[key].rows.append(
            DueRow(
                stay.id,
                person.id,
                person.name,
                mask_identity(person.id_number),
                stay.kind,
                f"{room.building}-{room.number}" if room else stay.region_code,
                stay.planned_end_on,
                [b.text for b in blockers],
            )
        )
    return sorted(groups.values(), key=lambda g: (g.facility_id is None, g.label))


# --- one stay's page and its certificate -------------------------------------------------------


@dataclass(frozen=True)
class StayDetail:
    stay: Stay
    person: Person
    facility: Facility | None
    room: Room | None
    place: str
    day: int  # today's day of the stay
    tests: list[ScheduleRow]
    checks: list[CheckIn]
    blockers: list[str]
    can_change: bool


def _place(session: Session, stay: Stay, facility: Facility | None, room: Room | None) -> str:
    if facility is not None:
        return f"{facility.name} {room.building}-{room.number}" if room else facility.name
    names = region_names(session, {stay.region_code})
    return names.get(stay.region_code, stay.region_code)


def stay_detail(session: Session, actor: Actor, stay_id: int) -> StayDetail:
    stay = get_stay(session, actor, stay_id)
    person = session.get(Person, stay.person_id)
    assert person is not None
    facility = session.get(Facility, stay.facility_id) if stay.facility_id else None
    room = session.get(Room, stay.room_id) if stay.room_id else None
    tests = tests_of(session, [stay.id])[stay.id]
    checks = list(
        session.scalars(
            select(CheckIn).where(CheckIn.stay_id == stay.id).order_by(CheckIn.on_date.desc())
        )
    )
    now, today = clock.now(), clock.today_local()
    blockers = (
        [b.text for b in unmet_criteria(stay, tests, checks[0] if checks else None, now, today)]
        if stay.ended_at is None
        else []
    )
    return StayDetail(
        stay,
        person,
        facility,
        room,
        _place(session, stay, facility, room),
        stay_day(local_date(stay.started_at), today),
        tests,
        checks,
        blockers,
        stay.ended_at is None and may_change_stay(actor, stay),
    )


@dataclass(frozen=True)
class Certificate:
    """What a printed release certificate (解除隔离告知书) says. Not signed:
    a signed, verifiable certificate comes with the credentials issue."""

    number: str
    name: str
    id_number: str
    kind: str
    place: str
    issuer: str
    last_exposure_at: datetime | None
    started_at: datetime
    planned_end_on: date | None
    released_at: datetime
    released_by: str
    tests: list[ScheduleRow]


def release_certificate(session: Session, actor: Actor, stay_id: int) -> Certificate:
    stay = get_stay(session, actor, stay_id)
    if stay.end_reason != "released" or stay.ended_at is None:
        raise Conflict("该人员尚未解除隔离，不能打印解除证明 (the stay has not been released)")
    person = session.get(Person, stay.person_id)
    assert person is not None
    facility = session.get(Facility, stay.facility_id) if stay.facility_id else None
    room = session.get(Room, stay.room_id) if stay.room_id else None
    place = _place(session, stay, facility, room)
    released_by = session.scalar(
        select(AuditEvent.actor_label)
        .where(
            AuditEvent.action == "stay.release",
            AuditEvent.object_type == "stay",
            AuditEvent.object_id == str(stay.id),
        )
        .order_by(AuditEvent.at.desc())
        .limit(1)
    )
    whole = actor.can(Permission.REGISTRY_READ_PERSONAL)
    return Certificate(
        number=f"JC{stay.region_code[:6]}-{stay.id:08d}",
        name=person.name,
        id_number=person.id_number if whole else mask_identity(person.id_number),
        kind=stay.kind,
        place=place,
        issuer=facility.name if facility else place,
        last_exposure_at=stay.last_exposure_at,
        started_at=stay.started_at,
        planned_end_on=stay.planned_end_on,
        released_at=stay.ended_at,
        released_by=released_by or "",
        tests=tests_of(session, [stay.id])[stay.id],
    )

"""Capacity: rooms and beds by status per facility and per region, the
forecast of quarantine rooms over the next days and the regions that will
run out, and the facility board (rooms as a grid by building and floor).

Everything is read through :mod:`fangkong.quarantine.scope`: a user sees the
facilities of their jurisdiction, a facility manager only their own, and
the numbers of one table always add up (facilities = regions = total).
The forecast rule is :func:`fangkong.quarantine.capacity_rules.forecast_rooms`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.rules import Permission, Role, covers
from fangkong.access.service import Actor, require, scope
from fangkong.config import get_settings
from fangkong.errors import InvalidInput, NotFound
from fangkong.people.identity import mask_middle
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.quarantine.capacity_rules import (
    LEVELS,
    Counts,
    Forecast,
    ForecastInput,
    forecast_rooms,
    is_direct,
    region_at_level,
    total,
)
from fangkong.quarantine.facilities import receiving_ids
from fangkong.quarantine.models import Facility, FacilityStaff, Room, Stay
from fangkong.quarantine.release_rules import stay_day
from fangkong.quarantine.scope import get_facility, scope_facilities, staffed_facility_ids
from fangkong.regions.models import Region
from fangkong.regions.service import region_names
from fangkong.tracing.models import RiskPerson

# --- capacity by facility and by region --------------------------------------------


@dataclass(frozen=True)
class FacilityCapacity:
    facility_id: int
    name: str
    kind: str
    region_code: str
    receiving: bool  # active and its latest zone inspection passed
    rooms: Counts  # kind "room"
    beds: Counts  # kind "bed" (hospital wards)

    @property
    def receivable(self) -> int:
        """Free rooms and beds that can take a person now."""
        return self.rooms.free + self.beds.free if self.receiving else 0


@dataclass(frozen=True)
class RegionCapacity:
    code: str
    name: str
    direct: bool  # facilities registered in this higher region itself
    facilities: int
    receiving: int
    rooms: Counts
    beds: Counts
    receivable: int


@dataclass(frozen=True)
class CapacityTable:
    level: str
    regions: list[RegionCapacity]
    rooms: Counts  # the grand totals
    beds: Counts
    facilities: int
    receivable: int
    by_facility: list[FacilityCapacity]  # the rows the table adds up


def _facilities_in_scope(session: Session, actor: Actor) -> list[Facility]:
    stmt = select(Facility).order_by(Facility.region_code, Facility.name)
    return list(
        session.scalars(scope_facilities(session, stmt, actor, Facility.region_code, Facility.id))
    )


def capacity_by_facility(session: Session, actor: Actor) -> list[FacilityCapacity]:
    """Rooms and beds by status in every facility the actor sees."""
    require(actor, Permission.QUARANTINE_READ)
    facilities = _facilities_in_scope(session, actor)
    counted: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for facility_id, kind, status, count in session.execute(
        select(Room.facility_id, Room.kind, Room.status, func.count())
        .where(Room.facility_id.in_([f.id for f in facilities]))
        .group_by(Room.facility_id, Room.kind, Room.status)
    ):
        counted[(facility_id, kind)][status] += int(count)
    receiving = receiving_ids(session, [f.id for f in facilities])
    return [
        FacilityCapacity(
            facility_id=f.id,
            name=f.name,
            kind=f.kind,
            region_code=f.region_code,
            receiving=f.id in receiving,
            rooms=Counts.of(counted[(f.id, "room")]),
            beds=Counts.of(counted[(f.id, "bed")]),
        )
        for f in facilities
    ]


def capacity_by_region(session: Session, actor: Actor, level: str = "county") -> CapacityTable:
    """The facilities' rooms and beds rolled up to communities, townships,
    counties or the city. A facility registered above the level counts in
    its own region's row (marked ``direct``), so every facility is counted
    once: the rows add up to the totals."""
    if level not in LEVELS:
        raise InvalidInput("level", f"one of {', '.join(LEVELS)}")
    facilities = capacity_by_facility(session, actor)
    grouped: dict[str, list[FacilityCapacity]] = defaultdict(list)
    for f in facilities:
        grouped[region_at_level(f.region_code, level)].append(f)
    names = region_names(session, set(grouped))
    regions = [
        RegionCapacity(
            code=code,
            name=names.get(code, code),
            direct=is_direct(code, level),
            facilities=len(members),
            receiving=sum(1 for f in members if f.receiving),
            rooms=total(f.rooms for f in members),
            beds=total(f.beds for f in members),
            receivable=sum(f.receivable for f in members),
        )
        for code, members in sorted(grouped.items())
    ]
    return CapacityTable(
        level=level,
        regions=regions,
        rooms=total(f.rooms for f in facilities),
        beds=total(f.beds for f in facilities),
        facilities=len(facilities),
        receivable=sum(f.receivable for f in facilities),
        by_facility=facilities,
    )


# --- the forecast ----------------------------------------------------------------------


@dataclass(frozen=True)
class RegionForecast:
    code: str
    name: str
    forecast: Forecast
    placements_due: int
    new_contacts: int  # over the last policy days
    cleaning_now: int

    @property
    def runs_out_on(self) -> date | None:
        return self.forecast.runs_out_on


def _region(session: Session, actor: Actor, region_code: str) -> Region:
    region = session.get(Region, region_code.strip())
    if region is None or not covers(actor.jurisdiction, region.code):
        raise NotFound("region not found")
    return region


def room_forecast(session: Session, actor: Actor, region_code: str) -> RegionForecast:
    """Quarantine rooms of a region over the next ``capacity_forecast_days``
    days: the rooms free now in its quarantine sites that may receive, the
    persons waiting for a room, the trend of new close and secondary
    contacts, the releases due and the rooms back from cleaning."""
    require(actor, Permission.QUARANTINE_READ)
    if staffed_facility_ids(session, actor) is not None:
        # a region's demand weighed against one facility would mislead: a command view
        raise NotFound("the room forecast is for commanders and community staff")
    region = _region(session, actor, region_code)
    prefix = region.prefix
    days = get_policy().capacity_forecast_days
    today = clock.today_local()
    now = clock.now()

    sites = [
        f
        for f in _facilities_in_scope(session, actor)
        if f.kind == "quarantine_site" and f.region_code.startswith(prefix)
    ]
    site_ids = receiving_ids(session, [f.id for f in sites])
    by_status: Counter[str] = Counter()
    for status, count in session.execute(
        select(Room.status, func.count())
        .where(Room.facility_id.in_(sorted(site_ids)), Room.kind == "room")
        .group_by(Room.status)
    ):
        by_status[status] += int(count)
    releases: dict[date, int] = {
        day: int(count)
        for day, count in session.execute(
            select(Stay.planned_end_on, func.count())
            .where(
                Stay.facility_id.in_(sorted(site_ids)),
                Stay.kind == "centralized",
                Stay.ended_at.is_(None),
                Stay.planned_end_on >= today,
                Stay.planned_end_on < today + timedelta(days=days),
            )
            .group_by(Stay.planned_end_on)
        )
        if day is not None
    }

    in_force = exists().where(Stay.person_id == RiskPerson.person_id, Stay.ended_at.is_(None))
    waiting = scope(
        select(func.count()).where(
            RiskPerson.region_code.startswith(prefix, autoescape=True),
            RiskPerson.measure == "centralized_quarantine",
            RiskPerson.status.not_in(("released", "outside_region")),
            ~in_force,
        ),
        RiskPerson.region_code,
        actor,
    )
    placements_due = int(session.scalar(waiting) or 0)
    new = scope(
        select(func.count()).where(
            RiskPerson.region_code.startswith(prefix, autoescape=True),
            RiskPerson.category.in_(("close", "secondary")),
            RiskPerson.identified_at > now - timedelta(days=days),
            RiskPerson.identified_at <= now,
        ),
        RiskPerson.region_code,
        actor,
    )
    new_contacts = int(session.scalar(new) or 0)
    forecast = forecast_rooms(
        ForecastInput(
            today=today,
            days=days,
            free_now=by_status["ready"],
            cleaning_now=by_status["cleaning"],
            placements_due=placements_due,
            new_contacts=new_contacts,
            releases_due=releases,
        )
    )
    return RegionForecast(
        region.code, region.name, forecast, placements_due, new_contacts, by_status["cleaning"]
    )


def forecast_regions(session: Session, actor: Actor) -> list[str]:
    """The regions whose forecast is watched: each county with facilities
    or persons waiting for a room in the actor's scope; a user below the
    county level watches their own jurisdiction. A facility manager
    watches none (the forecast is a command view)."""
    if staffed_facility_ids(session, actor) is not None:
        return []
    if len(actor.jurisdiction) > 6:
        return [actor.jurisdiction]
    codes = {f.region_code[:6] for f in _facilities_in_scope(session, actor)}
    waiting = scope(
        select(func.substr(RiskPerson.region_code, 1, 6))
        .where(
            RiskPerson.measure == "centralized_quarantine",
            RiskPerson.status.not_in(("released", "outside_region")),
        )
        .distinct(),
        RiskPerson.region_code,
        actor,
    )
    codes |= set(session.scalars(waiting))
    known = set(session.scalars(select(Region.code).where(Region.code.in_(codes))))
    return sorted(c for c in known if covers(actor.jurisdiction, c))


def capacity_alerts(session: Session, actor: Actor) -> list[RegionForecast]:
    """The watched regions that will run out of quarantine rooms within the
    forecast window, the soonest first."""
    require(actor, Permission.QUARANTINE_READ)
    return short_of_rooms(
        [room_forecast(session, actor, code) for code in forecast_regions(session, actor)]
    )


def short_of_rooms(forecasts: list[RegionForecast]) -> list[RegionForecast]:
    """The forecasts that run out of rooms, the soonest first."""
    short = [f for f in forecasts if f.runs_out_on is not None]
    return sorted(short, key=lambda f: (f.runs_out_on or date.max, f.code))


# --- the facility board --------------------------------------------------------------------


@dataclass(frozen=True)
class Occupant:
    stay_id: int
    name: str  # masked
    day: int  # day of stay, day 1 being the day it started


@dataclass(frozen=True)
class Cell:
    room_id: int
    number: str
    status: str
    kind: str
    ward_level: str
    capacity: int
    occupants: list[Occupant]


@dataclass(frozen=True)
class Floor:
    building: str
    floor: int
    cells: list[Cell]
    counts: Counts


@dataclass
class Board:
    facility: Facility
    floors: list[Floor]
    counts: Counts
    shows_occupants: bool
    buildings: list[str] = field(default_factory=list)


def mask_name(name: str) -> str:
    """'王安次' -> '王**': the family name only, as lists show persons."""
    return mask_middle(name, 1, 0)


def facility_board(session: Session, actor: Actor, facility_id: int) -> Board:
    """A facility's rooms as a grid by building and floor, in corridor
    order, with their status; staff who place and release persons (the
    facility's manager, the commanders) also see who is in each room
    (masked) and their day of stay."""
    require(actor, Permission.QUARANTINE_READ)
    facility = get_facility(session, actor, facility_id)
    rooms = session.scalars(
        select(Room)
        .where(Room.facility_id == facility.id)
        .order_by(Room.building, Room.floor, Room.position, Room.number)
    ).all()
    shows = actor.can(Permission.QUARANTINE_STAYS)
    occupants: dict[int, list[Occupant]] = defaultdict(list)
    if shows:
        zone = get_settings().zone
        today = clock.today_local()
        for stay_id, room_id, name, started_at in session.execute(
            select(Stay.id, Stay.room_id, Person.name, Stay.started_at)
            .join(Person, Person.id == Stay.person_id)
            .where(Stay.facility_id == facility.id, Stay.ended_at.is_(None))
            .order_by(Stay.started_at, Stay.id)
        ):
            if room_id is not None:
                day = stay_day(started_at.astimezone(zone).date(), today)
                occupants[room_id].append(Occupant(stay_id, mask_name(name), day))
    floors: list[Floor] = []
    for room in rooms:
        if not floors or (floors[-1].building, floors[-1].floor) != (room.building, room.floor):
            floors.append(Floor(room.building, room.floor, [], Counts()))
        floors[-1].cells.append(
            Cell(
                room.id,
                room.number,
                room.status,
                room.kind,
                room.ward_level,
                room.capacity,
                occupants.get(room.id, []),
            )
        )
    floors = [
        Floor(f.building, f.floor, f.cells, Counts.of(Counter(c.status for c in f.cells)))
        for f in floors
    ]
    return Board(
        facility=facility,
        floors=floors,
        counts=total(f.counts for f in floors),
        shows_occupants=shows,
        buildings=sorted({f.building for f in floors}),
    )


# --- staff -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffMember:
    user_id: int
    username: str
    display_name: str


def facility_staff(session: Session, actor: Actor, facility_id: int) -> list[StaffMember]:
    """The facility managers listed for a facility."""
    require(actor, Permission.QUARANTINE_READ)
    facility = get_facility(session, actor, facility_id)
    return [
        StaffMember(*row)
        for row in session.execute(
            select(User.id, User.username, User.display_name)
            .join(FacilityStaff, FacilityStaff.user_id == User.id)
            .where(FacilityStaff.facility_id == facility.id)
            .order_by(User.username)
        )
    ]


def staff_candidates(session: Session, actor: Actor) -> list[StaffMember]:
    """The active facility managers of the actor's jurisdiction, whom
    ``facilities.assign_staff`` may list for a facility."""
    require(actor, Permission.QUARANTINE_FACILITIES)
    stmt = (
        select(User.id, User.username, User.display_name)
        .where(User.role == Role.FACILITY_MANAGER.value, User.active.is_(True))
        .order_by(User.username)
    )
    return [StaffMember(*row) for row in session.execute(scope(stmt, User.jurisdiction, actor))]

"""Who is waiting for a room and where rooms are, for a placement batch:
the risk persons whose measure is centralized quarantine, not released and
without a stay in force, in the actor's jurisdiction (filtered, paged, or
all their ids); the receiving quarantine sites with their free rooms, and
the free rooms elsewhere in the jurisdiction when a batch falls short.
Planning and writing the batch are :mod:`fangkong.quarantine.placement`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require, scope
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.quarantine.facilities import receiving_ids, refuse_unless_receiving
from fangkong.quarantine.models import Facility, Room, Stay
from fangkong.quarantine.scope import scope_facilities, staffed_facility_ids
from fangkong.tracing.control import risk_person_page
from fangkong.tracing.models import CATEGORIES, RiskPerson

MEASURE = "centralized_quarantine"


# --- candidates ---------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateFilter:
    region: str = ""
    category: str = ""

    def check(self) -> None:
        if self.region and not self.region.isdigit():
            raise InvalidInput("region", "a region code is digits only")
        if self.category and self.category not in CATEGORIES:
            raise InvalidInput("category", f"one of {', '.join(CATEGORIES)}")


@dataclass(frozen=True)
class CandidateRow:
    risk_person_id: int
    person_id: int
    name: str
    id_number: str  # masked
    region_code: str
    category: str
    status: str
    household_id: int | None
    age: int | None
    deadline_at: datetime
    overdue: bool


def candidates_query(actor: Actor, wanted: CandidateFilter) -> Select[Any]:
    wanted.check()
    in_stay = (
        select(Stay.id)
        .where(Stay.person_id == RiskPerson.person_id, Stay.ended_at.is_(None))
        .exists()
    )
    stmt = scope(select(RiskPerson.id), RiskPerson.region_code, actor).where(
        RiskPerson.measure == MEASURE, RiskPerson.status != "released", ~in_stay
    )
    if wanted.region:
        stmt = stmt.where(RiskPerson.region_code.startswith(wanted.region, autoescape=True))
    if wanted.category:
        stmt = stmt.where(RiskPerson.category == wanted.category)
    return stmt


def placement_candidates(
    session: Session, actor: Actor, wanted: CandidateFilter, *, offset: int = 0, limit: int = 100
) -> tuple[list[CandidateRow], int]:
    """One page of the persons waiting for a room, earliest deadline first,
    and their number."""
    require(actor, Permission.QUARANTINE_STAYS)
    rows, total = risk_person_page(session, candidates_query(actor, wanted), offset, limit)
    now, today = clock.now(), clock.today_local()
    return [
        CandidateRow(
            risk_person_id=risk.id,
            person_id=person.id,
            name=person.name,
            id_number=mask_identity(person.id_number),
            region_code=risk.region_code,
            category=risk.category,
            status=risk.status,
            household_id=person.household_id,
            age=age_on(person.birth_date, today),
            deadline_at=risk.deadline_at,
            overdue=risk.deadline_at < now,
        )
        for risk, person in rows
    ], total


def candidate_ids(session: Session, actor: Actor, wanted: CandidateFilter) -> list[int]:
    """Every candidate the filter selects (a batch "all of these")."""
    require(actor, Permission.QUARANTINE_STAYS)
    return list(session.scalars(candidates_query(actor, wanted).order_by(RiskPerson.id)))


def age_on(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


# --- facilities and their free rooms --------------------------------------------------


@dataclass(frozen=True)
class SiteRooms:
    facility_id: int
    name: str | None  # None: outside what the actor may see by name
    region_code: str
    free_rooms: int
    receiving: bool


def _free_room_counts(session: Session, facility_ids: Sequence[int]) -> dict[int, int]:
    if not facility_ids:
        return {}
    return {
        int(fid): int(n)
        for fid, n in session.execute(
            select(Room.facility_id, func.count())
            .where(
                Room.facility_id.in_(facility_ids),
                Room.status == "ready",
                Room.kind == "room",
                Room.private_bathroom.is_(True),
            )
            .group_by(Room.facility_id)
        )
    }


def quarantine_sites(session: Session, actor: Actor) -> list[SiteRooms]:
    """The quarantine sites the actor sees, with their free rooms (ready,
    with a private bathroom) and whether they may receive persons."""
    require(actor, Permission.QUARANTINE_STAYS)
    sites = session.scalars(
        scope_facilities(
            session,
            select(Facility).where(Facility.kind == "quarantine_site").order_by(Facility.name),
            actor,
            Facility.region_code,
            Facility.id,
        )
    ).all()
    free = _free_room_counts(session, [f.id for f in sites])
    receiving = receiving_ids(session, [f.id for f in sites])
    return [
        SiteRooms(f.id, f.name, f.region_code, free.get(f.id, 0), f.id in receiving) for f in sites
    ]


def capacity_elsewhere(session: Session, actor: Actor, chosen: Sequence[int]) -> list[SiteRooms]:
    """Free rooms in the other receiving quarantine sites of the actor's
    jurisdiction, most first. A facility manager learns the region and the
    rooms of sites they do not work for, not their names."""
    sites = session.scalars(
        scope(
            select(Facility).where(
                Facility.kind == "quarantine_site",
                Facility.active.is_(True),
                Facility.id.notin_(list(chosen) or [-1]),
            ),
            Facility.region_code,
            actor,
        )
    ).all()
    free = _free_room_counts(session, [f.id for f in sites])
    staffed = staffed_facility_ids(session, actor)
    receiving = receiving_ids(session, [f.id for f in sites])
    found = [
        SiteRooms(
            f.id,
            f.name if staffed is None or f.id in staffed else None,
            f.region_code,
            free[f.id],
            True,
        )
        for f in sites
        if free.get(f.id, 0) > 0 and f.id in receiving
    ]
    return sorted(found, key=lambda s: (-s.free_rooms, s.region_code, s.facility_id))


def facilities_for(
    session: Session, actor: Actor, facility_ids: Sequence[int] | None
) -> list[Facility]:
    if facility_ids is None:
        sites = [s for s in quarantine_sites(session, actor) if s.receiving and s.free_rooms]
        if not sites:
            raise Conflict("no quarantine site of yours can receive persons now")
        facility_ids = [s.facility_id for s in sites]
    if not facility_ids:
        raise InvalidInput("facility_ids", "choose at least one quarantine site")
    wanted = list(dict.fromkeys(facility_ids))
    found = {
        f.id: f
        for f in session.scalars(
            scope_facilities(
                session,
                select(Facility).where(Facility.id.in_(wanted)),
                actor,
                Facility.region_code,
                Facility.id,
            )
        )
    }
    if len(found) != len(wanted):
        raise NotFound("facility not found")
    receiving = receiving_ids(session, wanted)
    chosen = []
    for facility_id in wanted:
        facility = found[facility_id]
        if facility.kind != "quarantine_site":
            raise InvalidInput("facility_ids", f"{facility.name} is not a quarantine site")
        if facility_id not in receiving:
            refuse_unless_receiving(session, facility)  # raises, saying why
        chosen.append(facility)
    return chosen

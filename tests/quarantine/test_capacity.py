"""Capacity: rooms and beds by status per facility and region, numbers that
add up at every level, the room forecast from the persons waiting, the new
contacts, the releases due and the rooms being cleaned, the alert when a
county will run out, and the facility board; each user sees only their
facilities."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import SYSTEM, Actor
from fangkong.errors import InvalidInput, NotFound
from fangkong.quarantine.capacity import (
    capacity_alerts,
    capacity_by_facility,
    capacity_by_region,
    facility_board,
    room_forecast,
)
from fangkong.quarantine.capacity_rules import LEVELS, Counts, total
from fangkong.quarantine.facilities import set_room_status
from fangkong.quarantine.models import Facility, Room, Stay
from fangkong.quarantine.rules import RoomLayout
from fangkong.tracing.models import RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.quarantine.conftest import make_facility
from tests.testing.conftest import A1, A2, B1, GY, FrozenClock, Registry, Resident
from tests.tracing.conftest import ANCI, GUANGYANG

TODAY = date(2022, 3, 14)


# --- helpers: rooms taken and persons at risk, written directly ------------------------


def rooms_of(session: Session, facility: Facility) -> list[Room]:
    return list(
        session.scalars(
            select(Room)
            .where(Room.facility_id == facility.id)
            .order_by(Room.building, Room.floor, Room.position)
        )
    )


def occupy(
    session: Session,
    room: Room,
    resident: Resident,
    *,
    planned_end_on: date | None = None,
    started_at: datetime | None = None,
    risk_person_id: int | None = None,
) -> Stay:
    """A person in a room (as placement would leave it): a stay in force
    and the room occupied."""
    stay = Stay(
        person_id=resident.id,
        region_code=room.region_code,
        kind="centralized" if room.kind == "room" else "hospital",
        facility_id=room.facility_id,
        room_id=room.id,
        risk_person_id=risk_person_id,
        exposure_key="test",
        started_at=started_at or clock.now(),
        planned_end_on=planned_end_on or TODAY + timedelta(days=10),
        end_reason="",
    )
    session.add(stay)
    room.status = "occupied"
    session.commit()
    return stay


def at_risk(session: Session, resident: Resident, category: str = "close") -> RiskPerson:
    noted = note_risk_person(
        session,
        person_id=resident.id,
        region_code=resident.region_code,
        category=category,
        channel="investigation",
        source="test",
        reported_at=clock.now(),
    )
    session.commit()
    return noted.risk_person


def set_status(session: Session, rooms: list[Room], status: str) -> None:
    for room in rooms:
        set_room_status(session, SYSTEM, room.id, status)


@pytest.fixture
def a2_site(session: Session, registry: Registry) -> Facility:
    """A second quarantine site of Anci, in community A2: one floor of 8 rooms."""
    return make_facility(
        session, name="安次区第二集中隔离点", kind="quarantine_site", region_code=A2,
        layouts=[RoomLayout("B", 1, 1, 8)],
    )  # fmt: skip


@pytest.fixture
def failed_site(session: Session, registry: Registry) -> Facility:
    """A site of B1 whose inspection failed: 5 rooms, may not receive."""
    return make_facility(
        session, name="未达标隔离点", kind="quarantine_site", region_code=B1,
        layouts=[RoomLayout("C", 1, 1, 5)], passed=False,
    )  # fmt: skip


# --- capacity that adds up ---------------------------------------------------------------


def test_capacity_numbers_add_up_across_facilities_and_regions(
    session: Session,
    registry: Registry,
    site: Facility,
    hospital: Facility,
    gy_site: Facility,
    a2_site: Facility,
    failed_site: Facility,
) -> None:
    site_rooms = rooms_of(session, site)
    for room, resident in zip(site_rooms[:3], registry.a1[:3], strict=True):
        occupy(session, room, resident)
    set_status(session, site_rooms[10:12], "cleaning")
    set_status(session, site_rooms[29:], "out_of_service")
    occupy(session, rooms_of(session, hospital)[10], registry.b1[0])  # a severe bed
    occupy(session, rooms_of(session, gy_site)[0], registry.gy[0])
    set_status(session, rooms_of(session, a2_site)[:1], "cleaning")

    facilities = {f.facility_id: f for f in capacity_by_facility(session, SYSTEM)}
    assert facilities[site.id].rooms == Counts(ready=24, occupied=3, cleaning=2, out_of_service=1)
    assert facilities[site.id].beds == Counts()
    assert facilities[hospital.id].beds == Counts(ready=19, occupied=1)
    assert facilities[failed_site.id].rooms == Counts(ready=5)
    assert facilities[failed_site.id].receivable == 0  # failed its inspection
    assert facilities[site.id].receivable == 24

    grand = total(f.rooms for f in facilities.values())
    assert grand == Counts(ready=24 + 9 + 7 + 5, occupied=4, cleaning=3, out_of_service=1)
    assert grand.total == 30 + 10 + 8 + 5
    for level in LEVELS:
        table = capacity_by_region(session, SYSTEM, level)
        assert total(r.rooms for r in table.regions) == table.rooms == grand, level
        assert total(r.beds for r in table.regions) == table.beds == Counts(ready=19, occupied=1)
        assert sum(r.facilities for r in table.regions) == table.facilities == len(facilities)
        assert sum(r.receivable for r in table.regions) == table.receivable
        assert table.receivable == 24 + 19 + 9 + 7  # the failed site's rooms are not free to use

    counties = {r.code: r for r in capacity_by_region(session, SYSTEM, "county").regions}
    assert set(counties) == {ANCI, GUANGYANG}
    assert counties[ANCI].facilities == 4
    assert counties[ANCI].rooms == Counts(
        ready=24 + 7 + 5, occupied=3, cleaning=3, out_of_service=1
    )
    assert counties[GUANGYANG].rooms == Counts(ready=9, occupied=1)
    assert counties[ANCI].name == "安次区"

    communities = {r.code: r for r in capacity_by_region(session, SYSTEM, "community").regions}
    assert set(communities) == {A1, A2, B1, GY, ANCI}
    assert communities[ANCI].direct  # the county's hospital is its own row
    assert communities[ANCI].beds.total == 20
    assert not communities[A1].direct
    (city,) = capacity_by_region(session, SYSTEM, "city").regions
    assert city.code == "131000"
    assert city.rooms == grand


def test_a_county_sees_only_its_own_facilities_in_the_capacity_tables(
    session: Session,
    site: Facility,
    hospital: Facility,
    gy_site: Facility,
    county_commander: Actor,
    other_county_commander: Actor,
) -> None:
    ours = capacity_by_region(session, county_commander, "county")
    assert [r.code for r in ours.regions] == [ANCI]
    assert ours.rooms.total == 30
    assert ours.beds.total == 20
    theirs = capacity_by_region(session, other_county_commander, "township")
    assert [r.code for r in theirs.regions] == [GY[:9]]
    assert theirs.rooms.total == 10
    with pytest.raises(InvalidInput) as bad:
        capacity_by_region(session, county_commander, "street")
    assert bad.value.field == "level"


def test_a_facility_manager_sees_only_their_facility(
    session: Session,
    registry: Registry,
    site: Facility,
    hospital: Facility,
    gy_site: Facility,
    facility_manager: Actor,
) -> None:
    assert [f.facility_id for f in capacity_by_facility(session, facility_manager)] == [site.id]
    table = capacity_by_region(session, facility_manager, "county")
    assert table.facilities == 1
    assert (table.rooms.total, table.beds.total) == (30, 0)
    assert facility_board(session, facility_manager, site.id).counts.total == 30
    for other in (hospital, gy_site):
        with pytest.raises(NotFound):
            facility_board(session, facility_manager, other.id)


# --- the forecast ----------------------------------------------------------------------------


def test_the_forecast_counts_waiting_persons_new_contacts_releases_and_cleaning_rooms(
    session: Session,
    registry: Registry,
    frozen: FrozenClock,
    site: Facility,
    failed_site: Facility,
    hospital: Facility,
    county_commander: Actor,
) -> None:
    # two days ago: three close contacts, now in rooms, the first two released tomorrow
    frozen.now = clock.now() - timedelta(days=2)
    placed = [at_risk(session, r) for r in registry.a1[:3]]
    frozen.now = clock.now() + timedelta(days=2)
    site_rooms = rooms_of(session, site)
    for room, resident, risk in zip(site_rooms[:3], registry.a1[:3], placed, strict=True):
        end = TODAY + timedelta(days=1) if resident != registry.a1[2] else TODAY + timedelta(days=7)
        occupy(session, room, resident, planned_end_on=end, risk_person_id=risk.id)
    set_status(session, site_rooms[3:5], "cleaning")
    # today: three close contacts and a secondary one wait for a room; a general
    # contact (health monitoring) does not, and one identified a week ago is no trend
    for resident in registry.a2[:3]:
        at_risk(session, resident, "close")
    at_risk(session, registry.a2[3], "secondary")
    at_risk(session, registry.b1[0], "general")
    frozen.now = clock.now() - timedelta(days=7)
    at_risk(session, registry.b1[1], "close")
    frozen.now = clock.now() + timedelta(days=7)

    forecast = room_forecast(session, county_commander, ANCI)
    assert forecast.name == "安次区"
    assert forecast.placements_due == 5  # four today, one from last week
    assert forecast.new_contacts == 7  # three two days ago, four today
    assert forecast.cleaning_now == 2
    fc = forecast.forecast
    assert fc.free_now == 25  # the site's ready rooms; not the failed site's, not beds
    # day 1: 25 - 5 - 7/3; day 2: + 2 released + 2 cleaned - 7/3; day 3: - 7/3
    assert [round(float(d.balance), 2) for d in fc.days] == [17.67, 19.33, 17.0]
    assert [d.releases for d in fc.days] == [0, 2, 0]
    assert forecast.runs_out_on is None


def test_a_county_that_will_run_out_of_rooms_raises_an_alert(
    session: Session,
    registry: Registry,
    site: Facility,
    gy_site: Facility,
    county_commander: Actor,
    other_county_commander: Actor,
) -> None:
    set_status(session, rooms_of(session, gy_site)[2:], "out_of_service")  # 2 rooms left
    for resident in registry.gy:
        at_risk(session, resident, "close")
    (alert,) = capacity_alerts(session, other_county_commander)
    assert alert.code == GUANGYANG
    # 2 free - 3 waiting - 1 expected (3 new contacts over 3 days) = -2 today
    assert alert.runs_out_on == TODAY
    assert alert.forecast.shortfall == 4  # by day 3: 2 - 3 - 3
    assert capacity_alerts(session, county_commander) == []
    assert [a.code for a in capacity_alerts(session, SYSTEM)] == [GUANGYANG]


def test_the_forecast_of_a_region_outside_the_jurisdiction_is_not_found(
    session: Session, site: Facility, other_county_commander: Actor
) -> None:
    with pytest.raises(NotFound):
        room_forecast(session, other_county_commander, ANCI)
    with pytest.raises(NotFound):
        room_forecast(session, other_county_commander, "999999")


def test_a_facility_manager_gets_no_forecast_that_weighs_a_countys_demand_against_one_site(
    session: Session, registry: Registry, site: Facility, facility_manager: Actor
) -> None:
    for resident in registry.anci_adults[:3]:
        at_risk(session, resident, "close")
    assert capacity_alerts(session, facility_manager) == []
    with pytest.raises(NotFound):
        room_forecast(session, facility_manager, ANCI)


# --- the board ---------------------------------------------------------------------------------


def test_the_board_shows_rooms_by_floor_and_the_occupant_masked_with_the_day_of_stay(
    session: Session,
    registry: Registry,
    site: Facility,
    facility_manager: Actor,
    epidemiologist: Actor,
) -> None:
    rooms = rooms_of(session, site)
    occupy(session, rooms[0], registry.a1[0], started_at=clock.now() - timedelta(days=3))
    set_status(session, rooms[1:2], "cleaning")
    board = facility_board(session, facility_manager, site.id)
    assert [(f.building, f.floor, len(f.cells)) for f in board.floors] == [
        ("A", 1, 10), ("A", 2, 10), ("A", 3, 10),
    ]  # fmt: skip
    first = board.floors[0]
    assert [c.number for c in first.cells[:3]] == ["101", "102", "103"]
    assert [c.status for c in first.cells[:3]] == ["occupied", "cleaning", "ready"]
    assert first.counts == Counts(ready=8, occupied=1, cleaning=1)
    (occupant,) = first.cells[0].occupants
    name = registry.a1[0].name
    assert occupant.name == name[0] + "*" * (len(name) - 1)
    assert occupant.day == 4  # started three days ago: day 1, 2, 3, today 4
    reader = facility_board(session, epidemiologist, site.id)
    assert reader.floors[0].cells[0].status == "occupied"
    assert reader.floors[0].cells[0].occupants == []  # not staff: no names

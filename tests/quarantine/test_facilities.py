"""Facilities: rooms from a layout, the zone inspection that lets a facility
receive persons, staff, room status, and who sees which facility."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.service import SYSTEM, Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.quarantine.facilities import (
    add_rooms,
    create_facility,
    list_facilities,
    record_inspection,
    refuse_unless_receiving,
    set_room_status,
)
from fangkong.quarantine.models import Facility, Room
from fangkong.quarantine.rules import RoomLayout, judge_inspection, rooms_of
from fangkong.quarantine.scope import get_facility
from tests.quarantine.conftest import ALL_HOLD, make_facility
from tests.testing.conftest import A1, Registry


def test_a_layout_numbers_rooms_by_floor_in_corridor_order() -> None:
    rooms = rooms_of(RoomLayout("A", 2, 3, 3))
    assert [(r.floor, r.position, r.number) for r in rooms] == [
        (2, 1, "201"), (2, 2, "202"), (2, 3, "203"),
        (3, 1, "301"), (3, 2, "302"), (3, 3, "303"),
    ]  # fmt: skip


def test_an_inspection_passes_only_when_every_item_holds_and_a_missing_item_fails() -> None:
    assert judge_inspection(ALL_HOLD).passed
    without = {k: v for k, v in ALL_HOLD.items() if k != "ventilation"}
    verdict = judge_inspection(without)
    assert (verdict.passed, verdict.failed_items) == (False, ("ventilation",))


def test_a_facility_that_failed_its_inspection_cannot_receive_persons(
    session: Session, registry: Registry
) -> None:
    failed = make_facility(
        session, name="未达标隔离点", kind="quarantine_site", region_code=A1,
        layouts=[RoomLayout("A", 1, 1, 4)], passed=False,
    )  # fmt: skip
    with pytest.raises(Conflict, match="separate passages"):
        refuse_unless_receiving(session, failed)
    record_inspection(
        session, SYSTEM, failed.id, items=ALL_HOLD, inspected_on=date(2022, 3, 14), inspector="复查"
    )
    refuse_unless_receiving(session, failed)  # passes now


def test_a_facility_without_any_inspection_cannot_receive_persons(
    session: Session, registry: Registry
) -> None:
    new = create_facility(session, SYSTEM, name="新隔离点", kind="quarantine_site", region_code=A1)
    with pytest.raises(Conflict, match="no zone inspection"):
        refuse_unless_receiving(session, new)


def test_bad_facility_input_names_the_field(session: Session, registry: Registry) -> None:
    with pytest.raises(InvalidInput) as bad:
        create_facility(session, SYSTEM, name="x", kind="hotel", region_code=A1)
    assert bad.value.field == "kind"
    with pytest.raises(InvalidInput) as bad:
        create_facility(session, SYSTEM, name="x", kind="quarantine_site", region_code="999")
    assert bad.value.field == "region_code"
    with pytest.raises(InvalidInput) as bad:
        record_inspection(
            session, SYSTEM, make_facility(
                session, name="y", kind="quarantine_site", region_code=A1, layouts=[]
            ).id, items={"sauna": True}, inspected_on=date(2022, 3, 14), inspector="x",
        )  # fmt: skip
    assert bad.value.field == "items"


def test_a_room_number_a_building_has_already_is_refused_and_nothing_is_added(
    session: Session, site: Facility
) -> None:
    before = len(session.scalars(select(Room).where(Room.facility_id == site.id)).all())
    with pytest.raises(Conflict, match="301"):
        add_rooms(session, SYSTEM, site.id, RoomLayout("A", 3, 4, 10))
    after = len(session.scalars(select(Room).where(Room.facility_id == site.id)).all())
    assert before == after == 30


def test_a_room_is_marked_cleaned_and_an_occupied_status_is_not_typed(
    session: Session, site: Facility, facility_manager: Actor
) -> None:
    room = session.scalars(select(Room).where(Room.facility_id == site.id)).first()
    assert room is not None
    assert set_room_status(session, facility_manager, room.id, "cleaning").status == "cleaning"
    assert set_room_status(session, facility_manager, room.id, "ready").status == "ready"
    with pytest.raises(InvalidInput):
        set_room_status(session, facility_manager, room.id, "occupied")


def test_a_facility_manager_sees_only_their_facility(
    session: Session,
    site: Facility,
    hospital: Facility,
    facility_manager: Actor,
    county_commander: Actor,
) -> None:
    assert [s.facility.id for s in list_facilities(session, facility_manager)] == [site.id]
    with pytest.raises(NotFound):
        get_facility(session, facility_manager, hospital.id)
    seen = {s.facility.id for s in list_facilities(session, county_commander)}
    assert seen == {site.id, hospital.id}


def test_another_county_sees_nothing_of_this_countys_facilities(
    session: Session, site: Facility, gy_site: Facility, other_county_commander: Actor,
    other_facility_manager: Actor,
) -> None:  # fmt: skip
    for actor in (other_county_commander, other_facility_manager):
        assert [s.facility.id for s in list_facilities(session, actor)] == [gy_site.id]
        with pytest.raises(NotFound):
            get_facility(session, actor, site.id)


def test_a_facility_manager_may_not_create_facilities(
    session: Session, registry: Registry, facility_manager: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        create_facility(session, facility_manager, name="z", kind="quarantine_site", region_code=A1)


def test_the_summary_counts_rooms_by_status(session: Session, site: Facility) -> None:
    (summary,) = [s for s in list_facilities(session, SYSTEM) if s.facility.id == site.id]
    assert summary.rooms == {"ready": 30, "occupied": 0, "cleaning": 0, "out_of_service": 0}
    assert summary.receiving
    assert summary.persons == 0

"""Placing a batch of risk persons on both databases: floors filled in
order, households and exposure groups kept together, the exceptions, the
shortfall naming where rooms are free, scope and inspections, transfers, and
the persons' risk records under the measure afterwards."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.quarantine import placement
from fangkong.quarantine.models import Facility, Room, ScheduledTest, Stay, StayMove
from fangkong.quarantine.placement import place_batch, preview_placement, shortfall_message
from fangkong.quarantine.placement_choices import CandidateFilter, placement_candidates
from fangkong.quarantine.placement_rules import Companion
from fangkong.quarantine.rules import RoomLayout
from fangkong.quarantine.transfers import transfer_stay
from fangkong.tracing.models import Exposure, RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.quarantine.conftest import make_facility
from tests.testing.conftest import A1, Registry, Resident


def at_risk(
    session: Session, person: Resident, event: str, *, category: str = "close", days_ago: int = 2
) -> RiskPerson:
    """A risk person reported by an investigation of ``event``."""
    noted = note_risk_person(
        session,
        person_id=person.id,
        region_code=person.region_code,
        category=category,
        channel="investigation",
        source=event,
        reported_at=clock.now(),
        last_exposure_at=clock.now() - timedelta(days=days_ago),
    )
    session.commit()
    return noted.risk_person


def stays_of(session: Session, risks: list[RiskPerson]) -> dict[int, Stay]:
    found = session.scalars(select(Stay).where(Stay.risk_person_id.in_([r.id for r in risks])))
    return {s.risk_person_id or 0: s for s in found}


def room_of(session: Session, stay: Stay) -> Room:
    room = session.get(Room, stay.room_id)
    assert room is not None
    return room


def test_a_batch_fills_the_first_floor_household_by_household_and_controls_the_persons(
    session: Session, registry: Registry, site: Facility, county_commander: Actor
) -> None:
    first = [at_risk(session, p, "病例甲") for p in registry.a1[:3]]  # household A1-H1
    second = [at_risk(session, p, "病例乙") for p in registry.a1[3:]]  # household A1-H2
    result = place_batch(session, county_commander, [site.id], [r.id for r in first + second])
    assert (result.placed, result.preview.plan.unplaced) == (6, ())
    stays = stays_of(session, first + second)
    rooms = {rid: room_of(session, stay) for rid, stay in stays.items()}
    assert {room.floor for room in rooms.values()} == {1}
    group_a = sorted(rooms[r.id].position for r in first)
    group_b = sorted(rooms[r.id].position for r in second)
    assert group_b == [1, 2, 3]
    assert group_a == [5, 6, 7]
    assert all(room.status == "occupied" for room in rooms.values())
    for risk in first + second:
        session.refresh(risk)
        assert risk.status == "under_measure"
        assert risk.controlled_at == clock.now()
        stay = stays[risk.id]
        assert stay.kind == "centralized"
        assert stay.ended_at is None
        assert stay.exposure_key.startswith("source:investigation:病例")
        assert stay.planned_end_on == (clock.today_local() - timedelta(days=2) + timedelta(days=14))
        days = session.scalars(
            select(ScheduledTest.day).where(ScheduledTest.stay_id == stay.id).order_by("day")
        ).all()
        assert days == [1, 4, 7, 14]
    actions = Counter(
        session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.action.in_(["stay.place", "placement.batch"])
            )
        )
    )
    assert actions == {"stay.place": 6, "placement.batch": 1}


def test_the_exposure_event_is_the_person_they_were_exposed_to(
    session: Session, registry: Registry, site: Facility, county_commander: Actor
) -> None:
    risks = [at_risk(session, p, "名单") for p in registry.a2]
    case_person = registry.b1[0]
    for person in registry.a2[:2]:
        session.add(
            Exposure(
                source_person_id=case_person.id,
                person_id=person.id,
                region_code=person.region_code,
                setting="work",
                last_exposure_at=clock.now() - timedelta(days=1),
                recorded_at=clock.now(),
            )
        )
    session.commit()
    preview = preview_placement(session, county_commander, [site.id], [r.id for r in risks])
    keys = {a.person_id: a.exposure_key for a in preview.plan.assignments}
    assert [keys[p.id] for p in registry.a2] == [
        f"person:{case_person.id}",
        f"person:{case_person.id}",
        "source:investigation:名单",
        "source:investigation:名单",
    ]
    assert session.scalar(select(func.count()).select_from(Stay)) == 0  # a preview writes nothing


def test_a_child_shares_with_a_parent_a_named_carer_with_their_person_and_no_one_else_shares(
    session: Session, registry: Registry, county_commander: Actor
) -> None:
    doubles = make_facility(
        session,
        name="双人间隔离点",
        kind="quarantine_site",
        region_code=A1,
        layouts=[RoomLayout("B", 1, 2, 8, capacity=2)],
    )
    household = [at_risk(session, p, "病例丙") for p in [*registry.a1[3:], registry.infant]]
    needs_care, carer = (at_risk(session, p, "病例丁") for p in registry.a2[:2])
    place_batch(
        session,
        county_commander,
        [doubles.id],
        [r.id for r in [*household, needs_care, carer]],
        [Companion(carer.id, needs_care.id, "carer")],
    )
    stays = stays_of(session, [*household, needs_care, carer])
    by_room: dict[int | None, set[int]] = {}
    for risk_id, stay in stays.items():
        by_room.setdefault(stay.room_id, set()).add(risk_id)
    shared = sorted((sorted(v) for v in by_room.values() if len(v) > 1), key=min)
    infant_risk = household[-1]
    parent = next(rid for rid in shared[0] if rid != infant_risk.id)
    assert infant_risk.id in shared[0]
    assert len(shared) == 2
    assert sorted(shared[1]) == sorted([needs_care.id, carer.id])
    assert stays[infant_risk.id].companion_of == stays[parent].id
    assert stays[carer.id].companion_of == stays[needs_care.id].id
    assert len(by_room) == 4  # 7 persons: two rooms shared under exceptions, the rest alone


def test_an_exception_across_two_exposure_events_is_refused(
    session: Session, registry: Registry, site: Facility, county_commander: Actor
) -> None:
    a, b = at_risk(session, registry.a2[0], "病例甲"), at_risk(session, registry.a2[1], "病例乙")
    with pytest.raises(InvalidInput) as bad:
        place_batch(
            session, county_commander, [site.id], [a.id, b.id], [Companion(b.id, a.id, "carer")]
        )
    assert bad.value.field == "exceptions"
    assert session.scalar(select(func.count()).select_from(Stay)) == 0


def test_when_rooms_run_out_the_shortfall_names_where_else_rooms_are_free(
    session: Session, registry: Registry, site: Facility, county_commander: Actor
) -> None:
    small = make_facility(
        session, name="小隔离点", kind="quarantine_site", region_code=A1,
        layouts=[RoomLayout("C", 1, 1, 3)],
    )  # fmt: skip
    risks = [at_risk(session, p, "病例戊") for p in registry.a2]
    result = place_batch(session, county_commander, [small.id], [r.id for r in risks])
    plan = result.preview.plan
    assert (result.placed, plan.rooms_missing, len(plan.unplaced)) == (3, 1, 1)
    message = shortfall_message(result.preview)
    assert "1 rooms missing" in message
    assert f"{site.name} {site.region_code}: 30" in message
    _rows, total = placement_candidates(session, county_commander, CandidateFilter())
    assert total == 1  # the one without a room waits for the next batch


def test_a_facility_out_of_scope_is_not_found_and_a_failed_one_refused(
    session: Session,
    registry: Registry,
    gy_site: Facility,
    county_commander: Actor,
) -> None:
    risk = at_risk(session, registry.a1[0], "病例甲")
    with pytest.raises(NotFound):
        preview_placement(session, county_commander, [gy_site.id], [risk.id])
    failed = make_facility(
        session, name="未通过隔离点", kind="quarantine_site", region_code=A1,
        layouts=[RoomLayout("A", 1, 1, 4)], passed=False,
    )  # fmt: skip
    with pytest.raises(Conflict, match="failed its zone inspection"):
        place_batch(session, county_commander, [failed.id], [risk.id])


def test_a_facility_manager_places_only_into_their_own_site(
    session: Session,
    registry: Registry,
    site: Facility,
    gy_site: Facility,
    facility_manager: Actor,
) -> None:
    risk = at_risk(session, registry.b1[0], "病例甲")
    with pytest.raises(NotFound):
        place_batch(session, facility_manager, [gy_site.id], [risk.id])
    result = place_batch(session, facility_manager, None, [risk.id])
    assert [f.id for f in result.preview.facilities] == [site.id]


def test_only_persons_waiting_for_a_room_are_candidates_and_a_placed_one_cannot_be_placed_again(
    session: Session, registry: Registry, site: Facility, county_commander: Actor
) -> None:
    close = at_risk(session, registry.a1[0], "病例甲")
    at_risk(session, registry.a1[1], "时空伴随", category="companion")  # home monitoring
    at_risk(session, registry.gy[0], "病例甲")  # another county
    rows, total = placement_candidates(session, county_commander, CandidateFilter())
    assert total == 1
    assert rows[0].risk_person_id == close.id
    assert rows[0].id_number.count("*") >= 8  # masked in the list
    place_batch(session, county_commander, [site.id], [close.id])
    assert placement_candidates(session, county_commander, CandidateFilter())[1] == 0
    with pytest.raises(InvalidInput, match="stay in force"):
        place_batch(session, county_commander, [site.id], [close.id])


def test_a_transfer_moves_the_stay_and_sends_the_old_room_to_cleaning(
    session: Session, registry: Registry, site: Facility, county_commander: Actor
) -> None:
    a, b = at_risk(session, registry.a1[0], "病例甲"), at_risk(session, registry.a2[0], "病例乙")
    place_batch(session, county_commander, [site.id], [a.id, b.id])
    stays = stays_of(session, [a, b])
    old_room, taken = room_of(session, stays[a.id]), room_of(session, stays[b.id])
    with pytest.raises(Conflict, match="not ready"):
        transfer_stay(session, county_commander, stays[a.id].id, taken.id, "换房")
    with pytest.raises(InvalidInput) as bad:
        transfer_stay(session, county_commander, stays[a.id].id, taken.id, " ")
    assert bad.value.field == "reason"
    target = session.scalar(
        select(Room).where(Room.facility_id == site.id, Room.floor == 3, Room.position == 1)
    )
    assert target is not None
    transfer_stay(session, county_commander, stays[a.id].id, target.id, "空调故障")
    session.refresh(old_room)
    session.refresh(target)
    assert (old_room.status, target.status) == ("cleaning", "occupied")
    assert stays_of(session, [a])[a.id].room_id == target.id
    move = session.scalar(select(StayMove).where(StayMove.stay_id == stays[a.id].id))
    assert move is not None
    assert (move.from_room_id, move.to_room_id) == (old_room.id, target.id)


def test_a_batch_planned_on_rooms_another_batch_just_took_is_refused_whole(
    session: Session,
    registry: Registry,
    site: Facility,
    county_commander: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two batches planned at the same moment see the same free rooms; the
    one that claims second finds a room no longer ready and is refused with
    nothing written (here the second plan is made on the rooms as they were
    before the first batch)."""
    first = at_risk(session, registry.a1[0], "病例甲")
    second = at_risk(session, registry.a1[3], "病例甲")
    free_before = placement._free_rooms(session, [site])
    place_batch(session, county_commander, [site.id], [first.id])
    monkeypatch.setattr(placement, "_free_rooms", lambda *_: free_before)
    with pytest.raises(Conflict, match="preview again"):
        place_batch(session, county_commander, [site.id], [second.id])
    assert stays_of(session, [second]) == {}
    session.refresh(second)
    assert second.status == "to_find"

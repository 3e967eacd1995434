"""The placement rules, pure: one person per room with a private bathroom,
the exceptions and nothing else sharing a room, exposure events never mixed,
groups kept on one floor and apart, floors filled in order, shortfall."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fangkong.errors import InvalidInput
from fangkong.quarantine.placement_rules import (
    Candidate,
    Companion,
    FreeRoom,
    PlacementPolicy,
    plan_placement,
    room_violations,
)

POLICY = PlacementPolicy(child_companion_below_age=14, floor_buffer_rooms=1)


def floor_rooms(
    floors: int = 2, per_floor: int = 10, *, facility: int = 1, capacity: int = 1, start: int = 0
) -> list[FreeRoom]:
    return [
        FreeRoom(start + f * 100 + p, facility, "A", f, p, capacity)
        for f in range(1, floors + 1)
        for p in range(1, per_floor + 1)
    ]


def adults(n: int, key: str, household: int | None = None, first: int = 1) -> list[Candidate]:
    return [Candidate(first + i, household, key, 40) for i in range(n)]


def test_each_person_gets_a_room_of_their_own_and_groups_fill_the_first_floor_first() -> None:
    persons = adults(4, "person:1", household=7) + adults(3, "person:2", household=8, first=10)
    plan = plan_placement(persons, floor_rooms(), POLICY)
    rooms = [a.room_id for a in plan.assignments]
    assert len(set(rooms)) == 7
    assert not plan.unplaced
    assert all(100 < room < 200 for room in rooms)  # the first floor holds both groups
    assert (plan.groups, plan.groups_on_one_floor) == (2, 2)


def test_two_groups_on_one_floor_are_kept_a_buffer_room_apart() -> None:
    persons = adults(4, "person:1") + adults(3, "person:2", first=10)
    plan = plan_placement(persons, floor_rooms(1), POLICY)
    first = sorted(a.room_id for a in plan.assignments if a.exposure_key == "person:1")
    second = sorted(a.room_id for a in plan.assignments if a.exposure_key == "person:2")
    assert first == [101, 102, 103, 104]
    assert second == [106, 107, 108]  # room 105 left empty between them


def test_a_floor_already_holding_persons_gets_the_buffer_before_the_new_group() -> None:
    plan = plan_placement(
        adults(2, "person:1"), floor_rooms(1), POLICY, floors_in_use={(1, "A", 1)}
    )
    assert sorted(a.room_id for a in plan.assignments) == [102, 103]


def test_a_group_goes_whole_onto_the_floor_it_fits_best() -> None:
    rooms = floor_rooms(1, 10) + [FreeRoom(900 + p, 1, "A", 9, p) for p in range(1, 5)]
    plan = plan_placement(adults(4, "person:1"), rooms, POLICY)
    assert sorted(a.room_id for a in plan.assignments) == [901, 902, 903, 904]


def test_a_group_larger_than_any_floor_is_split_across_the_fewest_floors_and_reported() -> None:
    households = [Candidate(n, n // 4, "person:1", 40) for n in range(12)]  # 3 households of 4
    plan = plan_placement(households, floor_rooms(3, 5), POLICY)
    assert not plan.unplaced
    assert [(g.exposure_key, g.persons, g.floors) for g in plan.split_groups] == [
        ("person:1", 12, 3)
    ]
    assert (plan.households, plan.households_on_one_floor) == (3, 3)  # each household whole


def test_rooms_without_a_private_bathroom_are_never_used() -> None:
    rooms = [FreeRoom(1, 1, "A", 1, 1, private_bathroom=False), FreeRoom(2, 1, "A", 1, 2)]
    plan = plan_placement(adults(2, "person:1"), rooms, POLICY)
    assert [a.room_id for a in plan.assignments] == [2]
    assert (plan.rooms_missing, plan.rooms_without_bathroom) == (1, 1)


def test_when_rooms_run_out_the_plan_says_how_many_are_missing() -> None:
    plan = plan_placement(
        adults(7, "person:1") + adults(5, "person:2", first=20), floor_rooms(1, 6), POLICY
    )
    # the group of five fits whole; room 106 is the buffer; the group of seven waits
    assert {a.exposure_key for a in plan.assignments} == {"person:2"}
    assert len(plan.assignments) == 5
    assert plan.rooms_missing == 7
    assert len(plan.unplaced) == 7


def test_a_child_shares_a_room_with_an_adult_of_the_household_and_no_one_else_does() -> None:
    parent, other_adult = Candidate(1, 5, "person:9", 35), Candidate(2, 5, "person:9", 37)
    child = Candidate(3, 5, "person:9", 6)
    stranger_child = Candidate(4, None, "person:9", 8)
    plan = plan_placement(
        [parent, other_adult, child, stranger_child], floor_rooms(1, 10, capacity=2), POLICY
    )
    rooms: dict[int, set[int]] = defaultdict(set)
    for a in plan.assignments:
        rooms[a.room_id].add(a.person_id)
    shared = [r for r in rooms.values() if len(r) > 1]
    assert shared == [{2, 3}]  # the eldest adult takes the child; everyone else alone
    assert plan.children_alone == (4,)


def test_a_named_carer_shares_the_room_of_the_person_needing_care() -> None:
    needs_care, carer = Candidate(1, None, "person:9", 80), Candidate(2, None, "person:9", 50)
    plan = plan_placement(
        [needs_care, carer],
        floor_rooms(1, 4, capacity=2),
        POLICY,
        companions=[Companion(2, 1, "carer")],
    )
    by_person = {a.person_id: a for a in plan.assignments}
    assert by_person[1].room_id == by_person[2].room_id
    assert by_person[2].lead_person_id == 1


def test_an_exception_across_exposure_events_is_refused() -> None:
    persons = [Candidate(1, 5, "person:1", 40), Candidate(2, 5, "person:2", 6)]
    with pytest.raises(InvalidInput, match="different exposure events") as bad:
        plan_placement(persons, floor_rooms(), POLICY, companions=[Companion(2, 1, "child")])
    assert bad.value.field == "exceptions"


def test_a_child_exception_needs_a_child_of_the_same_household() -> None:
    persons = [Candidate(1, 5, "person:1", 40), Candidate(2, 6, "person:1", 6)]
    with pytest.raises(InvalidInput, match="household"):
        plan_placement(persons, floor_rooms(), POLICY, companions=[Companion(2, 1, "child")])
    grown = [Candidate(1, 5, "person:1", 40), Candidate(2, 5, "person:1", 20)]
    with pytest.raises(InvalidInput, match="not a child"):
        plan_placement(grown, floor_rooms(), POLICY, companions=[Companion(2, 1, "child")])


def test_without_rooms_for_two_a_child_is_placed_alone_and_listed() -> None:
    persons = [Candidate(1, 5, "person:1", 40), Candidate(2, 5, "person:1", 6)]
    plan = plan_placement(persons, floor_rooms(1, 4), POLICY)
    assert len({a.room_id for a in plan.assignments}) == 2
    assert plan.children_alone == (2,)


# --- property: exposure events never share a room -----------------------------------


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Candidate], list[FreeRoom], list[Companion]]:
    persons: list[Candidate] = []
    for g in range(draw(st.integers(1, 12))):
        for h in range(draw(st.integers(1, 3))):
            household = draw(st.sampled_from([None, g * 10 + h, 1000 + h]))
            for _ in range(draw(st.integers(1, 4))):
                key = draw(st.sampled_from([f"person:{g}", f"person:{g}", f"source:x:{h}", ""]))
                age = draw(st.sampled_from([None, 2, 9, 13, 14, 30, 75]))
                persons.append(Candidate(len(persons) + 1, household, key, age))
    rooms: list[FreeRoom] = []
    for facility in range(draw(st.integers(1, 3))):
        for floor in range(1, draw(st.integers(1, 4)) + 1):
            for position in range(1, draw(st.integers(1, 12)) + 1):
                rooms.append(
                    FreeRoom(
                        len(rooms) + 1,
                        facility,
                        "A",
                        floor,
                        position,
                        draw(st.integers(1, 3)),
                        draw(st.booleans()) or draw(st.booleans()),
                    )
                )
    ids = [p.person_id for p in persons]
    companions = draw(
        st.lists(
            st.builds(
                Companion, st.sampled_from(ids), st.sampled_from(ids), st.sampled_from(["carer"])
            ),
            max_size=3,
        )
    )
    return persons, rooms, companions


@settings(max_examples=150, deadline=None)
@given(batches(), st.integers(0, 2))
def test_no_room_ever_holds_persons_of_two_exposure_events(
    batch: tuple[list[Candidate], list[FreeRoom], list[Companion]], buffer: int
) -> None:
    persons, rooms, companions = batch
    policy = PlacementPolicy(14, buffer)
    try:
        plan = plan_placement(persons, rooms, policy, companions=companions)
    except InvalidInput:
        plan = plan_placement(persons, rooms, policy)  # the named exceptions were refused
        companions = []
    assert room_violations(plan.assignments, persons, policy) == []
    by_room: dict[int, list[int]] = defaultdict(list)
    for a in plan.assignments:
        by_room[a.room_id].append(a.person_id)
    room_of = {r.room_id: r for r in rooms}
    by_id = {p.person_id: p for p in persons}
    named = {(c.person_id, c.with_person_id) for c in companions}
    for room_id, inside in by_room.items():
        room = room_of[room_id]
        assert room.private_bathroom
        assert len(inside) <= room.capacity
        if len(inside) > 1:  # only an exception shares: a child with their adult, a named carer
            lead = next(
                a for a in plan.assignments if a.room_id == room_id and a.lead_person_id is None
            )
            for a in plan.assignments:
                if a.room_id != room_id or a is lead:
                    continue
                member = by_id[a.person_id]
                is_child = (
                    member.age is not None
                    and member.age < 14
                    and member.household_id is not None
                    and member.household_id == by_id[lead.person_id].household_id
                )
                assert is_child or (a.person_id, lead.person_id) in named
    placed = [a.person_id for a in plan.assignments]
    assert len(placed) == len(set(placed))
    assert sorted(placed + list(plan.unplaced)) == sorted(by_id)
    split = {g.exposure_key for g in plan.split_groups}
    assert plan.groups - plan.groups_on_one_floor == len(split)

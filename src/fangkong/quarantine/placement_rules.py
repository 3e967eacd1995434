"""Placement of a batch of persons into quarantine rooms, pure (no I/O).

The rules (一人一间一卫, one person one room one bathroom):

- **One person per room with a private bathroom.** Rooms without one are
  never used for placement (the issue's rule; they stay for staff or for a
  facility's own decision). A room of capacity 2 or more still receives one
  person, except under a policy exception.
- **Exceptions** share a room, and only they: a child younger than the
  policy's ``child_companion_below_age`` with a parent or guardian of the
  same household (paired automatically with the first adult of the
  household in the batch, or as named), and a person needing care with the
  carer named for them. A room so shared is a *unit*: its lead (the parent
  or guardian; the person needing care) and the persons with them.
- **Exposure events never mix.** Every person carries the key of the
  exposure event that brought them (:mod:`fangkong.quarantine.exposure`);
  the persons of one room always share it, so an exception between persons
  of different events is refused.
- **Groups stay together, apart from others.** The persons of one exposure
  event form a group, its households in consecutive rooms. A group goes
  onto one floor whenever a floor has room for it, best fit (the floor
  that it leaves least free; ties to the earlier floor), largest groups
  first, so floors fill one after another in the order the facilities were
  chosen, then building and floor. Two groups on one floor are kept
  ``floor_buffer_rooms`` free rooms apart along the corridor, and a floor
  that already holds persons from before gets the same buffer. A group
  larger than every floor's free run is split across the fewest floors
  (those with the most room first), households kept whole where a floor
  can hold them, and reported.
- **Shortfall.** Groups that cannot be placed whole are placed last into
  what is left; whoever still has no room is listed, with the number of
  rooms missing (one per unit).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import NamedTuple

from fangkong.errors import InvalidInput

EXCEPTION_KINDS = ("child", "carer")
MAX_UNIT = 4  # the most persons a room may hold (Room.capacity is 1 to 4)

FloorKey = tuple[int, str, int]  # facility, building, floor


class Candidate(NamedTuple):
    """A person to place (a named tuple, as the rooms and the assignments
    are: a batch makes tens of thousands, and a frozen dataclass costs four
    times as much to build)."""

    person_id: int
    household_id: int | None
    exposure_key: str
    age: int | None = None  # whole years, None when the birth date is unknown


@dataclass(frozen=True)
class Companion:
    """A named exception: ``person_id`` shares the room of ``with_person_id``
    (``child``: the child ``person_id`` with their parent or guardian;
    ``carer``: the carer ``person_id`` with the person needing care)."""

    person_id: int
    with_person_id: int
    kind: str


class FreeRoom(NamedTuple):
    room_id: int
    facility_id: int
    building: str
    floor: int
    position: int
    capacity: int = 1
    private_bathroom: bool = True

    @property
    def floor_key(self) -> FloorKey:
        return self[1:4]


@dataclass(frozen=True)
class PlacementPolicy:
    child_companion_below_age: int
    floor_buffer_rooms: int
    pair_children: bool = True  # pair a child with an adult of the household unasked


class Assignment(NamedTuple):
    person_id: int
    room_id: int
    lead_person_id: int | None  # the unit's lead this person shares the room with
    exposure_key: str
    household_id: int | None


@dataclass(frozen=True)
class SplitGroup:
    exposure_key: str
    persons: int
    floors: int


@dataclass(frozen=True)
class Plan:
    assignments: tuple[Assignment, ...]
    unplaced: tuple[int, ...]  # person ids without a room
    rooms_missing: int  # one per unit without a room
    split_groups: tuple[SplitGroup, ...]
    groups: int  # exposure groups placed (wholly or partly)
    groups_on_one_floor: int
    households: int  # households of two persons or more, placed
    households_on_one_floor: int
    children_alone: tuple[int, ...]  # children below the age with no adult of theirs
    rooms_without_bathroom: int  # free rooms left out for want of a private bathroom
    floors_used: int

    @property
    def one_floor_share(self) -> float:
        return self.groups_on_one_floor / self.groups if self.groups else 1.0


@dataclass
class _Unit:
    lead: Candidate
    members: list[tuple[Candidate, str]] = field(default_factory=list)  # (person, kind)

    @property
    def size(self) -> int:
        return 1 + len(self.members)

    @property
    def persons(self) -> list[Candidate]:
        return [self.lead, *(person for person, _ in self.members)]


def _group_key(person: Candidate) -> str:
    return person.exposure_key or f"~person:{person.person_id}"


def form_units(
    persons: Sequence[Candidate],
    companions: Iterable[Companion],
    policy: PlacementPolicy,
    max_unit: int = MAX_UNIT,
) -> tuple[list[_Unit], list[int]]:
    """The units (one room each) and the children left without an adult of
    their household (or whose adults' rooms are full: a unit holds at most
    ``max_unit`` persons, the largest room free). Refuses an exception that
    breaks a rule, naming it."""
    by_id = {p.person_id: p for p in persons}
    if len(by_id) != len(persons):
        raise InvalidInput("risk_person_ids", "a person appears twice in the batch")
    below = policy.child_companion_below_age
    units: dict[int, _Unit] = {}  # lead person id -> unit
    member_of: dict[int, int] = {}  # member person id -> lead person id

    def join(member: Candidate, lead: Candidate, kind: str) -> None:
        if member.person_id in member_of or member.person_id in units:
            raise InvalidInput(
                "exceptions", f"person {member.person_id} is named in more than one exception"
            )
        if lead.person_id in member_of:
            raise InvalidInput("exceptions", f"person {lead.person_id} accompanies someone already")
        unit = units.setdefault(lead.person_id, _Unit(lead))
        if unit.size >= MAX_UNIT:
            raise InvalidInput("exceptions", f"at most {MAX_UNIT} persons share one room")
        unit.members.append((member, kind))
        member_of[member.person_id] = lead.person_id

    for named in companions:
        if named.kind not in EXCEPTION_KINDS:
            raise InvalidInput("exceptions", f"an exception is {' or '.join(EXCEPTION_KINDS)}")
        person, other = by_id.get(named.person_id), by_id.get(named.with_person_id)
        if person is None or other is None or person is other:
            missing = named.person_id if person is None else named.with_person_id
            raise InvalidInput("exceptions", f"person {missing} is not in the batch")
        if _group_key(person) != _group_key(other):
            raise InvalidInput(
                "exceptions",
                f"persons {person.person_id} and {other.person_id} come from different "
                "exposure events and may never share a room",
            )
        if named.kind == "child":
            if person.age is None or person.age >= below:
                raise InvalidInput(
                    "exceptions", f"person {person.person_id} is not a child below {below}"
                )
            if person.household_id is None or person.household_id != other.household_id:
                raise InvalidInput(
                    "exceptions",
                    f"a child shares a room only with a parent or guardian of their household "
                    f"(person {other.person_id} is not of it)",
                )
            if other.age is not None and other.age < below:
                raise InvalidInput(
                    "exceptions", f"person {other.person_id} is a child and cannot be the guardian"
                )
            join(person, other, "child")  # the guardian leads the room
        else:
            join(person, other, "carer")  # the person needing care leads the room
    alone: list[int] = []
    if policy.pair_children:
        adults: dict[tuple[int, str], list[Candidate]] = defaultdict(list)
        for p in persons:
            if p.household_id is not None and (p.age is None or p.age >= below):
                adults[(p.household_id, _group_key(p))].append(p)
        for p in persons:
            if p.age is None or p.age >= below or p.person_id in member_of or p.person_id in units:
                continue
            options = [
                a
                for a in adults.get((p.household_id or -1, _group_key(p)), [])
                if a.person_id not in member_of
                and (units[a.person_id].size if a.person_id in units else 1) < max_unit
            ]
            if not options:
                alone.append(p.person_id)
                continue
            # rooms for two are the common kind: the adult with the fewest children so far,
            # then the eldest known
            guardian = min(
                options,
                key=lambda a: (
                    units[a.person_id].size if a.person_id in units else 1,
                    -(a.age or 0),
                    a.person_id,
                ),
            )
            join(p, guardian, "child")
    for p in persons:
        if p.person_id not in member_of and p.person_id not in units:
            units[p.person_id] = _Unit(p)
    return list(units.values()), alone


def _needs(units: Sequence[_Unit]) -> list[int]:
    """How many of ``units`` need a room for at least 2, 3, ... persons."""
    sizes = [u.size for u in units]
    return [sum(1 for size in sizes if size >= c) for c in range(2, MAX_UNIT + 1)]


@dataclass
class _Floor:
    key: FloorKey
    order: int
    rooms: list[FreeRoom]
    in_use: bool  # holds persons from before this batch
    cursor: int = 0  # rooms before it are taken or left empty
    last_group: str | None = None
    # larger[c - 2][i]: rooms of capacity >= c from the i-th on (c = 2 .. MAX_UNIT)
    larger: list[list[int]] = field(default_factory=list)
    index_of: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index_of = {room.room_id: i for i, room in enumerate(self.rooms)}
        capacities = [room.capacity for room in reversed(self.rooms)]
        for c in range(2, MAX_UNIT + 1):
            counts = list(accumulate((capacity >= c for capacity in capacities), initial=0))
            counts.reverse()
            self.larger.append(counts)

    def available(self, buffer: int) -> int:
        gap = buffer if (self.in_use or self.last_group is not None) else 0
        return max(0, len(self.rooms) - self.cursor - gap)

    def fit(
        self,
        units: Sequence[_Unit],
        group: str,
        buffer: int,
        need: list[int] | None = None,
    ) -> list[FreeRoom] | None:
        """The rooms ``units`` would take (one each, in the units' order), or
        None when they do not fit: the shortest run of rooms from the
        cursor (after the buffer) holding a room large enough for each
        unit. Units of several persons take the run's large rooms, the
        others its remaining rooms in corridor order; rooms of the run
        nobody needs stay empty."""
        apart = self.in_use if self.last_group is None else self.last_group != group
        start = self.cursor + (buffer if apart else 0)
        if len(self.rooms) - start < len(units):
            return None
        need = need if need is not None else _needs(units)
        if any(self.larger[c][start] < need[c] for c in range(len(need)) if need[c]):
            return None
        seen = [0] * len(need)
        end = start
        while True:  # the shortest run: enough rooms, enough large ones
            capacity = self.rooms[end].capacity
            for c in range(len(need)):
                seen[c] += capacity >= c + 2
            end += 1
            if end - start >= len(units) and all(s >= n for s, n in zip(seen, need, strict=True)):
                break
        run = self.rooms[start:end]
        large = sorted(range(len(units)), key=lambda n: -units[n].size)
        free = sorted(run, key=lambda r: -r.capacity)
        taken: dict[int, FreeRoom] = {}
        used: set[int] = set()
        for n in large:
            if units[n].size < 2:
                break
            room = free[len(taken)]
            taken[n] = room
            used.add(room.room_id)
        rest = iter(r for r in run if r.room_id not in used)
        return [taken[n] if n in taken else next(rest) for n in range(len(units))]

    def take(self, rooms: list[FreeRoom], group: str) -> None:
        self.cursor = max(self.index_of[r.room_id] for r in rooms) + 1
        self.last_group = group


class _Floors:
    """The floors, kept sorted by the rooms each has free for the next group."""

    def __init__(self, floors: list[_Floor], buffer: int) -> None:
        self.buffer = buffer
        self.floors = floors
        self.index = sorted((f.available(buffer), f.order) for f in floors)

    def _remove(self, floor: _Floor, available: int) -> None:
        i = bisect.bisect_left(self.index, (available, floor.order))
        del self.index[i]

    def place(self, floor: _Floor, rooms: list[FreeRoom], group: str) -> None:
        self._remove(floor, floor.available(self.buffer))
        floor.take(rooms, group)
        bisect.insort(self.index, (floor.available(self.buffer), floor.order))

    def best_fit(self, units: Sequence[_Unit], group: str) -> tuple[_Floor, list[FreeRoom]] | None:
        need = _needs(units)
        i = bisect.bisect_left(self.index, (len(units), -1))
        index, floors = self.index, self.floors
        for n in range(i, len(index)):
            floor = floors[index[n][1]]
            if need[0] and floor.larger[0][floor.cursor] < need[0]:
                continue  # not enough rooms for two left on this floor
            rooms = floor.fit(units, group, self.buffer, need)
            if rooms is not None:
                return floor, rooms
        return None

    def roomiest(self) -> list[_Floor]:
        return [self.floors[order] for available, order in reversed(self.index) if available]

    def total(self) -> int:
        return sum(available for available, _ in self.index)


def _blocks(units: list[_Unit]) -> list[list[_Unit]]:
    """A group's units by household (largest household first), each
    household's units in person order; a unit without a household alone."""
    by_household: dict[object, list[_Unit]] = defaultdict(list)
    for unit in units:
        key = unit.lead.household_id
        by_household[key if key is not None else ("person", unit.lead.person_id)].append(unit)
    blocks = [sorted(b, key=lambda u: u.lead.person_id) for b in by_household.values()]
    return sorted(blocks, key=lambda b: (-len(b), b[0].lead.person_id))


def plan_placement(
    persons: Sequence[Candidate],
    rooms: Sequence[FreeRoom],
    policy: PlacementPolicy,
    *,
    companions: Iterable[Companion] = (),
    facility_order: Sequence[int] = (),
    floors_in_use: Iterable[FloorKey] = (),
) -> Plan:
    """Place ``persons`` into the free ``rooms`` (see the module's rules)."""
    usable = [r for r in rooms if r.private_bathroom]
    roomiest = max((r.capacity for r in usable), default=1)
    units, alone = form_units(persons, companions, policy, min(MAX_UNIT, roomiest))
    rank = {facility: n for n, facility in enumerate(facility_order)}
    by_floor: dict[FloorKey, list[FreeRoom]] = defaultdict(list)
    for room in usable:
        by_floor[room[1:4]].append(room)  # the floor key
    in_use = set(floors_in_use)
    keys = sorted(by_floor, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1], k[2]))
    floors = [
        _Floor(k, n, sorted(by_floor[k], key=lambda r: (r.position, r.room_id)), k in in_use)
        for n, k in enumerate(keys)
    ]
    buffer = max(0, policy.floor_buffer_rooms)
    state = _Floors(floors, buffer)

    groups: dict[str, list[_Unit]] = defaultdict(list)
    for unit in units:
        if len(unit.members) < roomiest:  # a unit no room can hold stays without one
            groups[unit.lead.exposure_key or f"~person:{unit.lead.person_id}"].append(unit)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    placed: dict[int, FreeRoom] = {}  # lead person id -> room
    floors_of: dict[str, set[FloorKey]] = defaultdict(set)

    def put(units_: list[_Unit], rooms_: list[FreeRoom], group: str, floor: _Floor) -> None:
        state.place(floor, rooms_, group)
        for unit, room in zip(units_, rooms_, strict=True):
            placed[unit.lead.person_id] = room
        floors_of[group].add(floor.key)

    def split(group: str, group_units: list[_Unit]) -> None:
        pending = _blocks(group_units)
        roomiest = state.roomiest()
        for n_floor, floor in enumerate(roomiest):
            if not pending:
                return
            after = roomiest[n_floor + 1 : n_floor + 2]  # the roomiest first
            next_room = after[0].available(buffer) if after else 0
            kept: list[list[_Unit]] = []
            for block in pending:
                rooms_ = floor.fit(block, group, buffer)
                if rooms_ is None:
                    kept.append(block)
                else:
                    put(block, rooms_, group, floor)
            pending = kept
            if pending and len(pending[0]) > next_room:
                # a household larger than any floor left: as much of it as fits here
                block = pending[0]
                n = len(block)
                while n and floor.fit(block[:n], group, buffer) is None:
                    n -= 1
                if n:
                    put(block[:n], floor.fit(block[:n], group, buffer) or [], group, floor)
                    pending[0] = block[n:]

    deferred: list[tuple[str, list[_Unit]]] = []
    for group, group_units in ordered:
        ordered_units = [u for block in _blocks(group_units) for u in block]
        found = state.best_fit(ordered_units, group)
        if found is not None:
            put(ordered_units, found[1], group, found[0])
        elif state.total() >= len(group_units):
            split(group, group_units)
        else:
            deferred.append((group, group_units))
    for group, group_units in deferred:
        split(group, group_units)

    assignments: list[Assignment] = []
    unplaced: list[int] = []
    missing = 0
    for unit in units:
        lead = unit.lead
        home = placed.get(lead.person_id)
        if home is None:
            missing += 1
            unplaced.extend(p.person_id for p in unit.persons)
            continue
        assignments.append(
            Assignment(lead.person_id, home.room_id, None, lead.exposure_key, lead.household_id)
        )
        for person, _ in unit.members:
            assignments.append(
                Assignment(
                    person.person_id,
                    home.room_id,
                    lead.person_id,
                    person.exposure_key,
                    person.household_id,
                )
            )
    return _summarise(assignments, unplaced, missing, groups, floors_of, alone, rooms, placed)


def _summarise(
    assignments: list[Assignment],
    unplaced: list[int],
    missing: int,
    groups: dict[str, list[_Unit]],
    floors_of: dict[str, set[FloorKey]],
    alone: list[int],
    rooms: Sequence[FreeRoom],
    placed: dict[int, FreeRoom],
) -> Plan:
    split = tuple(
        SplitGroup(group, sum(u.size for u in groups[group]), len(floors))
        for group, floors in sorted(floors_of.items())
        if len(floors) > 1
    )
    household_floors: dict[int, set[FloorKey]] = defaultdict(set)
    household_size: dict[int, int] = defaultdict(int)
    room_floor = {r.room_id: r[1:4] for r in placed.values()}  # room -> floor key
    for a in assignments:
        if a.household_id is not None:
            household_floors[a.household_id].add(room_floor[a.room_id])
            household_size[a.household_id] += 1
    multi = [h for h, n in household_size.items() if n > 1]
    return Plan(
        assignments=tuple(assignments),
        unplaced=tuple(unplaced),
        rooms_missing=missing,
        split_groups=split,
        groups=len(floors_of),
        groups_on_one_floor=sum(1 for floors in floors_of.values() if len(floors) == 1),
        households=len(multi),
        households_on_one_floor=sum(1 for h in multi if len(household_floors[h]) == 1),
        children_alone=tuple(alone),
        rooms_without_bathroom=sum(1 for r in rooms if not r.private_bathroom),
        floors_used=len({f for floors in floors_of.values() for f in floors}),
    )


def room_violations(
    assignments: Iterable[Assignment], persons: Sequence[Candidate], policy: PlacementPolicy
) -> list[str]:
    """What breaks the room rules in a set of assignments (empty when none):
    two exposure events in one room, or a shared room that is not an
    exception's. Used by the tests and as the service's last check."""
    by_id = {p.person_id: p for p in persons}
    rooms: dict[int, list[Assignment]] = defaultdict(list)
    for a in assignments:
        rooms[a.room_id].append(a)
    wrong = []
    for room_id, inside in rooms.items():
        if len({_group_key(by_id[a.person_id]) for a in inside}) > 1:
            wrong.append(f"room {room_id} holds persons of different exposure events")
        if len(inside) > 1:
            leads = [a for a in inside if a.lead_person_id is None]
            if len(leads) != 1 or any(
                a.lead_person_id != leads[0].person_id for a in inside if a is not leads[0]
            ):
                wrong.append(f"room {room_id} is shared outside an exception")
        if len(inside) > MAX_UNIT:
            wrong.append(f"room {room_id} holds more than {MAX_UNIT} persons")
    return wrong

"""Placing risk persons into centralized quarantine.

- the candidates and the sites' free rooms are
  :mod:`fangkong.quarantine.placement_choices`;
- :func:`preview_placement` — the plan of a batch (who goes where, the
  groups split across floors, how many rooms are missing and where else in
  the jurisdiction rooms are free), written nowhere;
- :func:`place_batch` — the same plan, written: stays, their test
  schedules, rooms occupied, risk persons under the measure (controlled
  from now), one audit event for the batch and one per stay. Thousands of
  persons are written set-based (``COPY`` on PostgreSQL). The rooms are
  claimed by one ``UPDATE`` that takes only rooms still ready and must take
  them all, so two batches (or a room put out of service meanwhile) never
  share a room: the later one is refused and previews again. Locking the
  free rooms while planning would lock every ready room of the sites
  (30,000 row locks in the benchmark) for nothing the claim does not do.

Moving a stay afterwards is :mod:`fangkong.quarantine.transfers`.

The room rules are :mod:`fangkong.quarantine.placement_rules`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, record_audit, require
from fangkong.bulkio import (
    analyze_after_bulk,
    copy_in,
    db_time,
    is_postgres,
    lock_for_append,
    reserve_ids,
    staged,
)
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.policy import get_policy
from fangkong.quarantine.exposure import RiskFacts, facts_of
from fangkong.quarantine.models import Facility, Room
from fangkong.quarantine.placement_choices import (
    MEASURE,
    SiteRooms,
    age_on,
    capacity_elsewhere,
    facilities_for,
)
from fangkong.quarantine.placement_rules import (
    Candidate,
    Companion,
    FloorKey,
    FreeRoom,
    PlacementPolicy,
    Plan,
    plan_placement,
    room_violations,
)
from fangkong.quarantine.stay_rules import planned_end_on, test_schedule

MAX_BATCH = 50_000


# --- the plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementPreview:
    plan: Plan
    facilities: list[Facility]
    persons: int
    by_facility: dict[int, int]  # facility id -> persons placed
    floors: dict[int, int]  # facility id -> floors used
    elsewhere: list[SiteRooms]  # when rooms are missing
    rooms: dict[int, FreeRoom]  # the rooms the plan uses, by id

    @property
    def shortfall(self) -> bool:
        return bool(self.plan.unplaced)


@dataclass
class _Prepared:
    preview: PlacementPreview
    facts: dict[int, RiskFacts]  # person id -> facts


def _policy() -> PlacementPolicy:
    policy = get_policy()
    return PlacementPolicy(policy.child_companion_below_age, policy.floor_buffer_rooms)


def _check_candidates(facts: list[RiskFacts], wanted: set[int]) -> None:
    if len(facts) != len(wanted):
        raise NotFound("risk person not found")
    for f in facts:
        if f.measure != MEASURE:
            raise InvalidInput(
                "risk_person_ids",
                f"risk person {f.risk_person_id} is not for centralized quarantine ({f.measure})",
            )
        if f.status == "released":
            raise InvalidInput("risk_person_ids", f"risk person {f.risk_person_id} is released")
        if f.in_stay:
            raise InvalidInput(
                "risk_person_ids", f"risk person {f.risk_person_id} has a stay in force already"
            )


def _free_rooms(
    session: Session, facilities: list[Facility]
) -> tuple[list[FreeRoom], set[FloorKey]]:
    conn = session.connection()
    ids = [f.id for f in facilities]
    stmt = (
        select(
            Room.id,
            Room.facility_id,
            Room.building,
            Room.floor,
            Room.position,
            Room.capacity,
            Room.private_bathroom,
        )
        .where(Room.facility_id.in_(ids), Room.status == "ready", Room.kind == "room")
        .order_by(Room.id)
    )
    rooms = list(map(FreeRoom._make, conn.execute(stmt).all()))  # all(): one fetch, not 30,000
    in_use = {
        (int(f), str(b), int(n))
        for f, b, n in conn.execute(
            select(Room.facility_id, Room.building, Room.floor)
            .where(Room.facility_id.in_(ids), Room.status == "occupied")
            .distinct()
        )
    }
    return rooms, in_use


def _prepare(
    session: Session,
    actor: Actor,
    facility_ids: Sequence[int] | None,
    risk_person_ids: Sequence[int],
    exceptions: Sequence[Companion],
    *,
    lock: bool,
) -> _Prepared:
    require(actor, Permission.QUARANTINE_STAYS)
    wanted = set(risk_person_ids)
    if not wanted:
        raise InvalidInput("risk_person_ids", "choose at least one person")
    if len(wanted) > MAX_BATCH:
        raise InvalidInput("risk_person_ids", f"at most {MAX_BATCH} persons a batch")
    facilities = facilities_for(session, actor, facility_ids)
    facts = facts_of(session.connection(), list(wanted), lock=lock)
    if any(not covers(actor.jurisdiction, f.region_code) for f in facts):
        raise NotFound("risk person not found")
    _check_candidates(facts, wanted)
    today = clock.today_local()
    persons = [
        Candidate(f.person_id, f.household_id, f.exposure_key, age_on(f.birth_date, today))
        for f in facts
    ]
    by_risk = {f.risk_person_id: f.person_id for f in facts}
    companions = []
    for named in exceptions:  # the page and the callers name risk persons
        if named.person_id not in by_risk or named.with_person_id not in by_risk:
            missing = named.person_id if named.person_id not in by_risk else named.with_person_id
            raise InvalidInput("exceptions", f"risk person {missing} is not in the batch")
        companions.append(
            Companion(by_risk[named.person_id], by_risk[named.with_person_id], named.kind)
        )
    rooms, in_use = _free_rooms(session, facilities)
    policy = _policy()
    plan = plan_placement(
        persons,
        rooms,
        policy,
        companions=companions,
        facility_order=[f.id for f in facilities],
        floors_in_use=in_use,
    )
    wrong = room_violations(plan.assignments, persons, policy)
    if wrong:  # the planner's promise, checked before anything is written
        raise Conflict("; ".join(wrong[:3]))
    room_of = {r.room_id: r for r in rooms}
    used = {a.room_id: room_of[a.room_id] for a in plan.assignments}
    by_facility = Counter(room_of[a.room_id].facility_id for a in plan.assignments)
    floors = Counter(f for f, _, _ in {r.floor_key for r in used.values()})
    elsewhere = (
        capacity_elsewhere(session, actor, [f.id for f in facilities]) if plan.unplaced else []
    )
    preview = PlacementPreview(
        plan, facilities, len(persons), dict(by_facility), dict(floors), elsewhere, used
    )
    return _Prepared(preview, {f.person_id: f for f in facts})


def preview_placement(
    session: Session,
    actor: Actor,
    facility_ids: Sequence[int] | None,
    risk_person_ids: Sequence[int],
    exceptions: Sequence[Companion] = (),
) -> PlacementPreview:
    """The plan of a batch, written nowhere. ``facility_ids`` None: every
    receiving quarantine site of the actor's, in name order. ``exceptions``
    name risk-person ids (a child with their guardian, a carer with the
    person needing care)."""
    prepared = _prepare(session, actor, facility_ids, risk_person_ids, exceptions, lock=False)
    session.rollback()  # the staging table and nothing else
    return prepared.preview


def shortfall_message(preview: PlacementPreview) -> str:
    """How many rooms are missing and where else rooms are free."""
    plan = preview.plan
    if not plan.unplaced:
        return ""
    where = "; ".join(
        f"{s.name or '辖区内其他隔离点 (another site)'} {s.region_code}: {s.free_rooms}"
        for s in preview.elsewhere[:10]
    )
    return (
        f"缺少 {plan.rooms_missing} 间房，{len(plan.unplaced)} 人未安置 "
        f"({plan.rooms_missing} rooms missing, {len(plan.unplaced)} persons without a room); "
        + (
            f"辖区内尚有空房 (free rooms elsewhere in your jurisdiction): {where}"
            if where
            else "辖区内无其他空房 (no free rooms elsewhere in your jurisdiction)"
        )
    )


# --- writing the batch -------------------------------------------------------------


@dataclass(frozen=True)
class PlacementResult:
    preview: PlacementPreview
    placed: int
    first_stay_id: int | None


TIME = pa.timestamp("us", tz="UTC")


def place_batch(
    session: Session,
    actor: Actor,
    facility_ids: Sequence[int] | None,
    risk_person_ids: Sequence[int],
    exceptions: Sequence[Companion] = (),
) -> PlacementResult:
    """Place the batch as :func:`preview_placement` plans it; whoever finds
    no room stays a candidate (the result says how many rooms are missing
    and where else rooms are free)."""
    prepared = _prepare(session, actor, facility_ids, risk_person_ids, exceptions, lock=True)
    preview = prepared.preview
    plan = preview.plan
    if not plan.assignments:
        session.rollback()
        return PlacementResult(preview, 0, None)
    conn = session.connection()
    now, today = clock.now(), clock.today_local()
    policy = get_policy()
    zone = get_settings().zone
    facility_region = {f.id: f.region_code for f in preview.facilities}
    rooms = preview.rooms
    room_ids = pa.table({"room_id": pa.array(sorted(rooms), pa.int64())})
    with staged(conn, "stage_place_rooms", "room_id BIGINT", room_ids) as stage:
        taken = conn.execute(
            text(
                "UPDATE room SET status = 'occupied', status_at = :now "
                f"WHERE status = 'ready' AND id IN (SELECT room_id FROM {stage})"
            ),
            {"now": now},
        ).rowcount
    if taken != len(rooms):
        session.rollback()
        raise Conflict(
            "另一批安置刚占用了其中的房间，请重新预览 (rooms were just taken; preview again)"
        )
    lock_for_append(conn, ["stay", "scheduled_test"])
    ordered = sorted(plan.assignments, key=lambda a: a.lead_person_id is not None)  # leads first
    count = len(ordered)
    ids = reserve_ids(conn, "stay", count).to_pylist()
    first, last = ids[0], ids[-1]
    stay_of = {a.person_id: stay_id for a, stay_id in zip(ordered, ids, strict=True)}
    facts = prepared.facts
    end_of: dict[tuple[str, date], date] = {}  # (category, exposure day) -> planned end
    schedules: dict[tuple[str, date], list[tuple[int, date]]] = {}
    person_ids: list[int] = []
    sites: list[int] = []
    risk_ids: list[int] = []
    companion_of: list[int | None] = []
    exposed_at: list[datetime | None] = []
    ends: list[date] = []
    test_stays: list[int] = []
    test_days: list[int] = []
    test_due: list[date] = []
    for a, stay_id in zip(ordered, ids, strict=True):
        f = facts[a.person_id]
        moment = f.last_exposure_at
        exposed = moment.astimezone(zone).date() if moment is not None else today
        key = (f.category, exposed)
        end = end_of.get(key)
        if end is None:
            end = end_of[key] = planned_end_on(exposed, policy.quarantine_days_for(f.category))
        person_ids.append(a.person_id)
        sites.append(rooms[a.room_id].facility_id)
        risk_ids.append(f.risk_person_id)
        companion_of.append(None if a.lead_person_id is None else stay_of[a.lead_person_id])
        exposed_at.append(moment)
        ends.append(end)
        schedule = schedules.get((f.category, end))
        if schedule is None:
            schedule = schedules[(f.category, end)] = test_schedule(
                today, end, policy.test_days_for(f.category, "centralized")
            )
        for day, due in schedule:
            test_stays.append(stay_id)
            test_days.append(day)
            test_due.append(due)
    stays = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "person_id": pa.array(person_ids, pa.int64()),
            "region_code": pa.array([facility_region[f] for f in sites], pa.string()),
            "facility_id": pa.array(sites, pa.int64()),
            "room_id": pa.array([a.room_id for a in ordered], pa.int64()),
            "risk_person_id": pa.array(risk_ids, pa.int64()),
            "household_id": pa.array([a.household_id for a in ordered], pa.int64()),
            "exposure_key": pa.array([a.exposure_key for a in ordered], pa.string()),
            "companion_of": pa.array(companion_of, pa.int64()),
            "last_exposure_at": pa.array(exposed_at, TIME),
            "planned_end_on": pa.array(ends, pa.date32()),
        }
    )
    copy_in(
        conn,
        "stay",
        stays,
        {
            "kind": "centralized",
            "severity": "",
            "started_at": now,
            "end_reason": "",
            **({"placed_by": actor.user_id} if actor.user_id is not None else {}),
        },
    )
    copy_in(
        conn,
        "scheduled_test",
        pa.table(
            {  # ids reserved too: a default drawn row by row costs a tenth of this COPY
                "id": reserve_ids(conn, "scheduled_test", len(test_stays)),
                "stay_id": pa.array(test_stays, pa.int64()),
                "day": pa.array(test_days, pa.int32()),
                "due_on": pa.array(test_due, pa.date32()),
            }
        ),
    )
    # the statistics first: the statements below read the stays just written
    analyze_after_bulk(conn, ["stay", "scheduled_test"], count)
    _audit_stays(conn, actor, first, last, now)  # before the risk persons change: old status
    conn.execute(
        text(
            "UPDATE risk_person SET status = 'under_measure', updated_at = :now, "
            "controlled_at = CASE WHEN status = 'under_measure' AND controlled_at IS NOT NULL "
            "THEN controlled_at ELSE :now END "
            "WHERE id IN (SELECT risk_person_id FROM stay WHERE id BETWEEN :first AND :last)"
        ),
        {"now": db_time(conn, now), "first": first, "last": last},
    )
    record_audit(
        session,
        actor,
        "placement.batch",
        "facility",
        preview.facilities[0].id,
        preview.facilities[0].region_code,
        {
            "facilities": [f.id for f in preview.facilities],
            "persons": preview.persons,
            "placed": count,
            "unplaced": len(plan.unplaced),
            "rooms_missing": plan.rooms_missing,
            "stays": [first, last],
            "groups": plan.groups,
            "groups_on_one_floor": plan.groups_on_one_floor,
            "split_groups": len(plan.split_groups),
        },
    )
    session.expire_all()
    session.commit()
    return PlacementResult(preview, count, first)


def _audit_stays(conn: Connection, actor: Actor, first: int, last: int, now: datetime) -> None:
    """One audit event per stay of ids ``first`` to ``last`` (the person's
    risk record put under the measure with it, from the status it has
    still), appended in SQL from the stays just written: no row of it
    travels, and no JSON is made in Python."""
    json_object, json_array = (
        ("json_build_object", "json_build_array")
        if is_postgres(conn)
        else ("json_object", "json_array")
    )
    conn.execute(
        text(
            "INSERT INTO audit_event (at, actor_id, actor_label, action, object_type, "
            "object_id, region_code, changes) "
            "SELECT :now, CAST(:actor_id AS INTEGER), CAST(:label AS VARCHAR(100)), "
            "'stay.place', 'stay', CAST(s.id AS VARCHAR(64)), s.region_code, "
            f"{json_object}('room_id', s.room_id, 'risk_person_id', s.risk_person_id, "
            f"'risk_status', {json_array}(r.status, 'under_measure'), "
            "'exposure_key', s.exposure_key, 'companion_of', s.companion_of) "
            "FROM stay s JOIN risk_person r ON r.id = s.risk_person_id "
            "WHERE s.id BETWEEN :first AND :last ORDER BY s.id"
        ),
        {
            "now": db_time(conn, now),
            "actor_id": actor.user_id,
            "label": actor.username,
            "first": first,
            "last": last,
        },
    )

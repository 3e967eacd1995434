"""Cross-infection alerts (交叉感染预警): a person who tests positive during a
centralized-quarantine stay after a negative test taken in the same
facility was infected inside it. The alert names the neighbours who were
exposed, and each becomes a close contact with their own measure.

What raises an alert, and who is named (the rules:
:func:`neighbour_relation`):

- the positive tube is a single tube taken during a stay (purpose
  ``stay``); its stay is the one its scheduled test belongs to, else the
  person's stay at the sample time;
- an earlier tube of the same stay, sampled after the person arrived in
  the facility where the positive sample was taken, was negative. A first
  positive without such a negative was brought in: it raises no alert but is
  listed on the board (:func:`alerts_board`) as brought in;
- the neighbours are the persons whose centralized stay is in force in the
  same facility: in the same or an adjacent room (``adjacent_room``), on the
  same floor of the same building (``same_floor``), or served by the same
  care team (``same_team``), the first that holds;
- each neighbour is noted as a close contact (channel ``investigation``,
  source ``cross-infection alert <id>``, last exposure = the positive
  sample's time) with an exposure edge from the positive person; their stay's
  planned end is counted again from that exposure (never brought forward)
  and the tests of the new period are added to its schedule.

The positive person's own case is opened by an epidemiologist from the
positive board; since their risk record was under the quarantine measure
when the sample was taken, the case's detection route is
``quarantine_screening`` and it counts as controlled.

:func:`raise_cross_infection_alerts` runs inside the lab result's
transaction (called by :func:`fangkong.testing.followup.follow_up`), with the
system as the actor of its audit events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, or_, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import SYSTEM, record_audit
from fangkong.config import get_settings
from fangkong.people.service import person_held
from fangkong.policy import get_policy
from fangkong.quarantine.alert_rules import Spot, neighbour_relation, new_period_tests
from fangkong.quarantine.models import (
    AlertNeighbour,
    Facility,
    QuarantineAlert,
    Room,
    ScheduledTest,
    Stay,
    StayMove,
)
from fangkong.quarantine.stay_rules import planned_end_on
from fangkong.testing.models import LabResult, Tube, TubeMember
from fangkong.tracing.graph_service import update_secondary_contacts_around
from fangkong.tracing.models import Case, Exposure, RiskPerson
from fangkong.tracing.risk import note_risk_person

ALERT_SOURCE = "cross-infection alert {id}"
EXPOSURE_SETTING = "other"  # a quarantine site is none of the named settings


# --- where a stay was when a sample was taken ----------------------------------------


@dataclass(frozen=True)
class Placement:
    room: Room
    arrived_at: datetime  # when the stay entered the room's facility


def placement_at(session: Session, stay: Stay, at: datetime) -> Placement | None:
    """The room a facility stay was in at ``at`` and since when the stay was
    in that room's facility (transfers between facilities count anew)."""
    moves = session.scalars(
        select(StayMove).where(StayMove.stay_id == stay.id).order_by(StayMove.moved_at, StayMove.id)
    ).all()
    before = [m for m in moves if m.moved_at <= at]
    if before:
        room_id = before[-1].to_room_id
    elif moves:
        room_id = moves[0].from_room_id
    else:
        room_id = stay.room_id
    room = session.get(Room, room_id) if room_id is not None else None
    if room is None:
        return None
    arrived = stay.started_at
    for move in before:
        to_room = session.get(Room, move.to_room_id) if move.to_room_id else None
        from_room = session.get(Room, move.from_room_id) if move.from_room_id else None
        came_in = to_room is not None and to_room.facility_id == room.facility_id
        if came_in and (from_room is None or from_room.facility_id != room.facility_id):
            arrived = move.moved_at
    return Placement(room, arrived)


def stay_of_tube(
    session: Session, tube_id: int, person_id: int, sampled_at: datetime
) -> Stay | None:
    """The stay a stay tube was taken for: its scheduled test's, else the
    person's stay at the sample time."""
    stay_id = session.scalar(
        select(ScheduledTest.stay_id).where(ScheduledTest.tube_id == tube_id).limit(1)
    )
    if stay_id is not None:
        return session.get(Stay, stay_id)
    return session.scalars(
        select(Stay)
        .where(
            Stay.person_id == person_id,
            Stay.started_at <= sampled_at,
            or_(Stay.ended_at.is_(None), Stay.ended_at >= sampled_at),
        )
        .order_by(Stay.started_at.desc(), Stay.id.desc())
        .limit(1)
    ).first()


def _earlier_negative(
    session: Session, person_id: int, since: datetime, before: datetime
) -> int | None:
    """A negative stay tube of the person sampled in [since, before)."""
    return session.scalar(
        select(Tube.id)
        .join(TubeMember, TubeMember.tube_id == Tube.id)
        .where(
            TubeMember.person_id == person_id,
            Tube.purpose == "stay",
            Tube.result == "negative",
            TubeMember.sampled_at >= since,
            TubeMember.sampled_at < before,
        )
        .order_by(TubeMember.sampled_at.desc())
        .limit(1)
    )


class InStayPositive(NamedTuple):
    tube_id: int
    person_id: int
    sampled_at: datetime
    stay: Stay
    placement: Placement
    negative_tube_id: int | None  # None: brought in


def in_stay_positive(session: Session, tube_id: int) -> InStayPositive | None:
    positive = (
        select(LabResult.id)
        .where(LabResult.tube_id == Tube.id, LabResult.result == "positive")
        .exists()
    )  # any positive result, a conflicting one too: follow-up never waits for a settlement
    member = session.execute(
        select(TubeMember.person_id, TubeMember.sampled_at)
        .join(Tube, Tube.id == TubeMember.tube_id)
        .where(Tube.id == tube_id, Tube.purpose == "stay", positive)
        .limit(1)
    ).first()
    if member is None:
        return None
    stay = stay_of_tube(session, tube_id, member.person_id, member.sampled_at)
    if stay is None or stay.kind != "centralized":
        return None
    placement = placement_at(session, stay, member.sampled_at)
    if placement is None:
        return None
    negative = _earlier_negative(
        session, stay.person_id, max(placement.arrived_at, stay.started_at), member.sampled_at
    )
    return InStayPositive(tube_id, member.person_id, member.sampled_at, stay, placement, negative)


# --- raising alerts (inside the lab result's transaction) --------------------------------


def raise_cross_infection_alerts(
    conn: Connection, positive_tube_ids: Sequence[int], now: datetime
) -> list[int]:
    """Raise an alert for each positive stay tube taken after a negative one
    in the same facility (once per stay and tube); returns the new alerts'
    ids. Adds to the caller's transaction (a savepoint of its own) and does
    not commit it."""
    if not positive_tube_ids:
        return []
    stay_tubes = conn.scalars(
        select(Tube.id).where(Tube.id.in_(list(positive_tube_ids)), Tube.purpose == "stay")
    ).all()
    if not stay_tubes:  # a round's positives: nothing to do here
        return []
    session = Session(bind=conn, join_transaction_mode="create_savepoint")
    try:
        raised: list[int] = []
        for tube_id in sorted(stay_tubes):
            found = in_stay_positive(session, tube_id)
            if found is None or found.negative_tube_id is None:
                continue  # not in a facility, or brought in
            known = session.scalar(  # one alert per stay: a later positive is the same infection
                select(QuarantineAlert.id).where(QuarantineAlert.stay_id == found.stay.id).limit(1)
            )
            if known is None:
                raised.append(_raise(session, found, now))
        session.commit()
        return raised
    finally:
        session.close()


def _raise(session: Session, found: InStayPositive, now: datetime) -> int:
    room = found.placement.room
    facility = session.get(Facility, room.facility_id)
    assert facility is not None  # a foreign key
    alert = QuarantineAlert(
        kind="cross_infection",
        facility_id=facility.id,
        region_code=facility.region_code,
        stay_id=found.stay.id,
        person_id=found.person_id,
        tube_id=found.tube_id,
        sampled_at=found.sampled_at,
        raised_at=now,
        status="open",
        note="",
    )
    session.add(alert)
    session.flush()
    case_spot = Spot(room.id, room.building, room.floor, room.position, room.care_team)
    named: list[dict[str, object]] = []
    present = _stays_in_facility_at(session, facility.id, found)
    cases = set(
        session.scalars(
            select(Case.person_id).where(Case.person_id.in_([s.person_id for s, _ in present]))
        )
    )
    for stay, other in present:
        relation = neighbour_relation(
            case_spot,
            Spot(other.id, other.building, other.floor, other.position, other.care_team),
        )
        if relation is None or stay.person_id in cases:  # a case is not a contact
            continue
        risk = _note_neighbour(session, alert, stay, found, now)
        session.add(
            AlertNeighbour(
                alert_id=alert.id,
                stay_id=stay.id,
                person_id=stay.person_id,
                relation=relation,
                risk_person_id=risk.id,
            )
        )
        extension = (  # one released since is back on the list to find (note_risk_person)
            _extend_stay(session, stay, risk.category, found.sampled_at)
            if stay.ended_at is None
            else {"released_at": stay.ended_at.isoformat()}
        )
        named.append({"person_id": stay.person_id, "relation": relation, **extension})
    session.flush()
    refreshed = update_secondary_contacts_around(
        session, [found.person_id, *(int(str(n["person_id"])) for n in named)]
    )
    record_audit(
        session,
        SYSTEM,
        "quarantine.alert.raise",
        "quarantine_alert",
        alert.id,
        alert.region_code,
        {
            "facility_id": facility.id,
            "stay_id": found.stay.id,
            "person_id": found.person_id,
            "tube_id": found.tube_id,
            "negative_tube_id": found.negative_tube_id,
            "sampled_at": found.sampled_at.isoformat(),
            "room": room.number,
            "neighbours": named,
            "secondary_added": refreshed.added,
        },
    )
    return alert.id


def _stays_in_facility_at(
    session: Session, facility_id: int, found: InStayPositive
) -> list[tuple[Stay, Room]]:
    """Every other centralized stay that was in the facility when the
    positive sample was taken, with the room it was in then: a neighbour
    released or moved since the sample was exposed all the same."""
    at = found.sampled_at
    moved_out = (
        select(StayMove.stay_id)
        .join(Room, Room.id == StayMove.from_room_id)
        .where(Room.facility_id == facility_id, StayMove.moved_at > at)
    )
    candidates = session.scalars(
        select(Stay)
        .where(
            Stay.kind == "centralized",
            Stay.person_id != found.person_id,
            Stay.started_at <= at,
            or_(Stay.ended_at.is_(None), Stay.ended_at > at),
            or_(Stay.facility_id == facility_id, Stay.id.in_(moved_out)),
        )
        .order_by(Stay.id)
    ).all()
    ids = [stay.id for stay in candidates]
    moved = set(session.scalars(select(StayMove.stay_id).where(StayMove.stay_id.in_(ids))))
    rooms = {  # the room of every stay never moved, in one query
        room.id: room
        for room in session.scalars(
            select(Room).where(
                Room.id.in_([s.room_id for s in candidates if s.id not in moved and s.room_id])
            )
        )
    }
    found_in: list[tuple[Stay, Room]] = []
    for stay in candidates:
        if stay.id in moved:  # a few: their moves decide the room at the sample time
            placement = placement_at(session, stay, at)
            room = placement.room if placement is not None else None
        else:
            room = rooms.get(stay.room_id) if stay.room_id is not None else None
        if room is not None and room.facility_id == facility_id:
            found_in.append((stay, room))
    return sorted(found_in, key=lambda p: (p[1].building, p[1].floor, p[1].position, p[0].id))


def _note_neighbour(
    session: Session, alert: QuarantineAlert, stay: Stay, found: InStayPositive, now: datetime
) -> RiskPerson:
    person = person_held(session, stay.person_id)
    assert person is not None  # a foreign key
    noted = note_risk_person(
        session,
        person_id=person.id,
        region_code=person.region_code,
        category="close",
        channel="investigation",
        source=ALERT_SOURCE.format(id=alert.id),
        reported_at=now,
        last_exposure_at=found.sampled_at,
    )
    risk = noted.risk_person
    in_room = stay.ended_at is None
    if in_room and risk.status in ("to_find", "found"):  # in a room already: under the measure
        before = risk.status
        risk.status = "under_measure"
        risk.controlled_at = risk.controlled_at or stay.started_at
        risk.updated_at = now
        record_audit(
            session, SYSTEM, "risk_person.status", "risk_person", risk.id, risk.region_code,
            {"status": [before, "under_measure"], "category": risk.category,
             "measure": risk.measure, "alert": alert.id},
        )  # fmt: skip
    if in_room and stay.risk_person_id is None:
        stay.risk_person_id = risk.id
    edge = session.scalars(
        select(Exposure).where(
            Exposure.source_person_id == found.person_id, Exposure.person_id == person.id
        )
    ).one_or_none()
    if edge is None:
        session.add(
            Exposure(
                source_person_id=found.person_id,
                person_id=person.id,
                region_code=person.region_code,
                setting=EXPOSURE_SETTING,
                last_exposure_at=found.sampled_at,
                transmission=False,
                investigation_id=None,
                recorded_at=now,
            )
        )
    elif edge.last_exposure_at is None or edge.last_exposure_at < found.sampled_at:
        edge.last_exposure_at = found.sampled_at
    return risk


def _extend_stay(
    session: Session, stay: Stay, category: str, exposed_at: datetime
) -> dict[str, object]:
    """Count the stay's planned end again from a new last exposure (never
    earlier than planned) and add the tests of the new period."""
    policy = get_policy()
    zone = get_settings().zone
    if stay.last_exposure_at is None or stay.last_exposure_at < exposed_at:
        stay.last_exposure_at = exposed_at
    assert stay.last_exposure_at is not None
    end = planned_end_on(
        stay.last_exposure_at.astimezone(zone).date(), policy.quarantine_days_for(category)
    )
    before = stay.planned_end_on
    if before is None or end > before:
        stay.planned_end_on = end
    scheduled = session.execute(
        select(ScheduledTest.day, ScheduledTest.due_on).where(ScheduledTest.stay_id == stay.id)
    )
    added = new_period_tests(
        stay.started_at.astimezone(zone).date(),
        clock.today_local(),
        stay.planned_end_on or end,
        policy.test_days_for(category, stay.kind),
        scheduled,
    )
    session.add_all(ScheduledTest(stay_id=stay.id, day=day, due_on=on) for day, on in added)
    changes: dict[str, object] = {
        "planned_end_on": [
            before.isoformat() if before else None,
            stay.planned_end_on.isoformat() if stay.planned_end_on else None,
        ],
        "tests_added": [on.isoformat() for _, on in added],
    }
    record_audit(session, SYSTEM, "stay.exposure", "stay", stay.id, stay.region_code, changes)
    return changes

"""Reading and closing cross-infection alerts: the alerts a user sees with
their neighbours, the positives found in a facility without an earlier
negative there (brought in), and closing an alert with a note. Raising them
is :mod:`fangkong.quarantine.alerts`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, record_audit, require
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.quarantine.alerts import in_stay_positive, placement_at
from fangkong.quarantine.models import (
    AlertNeighbour,
    Facility,
    QuarantineAlert,
    Room,
    Stay,
)
from fangkong.quarantine.scope import get_facility, may_see_facility, scope_facilities
from fangkong.testing.models import LabResult, PositivePerson, Tube, TubeMember
from fangkong.tracing.models import Case, RiskPerson

RELATION_ORDER = ("adjacent_room", "same_floor", "same_team")
MAX_NOTE = 2000


@dataclass(frozen=True)
class AlertRow:
    id: int
    facility_id: int
    facility: str
    room: str
    person_id: int
    name: str
    id_number: str  # masked
    sampled_at: datetime
    raised_at: datetime
    status: str
    neighbours: int
    positive_person_id: int | None
    case_id: int | None


@dataclass(frozen=True)
class NeighbourRow:
    stay_id: int
    person_id: int
    name: str
    id_number: str  # masked
    room: str
    relation: str
    category: str
    risk_status: str
    planned_end_on: date | None


@dataclass(frozen=True)
class AlertDetail:
    alert: AlertRow
    note: str
    closed_at: datetime | None
    neighbours: list[NeighbourRow]


@dataclass(frozen=True)
class BroughtIn:
    """A positive in a facility without an earlier negative there: found on
    arrival, infected before (no alert)."""

    tube_id: int
    facility_id: int
    facility: str
    room: str
    person_id: int
    name: str
    id_number: str  # masked
    sampled_at: datetime
    positive_person_id: int | None
    case_id: int | None


@dataclass(frozen=True)
class AlertsBoard:
    alerts: list[AlertRow]
    brought_in: list[BroughtIn]


def _positive_and_case(
    session: Session, person_id: int, tube_id: int
) -> tuple[int | None, int | None]:
    positive = session.scalar(
        select(PositivePerson.id).where(
            PositivePerson.person_id == person_id, PositivePerson.tube_id == tube_id
        )
    )
    case = session.scalar(select(Case.id).where(Case.person_id == person_id))
    return positive, case


Row = TypeVar("Row", Facility, Person, Stay)


def _by_id(session: Session, model: type[Row], ids: set[int]) -> dict[int, Row]:
    """The rows of ``model`` with these ids, in one query."""
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _rows(session: Session, alerts: Sequence[QuarantineAlert]) -> list[AlertRow]:
    ids = [a.id for a in alerts]
    counts: dict[int, int] = dict(
        session.execute(
            select(AlertNeighbour.alert_id, func.count())
            .where(AlertNeighbour.alert_id.in_(ids or [-1]))
            .group_by(AlertNeighbour.alert_id)
        ).all()
    )
    facilities = _by_id(session, Facility, {a.facility_id for a in alerts})
    persons = _by_id(session, Person, {a.person_id for a in alerts})
    stays = _by_id(session, Stay, {a.stay_id for a in alerts})
    positives = {
        (person_id, tube_id): positive_id
        for positive_id, person_id, tube_id in session.execute(
            select(PositivePerson.id, PositivePerson.person_id, PositivePerson.tube_id).where(
                PositivePerson.tube_id.in_({a.tube_id for a in alerts})
            )
        )
    }
    cases: dict[int, int] = dict(
        session.execute(select(Case.person_id, Case.id).where(Case.person_id.in_(persons))).all()
    )
    rows = []
    for alert in alerts:
        facility = facilities[alert.facility_id]
        person = persons[alert.person_id]
        placement = placement_at(session, stays[alert.stay_id], alert.sampled_at)
        positive = positives.get((alert.person_id, alert.tube_id))
        case = cases.get(alert.person_id)
        rows.append(
            AlertRow(
                id=alert.id,
                facility_id=facility.id,
                facility=facility.name,
                room=placement.room.number if placement else "",
                person_id=person.id,
                name=person.name,
                id_number=mask_identity(person.id_number),
                sampled_at=alert.sampled_at,
                raised_at=alert.raised_at,
                status=alert.status,
                neighbours=int(counts.get(alert.id, 0)),
                positive_person_id=positive,
                case_id=case,
            )
        )
    return rows


def list_alerts(session: Session, actor: Actor, facility_id: int | None = None) -> list[AlertRow]:
    """The alerts of the facilities the actor sees, open ones first, newest
    first."""
    require(actor, Permission.QUARANTINE_READ)
    stmt = select(QuarantineAlert)
    if facility_id is not None:
        get_facility(session, actor, facility_id)
        stmt = stmt.where(QuarantineAlert.facility_id == facility_id)
    stmt = scope_facilities(
        session, stmt, actor, QuarantineAlert.region_code, QuarantineAlert.facility_id
    ).order_by(
        (QuarantineAlert.status == "open").desc(),
        QuarantineAlert.raised_at.desc(),
        QuarantineAlert.id.desc(),
    )
    return _rows(session, session.scalars(stmt.limit(500)).all())


def _alert_in_scope(session: Session, actor: Actor, alert_id: int) -> QuarantineAlert:
    alert = session.get(QuarantineAlert, alert_id)
    facility = session.get(Facility, alert.facility_id) if alert else None
    if alert is None or facility is None or not may_see_facility(session, actor, facility):
        raise NotFound("alert not found")
    return alert


def get_alert(session: Session, actor: Actor, alert_id: int) -> AlertDetail:
    require(actor, Permission.QUARANTINE_READ)
    alert = _alert_in_scope(session, actor, alert_id)
    neighbours = []
    for neighbour, person, stay, room, risk in session.execute(
        select(AlertNeighbour, Person, Stay, Room, RiskPerson)
        .join(Person, Person.id == AlertNeighbour.person_id)
        .join(Stay, Stay.id == AlertNeighbour.stay_id)
        .outerjoin(Room, Room.id == Stay.room_id)
        .outerjoin(RiskPerson, RiskPerson.id == AlertNeighbour.risk_person_id)
        .where(AlertNeighbour.alert_id == alert.id)
        .order_by(Room.building, Room.floor, Room.position, Person.id)
    ):
        neighbours.append(
            NeighbourRow(
                stay_id=stay.id,
                person_id=person.id,
                name=person.name,
                id_number=mask_identity(person.id_number),
                room=room.number if room else "",
                relation=neighbour.relation,
                category=risk.category if risk else "",
                risk_status=risk.status if risk else "",
                planned_end_on=stay.planned_end_on,
            )
        )
    neighbours.sort(key=lambda n: RELATION_ORDER.index(n.relation))
    return AlertDetail(_rows(session, [alert])[0], alert.note, alert.closed_at, neighbours)


def close_alert(session: Session, actor: Actor, alert_id: int, note: str) -> QuarantineAlert:
    """Close an alert once its neighbours are handled, saying how."""
    require(actor, Permission.QUARANTINE_STAYS)
    alert = _alert_in_scope(session, actor, alert_id)
    note = note.strip()
    if not note:
        raise InvalidInput("note", "say how the alert was handled (关闭说明)")
    if len(note) > MAX_NOTE:
        raise InvalidInput("note", f"at most {MAX_NOTE} characters")
    if alert.status == "closed":
        raise Conflict(f"预警 {alert.id} 已关闭 (alert {alert.id} is closed already)")
    now = clock.now()
    alert.status, alert.closed_at, alert.closed_by, alert.note = "closed", now, actor.user_id, note
    record_audit(
        session,
        actor,
        "quarantine.alert.close",
        "quarantine_alert",
        alert.id,
        alert.region_code,
        {"status": ["open", "closed"], "note": note},
    )
    session.commit()
    return alert


def alerts_board(
    session: Session, actor: Actor, facility_id: int | None = None, *, days: int = 30
) -> AlertsBoard:
    """The alerts, and the positives of the last ``days`` found in the
    actor's facilities without an earlier negative there (brought in)."""
    alerts = list_alerts(session, actor, facility_id)
    since = clock.now() - timedelta(days=days)
    alerted = set(session.scalars(select(QuarantineAlert.stay_id)))
    in_my_facilities = scope_facilities(
        session,
        select(Stay.person_id).join(Facility, Facility.id == Stay.facility_id),
        actor,
        Facility.region_code,
        Facility.id,
    )
    if facility_id is not None:
        in_my_facilities = in_my_facilities.where(Facility.id == facility_id)
    any_positive = (
        select(LabResult.id)
        .where(LabResult.tube_id == Tube.id, LabResult.result == "positive")
        .exists()
    )
    brought: list[BroughtIn] = []
    for tube_id, sampled_at in session.execute(
        select(Tube.id, TubeMember.sampled_at)
        .join(TubeMember, TubeMember.tube_id == Tube.id)
        .where(
            Tube.purpose == "stay",
            any_positive,
            TubeMember.sampled_at >= since,
            TubeMember.person_id.in_(in_my_facilities),  # scoped before the limit
        )
        .order_by(TubeMember.sampled_at.desc())
        .limit(500)
    ):
        found = in_stay_positive(session, tube_id)
        if found is None or found.negative_tube_id is not None:
            continue
        if found.stay.id in alerted:
            continue
        facility = session.get(Facility, found.placement.room.facility_id)
        assert facility is not None
        if facility_id is not None and facility.id != facility_id:
            continue
        if not may_see_facility(session, actor, facility):
            continue
        person = session.get(Person, found.person_id)
        assert person is not None
        positive, case = _positive_and_case(session, person.id, tube_id)
        brought.append(
            BroughtIn(
                tube_id=tube_id,
                facility_id=facility.id,
                facility=facility.name,
                room=found.placement.room.number,
                person_id=person.id,
                name=person.name,
                id_number=mask_identity(person.id_number),
                sampled_at=sampled_at,
                positive_person_id=positive,
                case_id=case,
            )
        )
    return AlertsBoard(alerts, brought)

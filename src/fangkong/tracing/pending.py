"""Pending matches: incoming records the matcher could not decide (a phone
shared by several registered persons, a name that matches none of them,
no community known). A person of the receiving jurisdiction looks at the
candidates and names who it is — the record then becomes a source of that
person's risk record, exactly as if it had matched — or dismisses it.

Candidates registered in another jurisdiction are shown only as such:
matching the whole registry must not reveal another county's persons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, record_audit, require, scope
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.people.service import person_held
from fangkong.tracing.match_rules import PENDING_REASONS
from fangkong.tracing.models import PendingMatch, RequestItem
from fangkong.tracing.risk import note_risk_person

REASON_LABELS = {
    **PENDING_REASONS,
    "no_match": ("没有找到此人", "nobody found"),
}


@dataclass(frozen=True)
class Candidate:
    person_id: int | None  # None: registered in another jurisdiction
    name: str
    id_number: str  # masked
    region_code: str


@dataclass(frozen=True)
class PendingView:
    id: int
    channel: str
    source: str
    record: dict[str, str]
    reason: str
    received_at: datetime
    candidates: list[Candidate]


def list_pending_matches(session: Session, actor: Actor) -> list[PendingView]:
    """The open pending records of the actor's jurisdiction, oldest first."""
    require(actor, Permission.TRACING_MANAGE)
    stmt = scope(select(PendingMatch), PendingMatch.region_code, actor).where(
        PendingMatch.status == "open"
    )
    pending = list(session.scalars(stmt.order_by(PendingMatch.received_at, PendingMatch.id)))
    wanted = {pid for p in pending for pid in p.candidate_ids}
    persons = (
        {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(wanted)))}
        if wanted
        else {}
    )
    return [
        PendingView(
            id=p.id,
            channel=p.channel,
            source=p.source,
            record=dict(p.record),
            reason=p.reason,
            received_at=p.received_at,
            candidates=[_candidate(actor, persons.get(pid)) for pid in p.candidate_ids],
        )
        for p in pending
    ]


def _candidate(actor: Actor, person: Person | None) -> Candidate:
    if person is None or not covers(actor.jurisdiction, person.region_code):
        return Candidate(None, "", "", "")
    return Candidate(person.id, person.name, mask_identity(person.id_number), person.region_code)


def _open(session: Session, actor: Actor, pending_id: int) -> PendingMatch:
    pending = session.get(PendingMatch, pending_id, with_for_update=True)
    if pending is None or not covers(actor.jurisdiction, pending.region_code):
        raise NotFound("pending match not found")
    if pending.status != "open":
        raise Conflict(f"this record is already {pending.status}")
    return pending


def _moment(text: str, field: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"the stored record has no valid time ({text!r})") from None


def resolve_pending_match(session: Session, actor: Actor, pending_id: int, person_id: int) -> int:
    """Name who the record is (one of the candidates, or any person of the
    actor's jurisdiction found by search). Returns the risk person's id."""
    require(actor, Permission.TRACING_MANAGE)
    pending = _open(session, actor, pending_id)
    person = person_held(session, person_id)
    if person is None or not covers(actor.jurisdiction, person.region_code):
        raise InvalidInput("person_id", "no person of your jurisdiction with that id")
    if person.merged_into_id is not None:
        raise InvalidInput("person_id", f"merged into person {person.merged_into_id}: use that one")
    record = pending.record
    reported_at = _moment(record.get("reported_at", ""), "reported_at") or pending.received_at
    noted = note_risk_person(
        session,
        person_id=person.id,
        region_code=person.region_code,
        category=record.get("category", "general"),
        channel=pending.channel,
        source=pending.source,
        reported_at=reported_at,
        last_exposure_at=_moment(record.get("last_exposure_at", ""), "last_exposure_at"),
        import_batch_id=pending.import_batch_id,
    )
    if record.get("request_item"):
        item = session.get(RequestItem, int(record["request_item"]))
        if item is not None:
            item.risk_person_id = noted.risk_person.id
    now = clock.now()
    pending.status, pending.resolved_at, pending.resolved_person_id = "resolved", now, person.id
    record_audit(
        session,
        actor,
        "pending_match.resolve",
        "pending_match",
        pending.id,
        pending.region_code,
        {"person": person.id, "risk_person": noted.risk_person.id},
    )
    session.commit()
    return noted.risk_person.id


def dismiss_pending_match(session: Session, actor: Actor, pending_id: int, reason: str) -> None:
    """Nobody to find (a test record, a wrong number): closed with the reason."""
    require(actor, Permission.TRACING_MANAGE)
    if not reason.strip():
        raise InvalidInput("reason", "say why the record is dismissed")
    pending = _open(session, actor, pending_id)
    pending.status, pending.resolved_at = "dismissed", clock.now()
    record_audit(
        session,
        actor,
        "pending_match.dismiss",
        "pending_match",
        pending.id,
        pending.region_code,
        {"reason": reason.strip()[:300]},
    )
    session.commit()

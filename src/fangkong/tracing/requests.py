"""Cross-region requests (区域协查, 协查函): one jurisdiction asks another to
find and control persons by a deadline. The receiver accepts (each person is
matched to the registry and becomes a risk person of the receiver, channel
``request``), then reports back each person's outcome: found and under
control, not found, or not in our region. The sender follows the progress.

Each side sees only its own: the sender sees the persons it sent and their
outcomes, never the receiver's registry or risk-person records; the
receiver sees the request and its own risk persons. A request to a place
outside the system is exported as a file, and its outcomes imported back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers, is_valid_jurisdiction
from fangkong.access.service import Actor, record_audit, record_audits, require
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import IdType, mask_identity
from fangkong.people.models import Person
from fangkong.people.phones import mask_phone
from fangkong.people.service import person_held
from fangkong.tracing.matching import IncomingPerson, match_one
from fangkong.tracing.models import (
    CATEGORIES,
    CrossRegionRequest,
    PendingMatch,
    RequestItem,
    RiskPerson,
)
from fangkong.tracing.risk import note_risk_person
from fangkong.tracing.rules import report_fingerprint

OUTCOMES = ("controlled", "not_found", "not_ours")
OUTCOME_LABELS = {
    "controlled": ("已找到并管控", "found and under control"),
    "not_found": ("查无此人", "not found"),
    "not_ours": ("不在本辖区", "not in our region"),
    "": ("待反馈", "awaiting"),
}
MAX_PERSONS = 10_000


@dataclass(frozen=True)
class RequestPerson:
    """One person to find, as the sender knows them."""

    id_number: str = ""
    phone: str = ""
    name: str = ""
    category: str = "close"
    last_exposure_at: datetime | None = None


def _check_persons(persons: list[RequestPerson]) -> None:
    if not persons:
        raise InvalidInput("persons", "a request names at least one person")
    if len(persons) > MAX_PERSONS:
        raise InvalidInput("persons", f"at most {MAX_PERSONS} persons per request")
    for n, person in enumerate(persons, start=1):
        if not person.id_number.strip() and not person.phone.strip():
            raise InvalidInput(f"persons[{n}]", "an identity number or a phone is needed")
        if person.category not in CATEGORIES:
            raise InvalidInput(f"persons[{n}].category", f"unknown category {person.category!r}")
        for field, value, limit in (
            ("id_number", person.id_number, 32),
            ("phone", person.phone, 20),
            ("name", person.name, 100),
        ):
            if len(value.strip()) > limit:
                raise InvalidInput(f"persons[{n}].{field}", f"longer than {limit} characters")


def send_request(
    session: Session,
    actor: Actor,
    *,
    to_region: str,
    subject: str,
    deadline_at: datetime,
    persons: list[RequestPerson],
) -> CrossRegionRequest:
    """Send a request from the actor's jurisdiction to another one."""
    require(actor, Permission.TRACING_REQUESTS)
    request = _create_request(session, actor, to_region, subject, deadline_at, persons)
    session.commit()
    return request


def _create_request(
    session: Session,
    actor: Actor,
    to_region: str,
    subject: str,
    deadline_at: datetime,
    persons: list[RequestPerson],
) -> CrossRegionRequest:
    if not actor.jurisdiction:
        raise InvalidInput("from_region", "a user of the whole system sends from a jurisdiction")
    if not is_valid_jurisdiction(to_region):
        raise InvalidInput("to_region", "a region code of 2, 4, 6, 9 or 12 digits")
    if covers(actor.jurisdiction, to_region) or covers(to_region, actor.jurisdiction):
        raise InvalidInput("to_region", "a request goes to another jurisdiction, not one's own")
    if not subject.strip():
        raise InvalidInput("subject", "say what the request is about (the case, the place)")
    now = clock.now()
    if deadline_at <= now:
        raise InvalidInput("deadline_at", "the deadline must be in the future")
    _check_persons(persons)
    request = CrossRegionRequest(
        from_region=actor.jurisdiction,
        to_region=to_region,
        subject=subject.strip()[:200],
        deadline_at=deadline_at,
        status="sent",
        sent_at=now,
        sent_by=actor.user_id,
    )
    session.add(request)
    session.flush()
    session.add_all(
        RequestItem(
            request_id=request.id,
            id_number=p.id_number.strip().upper(),
            phone=p.phone.strip(),
            name=p.name.strip()[:100],
            category=p.category,
            last_exposure_at=p.last_exposure_at,
        )
        for p in persons
    )
    record_audit(
        session,
        actor,
        "request.send",
        "cross_region_request",
        request.id,
        actor.jurisdiction,
        {"to_region": to_region, "persons": len(persons)},
    )
    return request


def as_sender(session: Session, actor: Actor, request_id: int) -> CrossRegionRequest:
    request = session.get(CrossRegionRequest, request_id)
    if request is None or not covers(actor.jurisdiction, request.from_region):
        raise NotFound("request not found")
    return request


def _as_receiver(session: Session, actor: Actor, request_id: int) -> CrossRegionRequest:
    request = session.get(CrossRegionRequest, request_id)
    if request is None or not covers(actor.jurisdiction, request.to_region):
        raise NotFound("request not found")
    return request


def list_requests(session: Session, actor: Actor, direction: str) -> list[CrossRegionRequest]:
    """The requests the actor's jurisdiction sent or received, newest first."""
    require(actor, Permission.TRACING_READ)
    if direction not in ("sent", "received"):
        raise InvalidInput("direction", "sent or received")
    column = CrossRegionRequest.from_region if direction == "sent" else CrossRegionRequest.to_region
    stmt = select(CrossRegionRequest).order_by(CrossRegionRequest.sent_at.desc())
    if actor.jurisdiction:
        stmt = stmt.where(column.startswith(actor.jurisdiction, autoescape=True))
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class ItemView:
    """What either side may see of one requested person."""

    id: int
    id_number: str
    phone: str
    name: str
    category: str
    outcome: str
    outcome_at: datetime | None
    note: str


def item_view(item: RequestItem) -> ItemView:
    """An item as a list shows it: identity number and phone masked
    (DESIGN.md); the persons found are whole on their own pages, and the
    sender's export file carries what it sent."""
    return ItemView(
        item.id,
        mask_identity(item.id_number) if item.id_number else "",
        mask_phone(item.phone) if item.phone else "",
        item.name,
        item.category,
        item.outcome,
        item.outcome_at,
        item.note,
    )


@dataclass(frozen=True)
class RequestProgress:
    request: CrossRegionRequest
    items: list[ItemView]
    outcomes: dict[str, int]  # outcome ('' = awaiting) -> persons
    overdue: bool


def request_progress(session: Session, actor: Actor, request_id: int) -> RequestProgress:
    """The request as either side sees it: the persons named, each outcome."""
    require(actor, Permission.TRACING_READ)
    request = session.get(CrossRegionRequest, request_id)
    if request is None or not (
        covers(actor.jurisdiction, request.from_region)
        or covers(actor.jurisdiction, request.to_region)
    ):
        raise NotFound("request not found")
    items = list(
        session.scalars(
            select(RequestItem).where(RequestItem.request_id == request.id).order_by(RequestItem.id)
        )
    )
    outcomes = Counter(item.outcome for item in items)
    awaiting = outcomes.get("", 0)
    return RequestProgress(
        request=request,
        items=[item_view(i) for i in items],
        outcomes=dict(outcomes),
        overdue=awaiting > 0 and clock.now() > request.deadline_at,
    )


@dataclass(frozen=True)
class Accepted:
    matched: int  # persons found in the registry (or created as non-residents)
    pending: int  # left for a person to decide


def accept_request(session: Session, actor: Actor, request_id: int) -> Accepted:
    """The receiver takes the request on: every person is matched to the
    registry and becomes a risk person of the receiver (channel ``request``);
    a person the matcher cannot decide waits as a pending match."""
    require(actor, Permission.TRACING_REQUESTS)
    request = _as_receiver(session, actor, request_id)
    if request.status != "sent":
        raise Conflict(f"this request is already {request.status}")
    now = clock.now()
    source = f"协查函 #{request.id} from {request.from_region}"
    matched = pending = 0
    items = session.scalars(select(RequestItem).where(RequestItem.request_id == request.id))
    for item in items:
        record = IncomingPerson(id_number=item.id_number, phone=item.phone, name=item.name)
        try:
            match = match_one(session, actor, actor.jurisdiction, record)
        except InvalidInput as bad:  # a malformed number from the sender: a person decides
            _keep_pending(session, request, item, record, [], f"invalid {bad.field}")
            pending += 1
            continue
        if match.person_id is None:
            _keep_pending(session, request, item, record, match.candidate_ids, match.pending_reason)
            pending += 1
            continue
        person = person_held(session, match.person_id)
        assert person is not None
        if not covers(actor.jurisdiction, person.region_code):
            matched += 1  # registered elsewhere (often the sender's own): found by item only
            continue
        noted = note_risk_person(
            session,
            person_id=person.id,
            region_code=person.region_code,
            category=item.category,
            channel="request",
            source=source,
            reported_at=request.sent_at,
            last_exposure_at=item.last_exposure_at,
        )
        item.risk_person_id = noted.risk_person.id
        matched += 1
    request.status = "accepted"
    request.accepted_at = now
    record_audit(
        session,
        actor,
        "request.accept",
        "cross_region_request",
        request.id,
        request.to_region,
        {"matched": matched, "pending": pending},
    )
    session.commit()
    return Accepted(matched, pending)


def _keep_pending(
    session: Session,
    request: CrossRegionRequest,
    item: RequestItem,
    record: IncomingPerson,
    candidates: list[int],
    reason: str,
) -> None:
    fingerprint = report_fingerprint(
        "request", f"{request.id}:{item.id}", item.category, request.sent_at
    )
    if session.scalar(select(PendingMatch.id).where(PendingMatch.fingerprint == fingerprint)):
        return
    session.add(
        PendingMatch(
            region_code=request.to_region,
            channel="request",
            source=f"协查函 #{request.id}",
            record={
                "id_number": record.id_number,
                "phone": record.phone,
                "name": record.name,
                "category": item.category,
                "reported_at": request.sent_at.isoformat(),
                "last_exposure_at": (
                    item.last_exposure_at.isoformat() if item.last_exposure_at else ""
                ),
                "request_item": str(item.id),
            },
            candidate_ids=candidates,
            reason=reason or "no_match",
            fingerprint=fingerprint,
            received_at=clock.now(),
        )
    )


def report_outcome(
    session: Session, actor: Actor, item_id: int, outcome: str, note: str = ""
) -> RequestItem:
    """The receiver reports one person's outcome; 'controlled' needs the
    person under the measure in the receiver's own list first. When every
    person has an outcome the request is done."""
    require(actor, Permission.TRACING_REQUESTS)
    if outcome not in OUTCOMES:
        raise InvalidInput("outcome", f"one of {', '.join(OUTCOMES)}")
    item = session.get(RequestItem, item_id, with_for_update=True)
    if item is None:
        raise NotFound("request item not found")
    request = _as_receiver(session, actor, item.request_id)
    session.refresh(request, with_for_update=True)  # two answers at once: one sees the other
    if request.status not in ("accepted", "exported"):
        raise Conflict("accept the request before reporting outcomes")
    if outcome == "controlled":
        _check_controlled(session, actor, item)
    now = clock.now()
    before = item.outcome
    item.outcome, item.outcome_at, item.note = outcome, now, note.strip()[:300]
    session.flush()
    awaiting = session.scalar(
        select(RequestItem.id).where(
            RequestItem.request_id == request.id, RequestItem.outcome == ""
        )
    )
    if awaiting is None:
        request.status = "done"
    record_audit(
        session,
        actor,
        "request.outcome",
        "request_item",
        item.id,
        request.to_region,
        {"outcome": [before, outcome]},
    )
    session.commit()
    return item


def _check_controlled(session: Session, actor: Actor, item: RequestItem) -> None:
    """A person registered in the receiver's jurisdiction must be under the
    measure in the receiver's own list first; for one registered elsewhere
    (the sender's own, handed over) the receiver's word is the record."""
    risk = session.get(RiskPerson, item.risk_person_id) if item.risk_person_id else None
    if risk is None or not covers(actor.jurisdiction, risk.region_code):
        return
    if risk.controlled_at is None:
        raise Conflict(
            "此人尚未在本辖区管控，请先在风险人员名单中标记为已管控"
            " (put the person under the measure in your risk-person list first)"
        )


def send_request_for_risk_persons(
    session: Session,
    actor: Actor,
    ids: list[int],
    *,
    to_region: str,
    subject: str,
    deadline_at: datetime,
) -> CrossRegionRequest:
    """The supervisor's bulk action: the selected risk persons are elsewhere;
    ask the jurisdiction they are in, and mark them 'outside our region'."""
    require(actor, Permission.TRACING_MANAGE)
    require(actor, Permission.TRACING_REQUESTS)
    if not ids:
        raise InvalidInput("ids", "select at least one risk person")
    stmt = (
        select(RiskPerson, Person)
        .join(Person, Person.id == RiskPerson.person_id)
        .where(RiskPerson.id.in_(set(ids)))
    )
    rows = [
        (risk, person)
        for risk, person in session.execute(stmt)
        if covers(actor.jurisdiction, risk.region_code)
    ]
    if len(rows) != len(set(ids)):
        raise NotFound("risk person not found")
    movable = ("to_find", "found")
    stuck = [risk for risk, _ in rows if risk.status not in movable]
    if stuck:
        raise InvalidInput(
            "ids",
            f"risk person {stuck[0].id} is {stuck[0].status}: only persons still to "
            "find or found can be handed to another region",
        )
    persons = [
        RequestPerson(
            id_number=person.id_number if person.id_type == IdType.RESIDENT_ID else "",
            phone=person.phone or "",
            name=person.name,
            category=risk.category,
            last_exposure_at=risk.last_exposure_at,
        )
        for risk, person in rows
    ]
    request = _create_request(session, actor, to_region, subject, deadline_at, persons)
    now = clock.now()
    record_audits(
        session,
        actor,
        "risk_person.status",
        "risk_person",
        (
            (
                risk.id,
                risk.region_code,
                {"status": [risk.status, "outside_region"], "request": request.id},
            )
            for risk, _ in rows
        ),
        at=now,
    )
    for risk, _ in rows:
        risk.status, risk.updated_at = "outside_region", now
    session.commit()
    return request

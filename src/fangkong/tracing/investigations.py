"""Investigations (流调) of cases: opening and closing, the itinerary
(places with address, region and time span) and the risk places a command
centre publishes. The contacts an epidemiologist names and the transmission
links between cases are in :mod:`fangkong.tracing.contacts`.

A named contact becomes an edge of the exposure graph (case person ->
contact) and, through ``note_risk_person``, a risk person from channel
``investigation`` whose source names the case (``case <id>``). The
look-back window decides the category (rule in
:mod:`fangkong.tracing.case_rules`): a last exposure inside it makes a
close contact, one before it a general contact — kept, not refused, and
said so in the answer. A contact who is a case already gets the edge only
(it joins the two cases' clusters). Every change brings the secondary
contacts in line with the graph in the same transaction.

Contacts and places are named inside the actor's jurisdiction; a contact or
a place in another jurisdiction goes to that jurisdiction as a cross-region
request. A contact known only by identity number, phone or name is to be
resolved with the registry matcher first (``fangkong.tracing.matching.
match_one(session, actor, actor.jurisdiction, IncomingPerson(...))``), then named
here by person id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.policy import get_policy
from fangkong.regions.models import Region
from fangkong.tracing.case_rules import exposure_window_start
from fangkong.tracing.cases import get_case
from fangkong.tracing.models import (
    Case,
    Investigation,
    Place,
)

MAX_NAME = 200
MAX_ADDRESS = 300
MAX_SUMMARY = 5000


def _require_aware(field: str, moment: datetime | None) -> None:
    if moment is not None and moment.tzinfo is None:
        raise InvalidInput(field, "needs a time zone")


def not_future(field: str, moment: datetime) -> None:
    _require_aware(field, moment)
    if moment > clock.now():
        raise InvalidInput(field, "is in the future")


# --- the investigation ----------------------------------------------------------------


def get_investigation(session: Session, actor: Actor, investigation_id: int) -> Investigation:
    require(actor, Permission.TRACING_READ)
    investigation = session.get(Investigation, investigation_id)
    if investigation is None or not investigation.region_code.startswith(actor.jurisdiction):
        raise NotFound(f"investigation {investigation_id} not found")
    return investigation


def investigation_of_case(session: Session, actor: Actor, case_id: int) -> Investigation | None:
    case = get_case(session, actor, case_id)
    return session.scalars(select(Investigation).where(Investigation.case_id == case.id)).first()


def open_for_change(session: Session, actor: Actor, investigation_id: int) -> Investigation:
    require(actor, Permission.TRACING_CASES)
    investigation = get_investigation(session, actor, investigation_id)
    if investigation.status != "open":
        raise Conflict("流调已结束 (the investigation is closed)")
    return investigation


def open_investigation(
    session: Session, actor: Actor, case_id: int, *, summary: str = ""
) -> Investigation:
    """Open the investigation of a case (one per case)."""
    require(actor, Permission.TRACING_CASES)
    case = get_case(session, actor, case_id)
    if len(summary) > MAX_SUMMARY:
        raise InvalidInput("summary", f"has more than {MAX_SUMMARY} characters")
    if session.scalar(select(Investigation.id).where(Investigation.case_id == case.id)):
        raise Conflict(f"病例 {case.id} 已有流调 (case {case.id} already has an investigation)")
    investigation = Investigation(
        case_id=case.id,
        region_code=case.region_code,
        status="open",
        summary=summary.strip(),
        opened_at=clock.now(),
        opened_by=actor.user_id,
    )
    session.add(investigation)
    session.flush()
    record_audit(
        session,
        actor,
        "investigation.open",
        "investigation",
        investigation.id,
        investigation.region_code,
        {"case_id": case.id},
    )
    session.commit()
    return investigation


def close_investigation(
    session: Session, actor: Actor, investigation_id: int, *, summary: str = ""
) -> Investigation:
    """Close an investigation, with its summary; nothing more can be added."""
    investigation = open_for_change(session, actor, investigation_id)
    if len(summary) > MAX_SUMMARY:
        raise InvalidInput("summary", f"has more than {MAX_SUMMARY} characters")
    investigation.status = "closed"
    investigation.closed_at = clock.now()
    if summary.strip():
        investigation.summary = summary.strip()
    record_audit(
        session,
        actor,
        "investigation.close",
        "investigation",
        investigation.id,
        investigation.region_code,
        {"status": ["open", "closed"]},
    )
    session.commit()
    return investigation


def contact_window_start(case: Case) -> datetime:
    """From when the case's contacts are close contacts (the look-back
    window of the policy in force)."""
    return exposure_window_start(
        case.onset_date,
        case.sampled_at,
        get_policy().close_contact_lookback_days,
        get_settings().zone,
    )


# --- the itinerary and the risk places ------------------------------------------------


def add_place(
    session: Session,
    actor: Actor,
    investigation_id: int,
    *,
    name: str,
    region_code: str,
    arrived_at: datetime,
    left_at: datetime,
    address: str = "",
) -> Place:
    """Add a stop to the case's itinerary: where (a region of the actor's
    jurisdiction and an address) and from when to when (in the past)."""
    investigation = open_for_change(session, actor, investigation_id)
    name, address = name.strip(), address.strip()
    if not name:
        raise InvalidInput("name", "is empty")
    if len(name) > MAX_NAME:
        raise InvalidInput("name", f"has more than {MAX_NAME} characters")
    if len(address) > MAX_ADDRESS:
        raise InvalidInput("address", f"has more than {MAX_ADDRESS} characters")
    _require_aware("arrived_at", arrived_at)
    not_future("left_at", left_at)
    if left_at <= arrived_at:
        raise InvalidInput("left_at", "is not after arrived_at")
    if session.get(Region, region_code) is None:
        raise InvalidInput("region_code", f"{region_code!r} is not a known region code")
    if not covers(actor.jurisdiction, region_code):
        raise InvalidInput(
            "region_code",
            f"{region_code} is outside your jurisdiction: send that region a cross-region request",
        )
    place = Place(
        investigation_id=investigation.id,
        region_code=region_code,
        name=name,
        address=address,
        arrived_at=arrived_at,
        left_at=left_at,
        published=False,
    )
    session.add(place)
    session.flush()
    record_audit(
        session,
        actor,
        "place.add",
        "place",
        place.id,
        place.region_code,
        {
            "investigation_id": investigation.id,
            "name": name,
            "arrived_at": arrived_at.isoformat(),
            "left_at": left_at.isoformat(),
        },
    )
    session.commit()
    return place


def list_places(session: Session, actor: Actor, investigation_id: int) -> list[Place]:
    """The itinerary of an investigation, in time order."""
    investigation = get_investigation(session, actor, investigation_id)
    stmt = (
        select(Place)
        .where(Place.investigation_id == investigation.id)
        .order_by(Place.arrived_at, Place.id)
    )
    return list(session.scalars(stmt))


def _set_published(
    session: Session, actor: Actor, place_ids: Iterable[int], published: bool
) -> int:
    require(actor, Permission.TRACING_CASES)
    wanted = sorted(set(place_ids))
    if not wanted:
        raise InvalidInput("place_ids", "no place given")
    places = {p.id: p for p in session.scalars(select(Place).where(Place.id.in_(wanted)))}
    for place_id in wanted:
        place = places.get(place_id)
        ensure_in_scope(actor, place.region_code if place else None, f"place {place_id}")
    changed = [places[i] for i in wanted if places[i].published != published]
    for place in changed:
        place.published = published
        record_audit(
            session,
            actor,
            "place.publish" if published else "place.withdraw",
            "place",
            place.id,
            place.region_code,
            {"published": [not published, published]},
        )
    session.commit()
    return len(changed)


def publish_places(session: Session, actor: Actor, place_ids: Iterable[int]) -> int:
    """Put places on the risk-place list; returns how many were not on it."""
    return _set_published(session, actor, place_ids, True)


def withdraw_places(session: Session, actor: Actor, place_ids: Iterable[int]) -> int:
    """Take places off the risk-place list; returns how many were on it."""
    return _set_published(session, actor, place_ids, False)


@dataclass(frozen=True)
class RiskPlace:
    """A published place and its time window: public, without the case."""

    name: str
    address: str
    region_code: str
    arrived_at: datetime
    left_at: datetime


def risk_places(
    session: Session, region_code: str, *, since: datetime | None = None
) -> list[RiskPlace]:
    """The risk-place list of a region (published places under it), the
    most recent first; ``since`` keeps the places left at or after it. The
    list is public: it names no case and needs no login."""
    region = session.get(Region, region_code)
    if region is None:
        raise NotFound(f"region {region_code} not found")
    _require_aware("since", since)
    stmt = select(Place).where(
        Place.published.is_(True), Place.region_code.startswith(region.prefix, autoescape=True)
    )
    if since is not None:
        stmt = stmt.where(Place.left_at >= since)
    stmt = stmt.order_by(Place.left_at.desc(), Place.id)
    return [
        RiskPlace(p.name, p.address, p.region_code, p.arrived_at, p.left_at)
        for p in session.scalars(stmt)
    ]

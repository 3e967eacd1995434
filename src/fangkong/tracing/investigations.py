"""Investigations (流调) of cases: the itinerary (places with address, region
and time span), the risk places a command centre publishes, the contacts
an epidemiologist names, transmission links between cases, and closing.

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
match_one(session, actor.jurisdiction, IncomingPerson(...))``), then named
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
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.regions.models import Region
from fangkong.tracing.case_rules import contact_category, exposure_window_start
from fangkong.tracing.cases import case_of_person, get_case
from fangkong.tracing.graph_service import update_secondary_contacts_around
from fangkong.tracing.models import (
    SETTINGS,
    Case,
    Exposure,
    Investigation,
    Place,
    RiskPerson,
)
from fangkong.tracing.risk import note_risk_person

MAX_NAME = 200
MAX_ADDRESS = 300
MAX_SUMMARY = 5000


def _require_aware(field: str, moment: datetime | None) -> None:
    if moment is not None and moment.tzinfo is None:
        raise InvalidInput(field, "needs a time zone")


def _not_future(field: str, moment: datetime) -> None:
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


def _open_for_change(session: Session, actor: Actor, investigation_id: int) -> Investigation:
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
    investigation = _open_for_change(session, actor, investigation_id)
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
    investigation = _open_for_change(session, actor, investigation_id)
    name, address = name.strip(), address.strip()
    if not name:
        raise InvalidInput("name", "is empty")
    if len(name) > MAX_NAME:
        raise InvalidInput("name", f"has more than {MAX_NAME} characters")
    if len(address) > MAX_ADDRESS:
        raise InvalidInput("address", f"has more than {MAX_ADDRESS} characters")
    _require_aware("arrived_at", arrived_at)
    _not_future("left_at", left_at)
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


# --- contacts and transmission ---------------------------------------------------------


@dataclass(frozen=True)
class NamedContact:
    exposure_id: int
    person_id: int
    category: str | None  # close or general; None when the contact is a case already
    inside_window: bool  # the last exposure is inside the look-back window
    window_start: datetime
    risk_person_id: int | None
    secondary_added: int
    secondary_released: int


def _check_setting(setting: str) -> None:
    if setting not in SETTINGS:
        raise InvalidInput("setting", f"must be one of {', '.join(SETTINGS)}")


def _edge(session: Session, source_person_id: int, person_id: int) -> Exposure | None:
    return session.scalars(
        select(Exposure).where(
            Exposure.source_person_id == source_person_id, Exposure.person_id == person_id
        )
    ).one_or_none()


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def name_contact(
    session: Session,
    actor: Actor,
    investigation_id: int,
    *,
    person_id: int,
    setting: str,
    last_exposure_at: datetime,
) -> NamedContact:
    """Name a contact of the investigated case: an exposure edge (case ->
    contact, named again: the later exposure is kept) and a risk person,
    close inside the look-back window and general before it."""
    investigation = _open_for_change(session, actor, investigation_id)
    case = session.get(Case, investigation.case_id)
    assert case is not None  # a foreign key
    _check_setting(setting)
    _not_future("last_exposure_at", last_exposure_at)
    person = session.get(Person, person_id)
    ensure_in_scope(actor, person.region_code if person else None, "person")
    assert person is not None
    if person.id == case.person_id:
        raise InvalidInput("person_id", "is the case's own person")
    now = clock.now()
    edge = _edge(session, case.person_id, person.id)
    if edge is None:
        edge = Exposure(
            source_person_id=case.person_id,
            person_id=person.id,
            region_code=person.region_code,
            setting=setting,
            last_exposure_at=last_exposure_at,
            transmission=False,
            investigation_id=investigation.id,
            recorded_at=now,
        )
        session.add(edge)
    else:
        edge.setting = setting
        edge.last_exposure_at = _later(edge.last_exposure_at, last_exposure_at)
        edge.investigation_id = edge.investigation_id or investigation.id
    session.flush()
    window_start = contact_window_start(case)
    latest = edge.last_exposure_at or last_exposure_at
    category = (
        None if case_of_person(session, person.id) else contact_category(latest, window_start)
    )
    risk: RiskPerson | None = None
    if category is not None:
        risk = note_risk_person(
            session,
            person_id=person.id,
            region_code=person.region_code,
            category=category,
            channel="investigation",
            source=f"case {case.id}",
            reported_at=edge.recorded_at,
            last_exposure_at=latest,
        ).risk_person
    refreshed = update_secondary_contacts_around(session, [person.id])
    record_audit(
        session,
        actor,
        "investigation.contact",
        "exposure",
        edge.id,
        edge.region_code,
        {
            "investigation_id": investigation.id,
            "case_id": case.id,
            "person_id": person.id,
            "setting": setting,
            "last_exposure_at": latest.isoformat(),
            "category": category,
            "inside_window": latest >= window_start,
            "secondary_added": refreshed.added,
            "secondary_released": refreshed.released,
        },
    )
    session.commit()
    return NamedContact(
        exposure_id=edge.id,
        person_id=person.id,
        category=category,
        inside_window=latest >= window_start,
        window_start=window_start,
        risk_person_id=risk.id if risk is not None else None,
        secondary_added=refreshed.added,
        secondary_released=refreshed.released,
    )


@dataclass(frozen=True)
class NamedContactOfContact:
    exposure_id: int
    person_id: int
    secondary: bool  # the graph makes the person a secondary contact now
    secondary_added: int
    secondary_released: int


def name_contact_of_contact(
    session: Session,
    actor: Actor,
    investigation_id: int,
    *,
    contact_person_id: int,
    person_id: int,
    setting: str,
    last_exposure_at: datetime,
) -> NamedContactOfContact:
    """Name a person exposed to one of the investigation's contacts: an
    exposure edge (contact -> person). No category is typed: while the
    contact is an active close contact the graph makes the person a
    secondary contact. The exposure must fall inside the case's look-back
    window (an earlier one is not part of this chain and is refused)."""
    investigation = _open_for_change(session, actor, investigation_id)
    case = session.get(Case, investigation.case_id)
    assert case is not None  # a foreign key
    _check_setting(setting)
    _not_future("last_exposure_at", last_exposure_at)
    if _edge(session, case.person_id, contact_person_id) is None:
        raise InvalidInput("contact_person_id", "is not a contact named by this investigation")
    if case_of_person(session, contact_person_id) is not None:
        raise InvalidInput(
            "contact_person_id", "is a case: name their contacts in their own investigation"
        )
    person = session.get(Person, person_id)
    ensure_in_scope(actor, person.region_code if person else None, "person")
    assert person is not None
    if person.id in (contact_person_id, case.person_id):
        raise InvalidInput("person_id", "is the contact or the case")
    window_start = contact_window_start(case)
    if last_exposure_at < window_start:
        raise InvalidInput(
            "last_exposure_at",
            f"is before the case's look-back window (from {window_start.isoformat()})",
        )
    edge = _edge(session, contact_person_id, person.id)
    if edge is None:
        edge = Exposure(
            source_person_id=contact_person_id,
            person_id=person.id,
            region_code=person.region_code,
            setting=setting,
            last_exposure_at=last_exposure_at,
            transmission=False,
            investigation_id=investigation.id,
            recorded_at=clock.now(),
        )
        session.add(edge)
    else:
        edge.setting = setting
        edge.last_exposure_at = _later(edge.last_exposure_at, last_exposure_at)
    session.flush()
    refreshed = update_secondary_contacts_around(session, [contact_person_id])
    held = session.execute(
        select(RiskPerson.category, RiskPerson.status).where(RiskPerson.person_id == person.id)
    ).first()
    secondary = held is not None and held.category == "secondary" and held.status != "released"
    record_audit(
        session,
        actor,
        "investigation.contact_of_contact",
        "exposure",
        edge.id,
        edge.region_code,
        {
            "investigation_id": investigation.id,
            "contact_person_id": contact_person_id,
            "person_id": person.id,
            "setting": setting,
            "last_exposure_at": last_exposure_at.isoformat(),
            "secondary": secondary,
            "secondary_added": refreshed.added,
            "secondary_released": refreshed.released,
        },
    )
    session.commit()
    return NamedContactOfContact(edge.id, person.id, secondary, refreshed.added, refreshed.released)


def record_transmission(
    session: Session,
    actor: Actor,
    *,
    infector_case_id: int,
    infectee_case_id: int,
    setting: str,
    last_exposure_at: datetime | None = None,
) -> Exposure:
    """Record that one case infected another (an edge with ``transmission``
    set, on the infectee's investigation when there is one). A case has one
    infector at most, and two cases cannot have infected each other; both
    cases must be inside the actor's jurisdiction."""
    require(actor, Permission.TRACING_CASES)
    infector = get_case(session, actor, infector_case_id)
    infectee = get_case(session, actor, infectee_case_id)
    if infector.id == infectee.id:
        raise InvalidInput("infectee_case_id", "is the infector itself")
    _check_setting(setting)
    if last_exposure_at is not None:
        _not_future("last_exposure_at", last_exposure_at)
    if _is_transmission(_edge(session, infectee.person_id, infector.person_id)):
        raise Conflict(
            f"病例 {infectee.id} 已记为病例 {infector.id} 的传染源 "
            f"(case {infectee.id} is already recorded as the infector of case {infector.id})"
        )
    other = session.scalars(
        select(Exposure).where(
            Exposure.person_id == infectee.person_id,
            Exposure.transmission.is_(True),
            Exposure.source_person_id != infector.person_id,
        )
    ).first()
    if other is not None:
        known = case_of_person(session, other.source_person_id)
        named = f"case {known.id}" if known else "another person"
        raise Conflict(
            f"病例 {infectee.id} 已有传染源 (case {infectee.id} already has an infector: {named})"
        )
    investigation = session.scalar(
        select(Investigation.id).where(Investigation.case_id == infectee.id)
    )
    edge = _edge(session, infector.person_id, infectee.person_id)
    before = _is_transmission(edge)
    if edge is None:
        edge = Exposure(
            source_person_id=infector.person_id,
            person_id=infectee.person_id,
            region_code=infectee.region_code,
            setting=setting,
            last_exposure_at=last_exposure_at,
            transmission=True,
            investigation_id=investigation,
            recorded_at=clock.now(),
        )
        session.add(edge)
    else:
        edge.transmission = True
        edge.setting = setting
        edge.last_exposure_at = _later(edge.last_exposure_at, last_exposure_at)
        edge.investigation_id = edge.investigation_id or investigation
    session.flush()
    record_audit(
        session,
        actor,
        "case.transmission",
        "exposure",
        edge.id,
        edge.region_code,
        {
            "infector_case_id": infector.id,
            "infectee_case_id": infectee.id,
            "setting": setting,
            "transmission": [before, True],
        },
    )
    session.commit()
    return edge


def _is_transmission(edge: Exposure | None) -> bool:
    return edge is not None and edge.transmission


@dataclass(frozen=True)
class ContactView:
    exposure_id: int
    person_id: int
    name: str
    region_code: str
    setting: str
    last_exposure_at: datetime | None
    category: str | None  # the risk person's category now; None for a case
    status: str | None  # the risk person's status now


def investigation_contacts(
    session: Session, actor: Actor, investigation_id: int
) -> list[ContactView]:
    """The contacts named by an investigation inside the actor's
    jurisdiction, with their risk person's category and status now."""
    investigation = get_investigation(session, actor, investigation_id)
    case = session.get(Case, investigation.case_id)
    assert case is not None  # a foreign key
    stmt = (
        select(Exposure, Person.name, RiskPerson.category, RiskPerson.status)
        .join(Person, Person.id == Exposure.person_id)
        .outerjoin(RiskPerson, RiskPerson.person_id == Exposure.person_id)
        .where(
            Exposure.investigation_id == investigation.id,
            Exposure.source_person_id == case.person_id,
            Exposure.region_code.startswith(actor.jurisdiction, autoescape=True),
        )
        .order_by(Exposure.last_exposure_at.desc(), Exposure.id)
    )
    return [
        ContactView(
            edge.id,
            edge.person_id,
            name,
            edge.region_code,
            edge.setting,
            edge.last_exposure_at,
            category,
            status,
        )
        for edge, name, category, status in session.execute(stmt)
    ]

"""The contacts an investigation names and the transmission links between
cases: each an edge of the exposure graph. A named contact also becomes a
risk person (channel ``investigation``, source ``case <id>``), close inside
the look-back window and general before it (the rule:
:func:`fangkong.tracing.case_rules.contact_category`); a contact of a
contact gets the edge only, and the graph makes them a secondary contact
while the contact is an active close contact. Every change brings the
secondary contacts in line with the graph in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.errors import Conflict, InvalidInput
from fangkong.people.models import Person
from fangkong.people.service import person_held
from fangkong.tracing.case_rules import contact_category
from fangkong.tracing.cases import case_of_person, get_case
from fangkong.tracing.graph_service import update_secondary_contacts_around
from fangkong.tracing.investigations import (
    contact_window_start,
    get_investigation,
    not_future,
    open_for_change,
)
from fangkong.tracing.models import (
    SETTINGS,
    Case,
    Exposure,
    Investigation,
    RiskPerson,
)
from fangkong.tracing.risk import note_risk_person


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
    investigation = open_for_change(session, actor, investigation_id)
    case = session.get(Case, investigation.case_id)
    assert case is not None  # a foreign key
    _check_setting(setting)
    not_future("last_exposure_at", last_exposure_at)
    person = person_held(session, person_id)
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
    investigation = open_for_change(session, actor, investigation_id)
    case = session.get(Case, investigation.case_id)
    assert case is not None  # a foreign key
    _check_setting(setting)
    not_future("last_exposure_at", last_exposure_at)
    if _edge(session, case.person_id, contact_person_id) is None:
        raise InvalidInput("contact_person_id", "is not a contact named by this investigation")
    if case_of_person(session, contact_person_id) is not None:
        raise InvalidInput(
            "contact_person_id", "is a case: name their contacts in their own investigation"
        )
    person = person_held(session, person_id)
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
        not_future("last_exposure_at", last_exposure_at)
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
        exposed = person_held(session, infectee.person_id)
        assert exposed is not None  # a foreign key
        edge = Exposure(
            source_person_id=infector.person_id,
            person_id=infectee.person_id,
            region_code=exposed.region_code,  # the person's now, not the case's (registry_moves)
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

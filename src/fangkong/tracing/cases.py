"""Cases: from a positive person on the positive board (one action) or
entered by hand from a hospital report; reads scoped to the actor's
jurisdiction; new cases per day, controlled against community.

The detection route and whether the person was already under control when
the sample that found them was taken are derived from the data, never typed
(the rules and their reasons: :mod:`fangkong.tracing.case_rules`). When a
risk person becomes a case, their risk-person record is released with the
reason ``became_case`` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.regions.service import zones_in_force
from fangkong.testing.models import PositivePerson, Tube, TubeMember
from fangkong.tracing.case_rules import (
    KNOWN_CONTACT_CATEGORIES,
    ZONE_BASES,
    DayCount,
    DetectionFacts,
    RiskSnapshot,
    case_date_problem,
    control_basis,
    count_by_day,
    derive_detection_route,
)
from fangkong.tracing.clusters import region_prefix
from fangkong.tracing.graph_service import end_risk_record, update_secondary_contacts_around
from fangkong.tracing.models import (
    CLASSIFICATIONS,
    DETECTION_ROUTES,
    SEVERITIES,
    Case,
    RiskPerson,
    RiskSource,
)

MAX_PAGE = 500
MAX_COUNT_DAYS = 366


# --- facts about the sample that found a case ------------------------------------


def _risk_snapshot(session: Session, person_id: int) -> RiskSnapshot | None:
    risk = session.scalars(select(RiskPerson).where(RiskPerson.person_id == person_id)).first()
    if risk is None:
        return None
    contact_known_at = session.scalar(
        select(func.min(RiskSource.received_at)).where(
            RiskSource.risk_person_id == risk.id,
            RiskSource.category.in_(KNOWN_CONTACT_CATEGORIES),
        )
    )
    return RiskSnapshot(
        category=risk.category,
        measure=risk.measure,
        identified_at=risk.identified_at,
        controlled_at=risk.controlled_at,
        released_at=risk.released_at,
        contact_known_at=contact_known_at,
    )


def _facts(
    session: Session, person: Person, sampled_at: datetime, *, via_pool: bool, from_round: bool
) -> DetectionFacts:
    zones = zones_in_force(session, tuple(ZONE_BASES), sampled_at)
    return DetectionFacts(
        sampled_at=sampled_at,
        via_pool=via_pool,
        from_round=from_round,
        risk=_risk_snapshot(session, person.id),
        zone_level=zones.level_of(person.region_code, person.address_id),
    )


def _sampled_at(session: Session, tube_id: int, person_id: int) -> datetime:
    moment = session.scalar(
        select(TubeMember.sampled_at).where(
            TubeMember.tube_id == tube_id, TubeMember.person_id == person_id
        )
    )
    if moment is None:  # the testing capability always records the swab
        raise NotFound(f"the sample of tube {tube_id} for this person was not found")
    return moment


# --- creating a case -------------------------------------------------------------------


def _check_classification(classification: str, severity: str) -> None:
    if classification not in CLASSIFICATIONS:
        raise InvalidInput("classification", f"must be one of {', '.join(CLASSIFICATIONS)}")
    if severity not in SEVERITIES:
        raise InvalidInput("severity", f"must be one of {', '.join(SEVERITIES[1:])} or empty")


def _check_dates(
    classification: str,
    severity: str,
    sampled_at: datetime,
    result_at: datetime | None,
    confirmed_at: datetime,
    onset_date: date | None,
) -> None:
    for name, moment in (
        ("sampled_at", sampled_at),
        ("result_at", result_at),
        ("confirmed_at", confirmed_at),
    ):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(name, "needs a time zone")
    problem = case_date_problem(
        classification=classification,
        severity=severity,
        sampled_at=sampled_at,
        result_at=result_at,
        confirmed_at=confirmed_at,
        onset_date=onset_date,
        now=clock.now(),
        today=clock.today_local(),
    )
    if problem is not None:
        raise InvalidInput(*problem)


def _refuse_second_case(session: Session, person_id: int) -> None:
    existing = session.scalar(select(Case.id).where(Case.person_id == person_id))
    if existing is not None:
        raise Conflict(f"该人员已是病例 {existing} (this person is already case {existing})")


def _save_case(session: Session, actor: Actor, case: Case, facts: DetectionFacts) -> Case:
    """Insert the case, release the person's risk record (became_case), bring
    the secondary contacts in line, audit and commit."""
    session.add(case)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("该人员已是病例 (this person is already a case)") from None
    risk = session.scalars(
        select(RiskPerson).where(RiskPerson.person_id == case.person_id)
    ).one_or_none()
    released_risk: int | None = None
    if risk is not None and risk.status != "released":
        end_risk_record(risk, "became_case", clock.now())
        released_risk = risk.id
    refreshed = update_secondary_contacts_around(session, [case.person_id])
    record_audit(
        session,
        actor,
        "case.create",
        "case",
        case.id,
        case.region_code,
        {
            "person_id": case.person_id,
            "classification": case.classification,
            "detection_route": case.detection_route,
            "sampled_at": case.sampled_at.isoformat(),
            "controlled": case.controlled,
            "control_basis": case.control_basis,
            "positive_person_id": case.positive_person_id,
            "risk_person_released": released_risk,
            "secondary_added": refreshed.added,
            "secondary_released": refreshed.released,
            "via_pool": facts.via_pool,
        },
    )
    session.commit()
    return case


def create_case_from_positive(
    session: Session,
    actor: Actor,
    positive_person_id: int,
    *,
    classification: str,
    severity: str = "",
    onset_date: date | None = None,
    confirmed_at: datetime | None = None,
) -> Case:
    """Make a case of a positive person of the positive board. The sample
    that found them is the pooled sample for a positive found through a
    pool's follow-up, else their single tube; the result time is the single
    tube's. Refuses a second case for the same person."""
    require(actor, Permission.TRACING_CASES)
    positive = session.get(PositivePerson, positive_person_id)
    ensure_in_scope(actor, positive.region_code if positive else None, "positive person")
    assert positive is not None
    _check_classification(classification, severity)
    _refuse_second_case(session, positive.person_id)
    person = session.get(Person, positive.person_id)
    assert person is not None  # a foreign key
    found_by = positive.via_pool_tube_id or positive.tube_id
    sampled_at = _sampled_at(session, found_by, person.id)
    result_at = session.scalar(select(Tube.result_at).where(Tube.id == positive.tube_id))
    confirmed = confirmed_at or clock.now()
    _check_dates(classification, severity, sampled_at, result_at, confirmed, onset_date)
    facts = _facts(
        session, person, sampled_at, via_pool=positive.via_pool_tube_id is not None, from_round=True
    )
    basis = control_basis(facts)
    case = Case(
        person_id=person.id,
        region_code=person.region_code,
        classification=classification,
        severity=severity,
        detection_route=derive_detection_route(facts),
        sampled_at=sampled_at,
        result_at=result_at or positive.found_at,
        onset_date=onset_date,
        confirmed_at=confirmed,
        controlled=basis != "",
        control_basis=basis,
        positive_person_id=positive.id,
        reported_by="",
        created_at=clock.now(),
        created_by=actor.user_id,
    )
    return _save_case(session, actor, case, facts)


def record_case(
    session: Session,
    actor: Actor,
    *,
    person_id: int,
    classification: str,
    severity: str,
    detection_route: str,
    sampled_at: datetime,
    confirmed_at: datetime,
    onset_date: date | None = None,
    result_at: datetime | None = None,
    reported_by: str = "",
) -> Case:
    """Enter a case reported by a hospital. The route given is kept unless
    it is a generic one (hospital, other) and the data says the person was
    found in quarantine or as a known risk person; whether they were under
    control is derived as for every case."""
    require(actor, Permission.TRACING_CASES)
    person = session.get(Person, person_id)
    ensure_in_scope(actor, person.region_code if person else None, "person")
    assert person is not None
    _check_classification(classification, severity)
    if detection_route not in DETECTION_ROUTES:
        raise InvalidInput("detection_route", f"must be one of {', '.join(DETECTION_ROUTES)}")
    if len(reported_by) > 200:
        raise InvalidInput("reported_by", "has more than 200 characters")
    _check_dates(classification, severity, sampled_at, result_at, confirmed_at, onset_date)
    _refuse_second_case(session, person.id)
    facts = _facts(session, person, sampled_at, via_pool=False, from_round=False)
    basis = control_basis(facts)
    case = Case(
        person_id=person.id,
        region_code=person.region_code,
        classification=classification,
        severity=severity,
        detection_route=derive_detection_route(facts, detection_route),
        sampled_at=sampled_at,
        result_at=result_at,
        onset_date=onset_date,
        confirmed_at=confirmed_at,
        controlled=basis != "",
        control_basis=basis,
        positive_person_id=None,
        reported_by=reported_by.strip(),
        created_at=clock.now(),
        created_by=actor.user_id,
    )
    return _save_case(session, actor, case, facts)


# --- reading cases -------------------------------------------------------------------


def get_case(session: Session, actor: Actor, case_id: int) -> Case:
    """A case inside the actor's jurisdiction; NotFound for any other."""
    require(actor, Permission.TRACING_READ)
    case = session.get(Case, case_id)
    if case is None or not case.region_code.startswith(actor.jurisdiction):
        raise NotFound(f"case {case_id} not found")
    return case


def case_of_person(session: Session, person_id: int) -> Case | None:
    return session.scalars(select(Case).where(Case.person_id == person_id)).one_or_none()


@dataclass(frozen=True)
class CaseView:
    """A case as a list shows it (the identity number masked)."""

    id: int
    person_id: int
    name: str
    id_number: str
    region_code: str
    classification: str
    severity: str
    detection_route: str
    sampled_at: datetime
    confirmed_at: datetime
    controlled: bool
    control_basis: str


def list_cases(
    session: Session,
    actor: Actor,
    *,
    region: str | None = None,
    controlled: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CaseView]:
    """Cases inside the actor's jurisdiction (and ``region``), newest
    confirmation first; ``controlled`` keeps only controlled (True) or
    community (False) cases."""
    require(actor, Permission.TRACING_READ)
    prefix = region_prefix(session, actor, region)
    stmt = select(Case, Person.name, Person.id_number).join(Person, Person.id == Case.person_id)
    if prefix:
        stmt = stmt.where(Case.region_code.startswith(prefix, autoescape=True))
    if controlled is not None:
        stmt = stmt.where(Case.controlled == controlled)
    stmt = stmt.order_by(Case.confirmed_at.desc(), Case.id.desc())
    page = stmt.limit(min(max(limit, 0), MAX_PAGE)).offset(max(offset, 0))
    return [
        CaseView(
            id=case.id,
            person_id=case.person_id,
            name=name,
            id_number=mask_identity(id_number),
            region_code=case.region_code,
            classification=case.classification,
            severity=case.severity,
            detection_route=case.detection_route,
            sampled_at=case.sampled_at,
            confirmed_at=case.confirmed_at,
            controlled=case.controlled,
            control_basis=case.control_basis,
        )
        for case, name, id_number in session.execute(page)
    ]


def case_counts(
    session: Session, actor: Actor, region: str | None, day_range: tuple[date, date]
) -> list[DayCount]:
    """New cases per local day (by confirmation) over ``day_range`` (both
    days included) inside ``region`` and the actor's jurisdiction, split into
    controlled and community cases."""
    require(actor, Permission.TRACING_READ)
    first, last = day_range
    if last < first:
        raise InvalidInput("day_range", "the last day is before the first")
    if (last - first).days >= MAX_COUNT_DAYS:
        raise InvalidInput("day_range", f"covers more than {MAX_COUNT_DAYS} days")
    prefix = region_prefix(session, actor, region)
    zone = get_settings().zone
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    stmt = select(Case.confirmed_at, Case.controlled).where(
        Case.confirmed_at >= start, Case.confirmed_at < end
    )
    if prefix:
        stmt = stmt.where(Case.region_code.startswith(prefix, autoescape=True))
    return count_by_day(session.execute(stmt), first, last, zone)

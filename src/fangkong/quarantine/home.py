"""Home quarantine and home health monitoring: the order that puts risk
persons (or a whole household) under a measure at home, and the lists of a
community worker's day — the homes under a measure with their last check-in,
the homes whose check-in is missing, the risk persons waiting for a home
order. Checks, tests and release of a home stay are those of any stay
(:mod:`fangkong.quarantine.stays`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, record_audit, require, scope
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.quarantine.models import CheckIn, ScheduledTest, Stay
from fangkong.quarantine.scope import staffed_facility_ids
from fangkong.quarantine.stay_board import visible_stays
from fangkong.quarantine.stay_rules import planned_end_on, test_schedule
from fangkong.quarantine.stays import HOME_KINDS, latest_checks, local_date
from fangkong.regions.service import region_names
from fangkong.tracing.models import RiskPerson

MEASURE_OF_KIND = {"home_quarantine": "home_quarantine", "home_monitoring": "health_monitoring"}
MAX_ORDER = 500


def order_home_quarantine(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    risk_person_ids: Sequence[int] = (),
    household_id: int | None = None,
) -> list[Stay]:
    """Put risk persons under home quarantine or home health monitoring: the
    listed ones, or every risk person of a household (a household under
    home quarantine). Each gets a home stay in their community with the
    planned end and test days of the policy, and their risk record is put
    under the measure from now. All or nothing: one person who cannot be
    ordered refuses the whole order, naming them."""
    require(actor, Permission.QUARANTINE_HOME)
    if kind not in HOME_KINDS:
        raise InvalidInput("kind", f"one of {', '.join(HOME_KINDS)}")
    stmt = (
        select(RiskPerson, Person)
        .join(Person, Person.id == RiskPerson.person_id)
        .order_by(RiskPerson.id)
    )
    if household_id is not None:
        stmt = stmt.where(Person.household_id == household_id, RiskPerson.status != "released")
    else:
        wanted = set(risk_person_ids)
        if not wanted:
            raise InvalidInput("risk_person_ids", "select at least one risk person")
        if len(wanted) > MAX_ORDER:
            raise InvalidInput("risk_person_ids", f"at most {MAX_ORDER} at once")
        stmt = stmt.where(RiskPerson.id.in_(wanted))
    stmt = scope(stmt, RiskPerson.region_code, actor)
    rows = session.execute(stmt.with_for_update(of=RiskPerson)).all()
    if household_id is not None and not rows:
        raise InvalidInput("household_id", "this household has no risk person to order")
    if household_id is None and len(rows) != len(set(risk_person_ids)):
        raise NotFound("risk person not found")
    in_force = set(
        session.scalars(
            select(Stay.person_id).where(
                Stay.person_id.in_([p.id for _, p in rows]), Stay.ended_at.is_(None)
            )
        )
    )
    for risk, person in rows:
        if risk.status == "released":
            raise Conflict(f"{person.name} 的风险人员记录已解除 ({person.name} is released)")
        if risk.status == "outside_region":
            raise Conflict(
                f"{person.name} 不在本辖区，请先找到此人 ({person.name} is outside the region)"
            )
        if person.id in in_force:
            raise Conflict(f"{person.name} 已在隔离或监测中 ({person.name} has a stay in force)")
    policy = get_policy()
    now, today = clock.now(), clock.today_local()
    stays = []
    for risk, person in rows:
        exposed_on = local_date(risk.last_exposure_at) if risk.last_exposure_at else today
        days = (
            policy.quarantine_days_for(risk.category)
            if kind == "home_quarantine"
            else policy.home_quarantine_days
        )
        end_on = max(planned_end_on(exposed_on, days), today)
        stay = Stay(
            person_id=person.id,
            region_code=person.region_code,
            kind=kind,
            risk_person_id=risk.id,
            household_id=person.household_id,
            exposure_key="",
            severity="",
            last_exposure_at=risk.last_exposure_at,
            started_at=now,
            planned_end_on=end_on,
            end_reason="",
            placed_by=actor.user_id,
        )
        session.add(stay)
        session.flush()
        schedule = test_schedule(today, end_on, policy.test_days_for(risk.category, kind))
        session.add_all(ScheduledTest(stay_id=stay.id, day=d, due_on=on) for d, on in schedule)
        changes: dict[str, object] = {}
        measure = MEASURE_OF_KIND[kind]
        if risk.measure != measure:
            changes["measure"] = [risk.measure, measure]
            risk.measure = measure
        if risk.status != "under_measure":
            changes["status"] = [risk.status, "under_measure"]
            risk.status, risk.controlled_at = "under_measure", now
        risk.updated_at = now
        record_audit(
            session,
            actor,
            "stay.order_home",
            "stay",
            stay.id,
            stay.region_code,
            {
                "kind": kind,
                "person": person.id,
                "risk_person": risk.id,
                "planned_end_on": end_on.isoformat(),
                "test_days": [d for d, _ in schedule],
                "household": household_id,
            },
        )
        if changes:
            record_audit(
                session,
                actor,
                "risk_person.status",
                "risk_person",
                risk.id,
                risk.region_code,
                changes,
            )
        stays.append(stay)
    session.commit()
    return stays


# --- the homes of a community ------------------------------------------------------------


@dataclass(frozen=True)
class HomeRow:
    stay_id: int
    name: str
    id_number: str  # masked
    region_code: str
    kind: str
    started_at: datetime
    planned_end_on: date | None
    last_checked_at: datetime | None
    last_symptoms: bool
    seal_intact: bool | None
    checked_today: bool


@dataclass
class CommunityHomes:
    region_code: str
    label: str
    rows: list[HomeRow] = field(default_factory=list)


def _home_rows(
    session: Session, actor: Actor, extra: Sequence[ColumnElement[bool]] = ()
) -> list[tuple[Stay, Person]]:
    stmt = (
        select(Stay, Person)
        .join(Person, Person.id == Stay.person_id)
        .where(
            visible_stays(session, actor),
            Stay.ended_at.is_(None),
            Stay.kind.in_(HOME_KINDS),
            *extra,
        )
        .order_by(Stay.region_code, Stay.household_id, Stay.id)
    )
    return [(s, p) for s, p in session.execute(stmt).all()]


def _by_community(
    session: Session, rows: list[tuple[Stay, Person]], checks: dict[int, CheckIn], today: date
) -> list[CommunityHomes]:
    names = region_names(session, {s.region_code for s, _ in rows})
    groups: dict[str, CommunityHomes] = {}
    for stay, person in rows:
        group = groups.setdefault(
            stay.region_code,
            CommunityHomes(stay.region_code, names.get(stay.region_code, stay.region_code)),
        )
        check = checks.get(stay.id)
        group.rows.append(
            HomeRow(
                stay.id,
                person.name,
                mask_identity(person.id_number),
                stay.region_code,
                stay.kind,
                stay.started_at,
                stay.planned_end_on,
                check.checked_at if check else None,
                bool(check and check.symptoms),
                check.seal_intact if check else None,
                bool(check and check.on_date == today),
            )
        )
    return list(groups.values())


def home_stays(session: Session, actor: Actor) -> list[CommunityHomes]:
    """The homes under quarantine or monitoring, per community, with each
    one's latest check-in."""
    require(actor, Permission.QUARANTINE_READ)
    rows = _home_rows(session, actor)
    checks = latest_checks(session, [s.id for s, _ in rows])
    return _by_community(session, rows, checks, clock.today_local())


def missed_check_ins(session: Session, actor: Actor, on_date: date) -> list[CommunityHomes]:
    """Homes under quarantine or monitoring without a check-in within the
    policy's ``home_check_grace_hours`` before the end of ``on_date`` (now,
    for today), per community. A stay that began within those hours is not
    missed yet."""
    require(actor, Permission.QUARANTINE_READ)
    now = clock.now()
    day_end = datetime.combine(on_date + timedelta(days=1), time(), get_settings().zone)
    moment = min(now, day_end)
    since = moment - timedelta(hours=get_policy().home_check_grace_hours)
    recent = (
        select(CheckIn.id)
        .where(CheckIn.stay_id == Stay.id, CheckIn.checked_at > since, CheckIn.checked_at <= moment)
        .exists()
    )
    rows = _home_rows(session, actor, (Stay.started_at <= since, ~recent))
    checks = latest_checks(session, [s.id for s, _ in rows])
    return _by_community(session, rows, checks, clock.today_local())


@dataclass(frozen=True)
class Candidate:
    risk_person_id: int
    person_id: int
    name: str
    id_number: str  # masked
    region_code: str
    household_id: int | None
    category: str
    measure: str
    status: str


def home_candidates(session: Session, actor: Actor, limit: int = 200) -> list[Candidate]:
    """Risk persons whose measure is home quarantine or monitoring and who
    are not yet under it (nor in any stay): whom to order next."""
    require(actor, Permission.QUARANTINE_READ)
    stmt = (
        select(RiskPerson, Person)
        .join(Person, Person.id == RiskPerson.person_id)
        .where(
            RiskPerson.measure.in_(tuple(MEASURE_OF_KIND.values())),
            RiskPerson.status.in_(("to_find", "found")),
            ~select(Stay.id)
            .where(Stay.person_id == RiskPerson.person_id, Stay.ended_at.is_(None))
            .exists(),
        )
        .order_by(RiskPerson.deadline_at, RiskPerson.id)
        .limit(limit)
    )
    stmt = scope(stmt, RiskPerson.region_code, actor)
    if staffed_facility_ids(session, actor) is not None:
        return []  # facility staff order nobody home
    return [
        Candidate(
            risk.id,
            person.id,
            person.name,
            mask_identity(person.id_number),
            risk.region_code,
            person.household_id,
            risk.category,
            risk.measure,
            risk.status,
        )
        for risk, person in session.execute(stmt).all()
    ]

"""A stay from its start to its release: the single tubes taken for the
stay's test schedule, the daily health checks (a community worker's
check-in at a sealed door), the release that checks the criteria of
:mod:`fangkong.quarantine.release_rules`, the releases due per facility
(homes per community; read in :mod:`fangkong.quarantine.stay_board`, with
a stay's page and its certificate). Home stays are
ordered, and the homes' lists drawn, in :mod:`fangkong.quarantine.home`.

One service function per change, each validating, writing, auditing and
committing (DESIGN.md habit 2). Every query is scoped through
:mod:`fangkong.quarantine.scope`: a facility manager sees the stays of their
facilities only (never a home stay), others by jurisdiction.

A tube taken during a stay is an ordinary single tube of the testing
capability (``purpose='stay'``, no round): the lab's result arrives through
the usual result import or API (:func:`fangkong.testing.results.apply_results`)
and is the scheduled test's result; a positive one records a positive person
for the epidemiologists like any single tube."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, record_audit, require
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.quarantine.facilities import leave_room
from fangkong.quarantine.models import CheckIn, ScheduledTest, Stay
from fangkong.quarantine.release_rules import (
    Blocker,
    CheckFact,
    ScheduleItem,
    release_blockers,
    stay_day,
)
from fangkong.quarantine.scope import staffed_facility_ids
from fangkong.quarantine.stay_rules import test_schedule
from fangkong.testing.models import Tube, TubeMember
from fangkong.testing.rules import reason
from fangkong.tracing.graph_service import end_risk_record, update_secondary_contacts_around
from fangkong.tracing.models import RiskPerson

HOME_KINDS = ("home_quarantine", "home_monitoring")
TEMPERATURE_RANGE = (34.0, 43.0)  # a thermometer reading outside this is a typing error


def local_date(moment: datetime) -> date:
    return moment.astimezone(get_settings().zone).date()


# --- seeing and changing a stay ------------------------------------------------------


def may_see_stay(session: Session, actor: Actor, stay: Stay) -> bool:
    if not covers(actor.jurisdiction, stay.region_code):
        return False
    staffed = staffed_facility_ids(session, actor)
    return staffed is None or stay.facility_id in staffed


def get_stay(session: Session, actor: Actor, stay_id: int) -> Stay:
    """The stay, for reading (404 when out of scope)."""
    require(actor, Permission.QUARANTINE_READ)
    stay = session.get(Stay, stay_id)
    if stay is None or not may_see_stay(session, actor, stay):
        raise NotFound("stay not found")
    return stay


def may_change_stay(actor: Actor, stay: Stay) -> bool:
    """Facility staff change the stays in facilities; community workers (and
    facility staff) those at home."""
    if stay.kind in HOME_KINDS:
        return actor.can(Permission.QUARANTINE_HOME) or actor.can(Permission.QUARANTINE_STAYS)
    return actor.can(Permission.QUARANTINE_STAYS)


def _stay_to_change(session: Session, actor: Actor, stay_id: int) -> Stay:
    stay = get_stay(session, actor, stay_id)
    if not may_change_stay(actor, stay):
        raise PermissionDenied(f"role {actor.role} may not change a {stay.kind} stay")
    session.refresh(stay, with_for_update=True)
    if stay.ended_at is not None:
        raise Conflict(f"该隔离已于 {local_date(stay.ended_at)} 结束 (this stay has ended)")
    return stay


# --- tests taken during a stay ------------------------------------------------------------


def _test_to_take(
    tests: list[ScheduledTest], tubes: dict[int, Tube], day: int | None, today: date
) -> ScheduledTest | None:
    """The scheduled test a new tube answers (``None``: an extra test)."""
    if day is not None:
        chosen = next((t for t in tests if t.day == day), None)
        if chosen is None:
            raise InvalidInput("day", f"第{day}天不在检测日程中 (day {day} is not on the schedule)")
        if chosen.due_on > today:
            raise InvalidInput(
                "day",
                f"第{day}天核酸 {chosen.due_on} 才到期 (day {day} test is due on {chosen.due_on})",
            )
        return chosen
    due = [t for t in tests if t.tube_id is None and t.due_on <= today]
    if due:
        return min(due, key=lambda t: (t.due_on, t.day))
    retest = [t for t in tests if t.tube_id is not None and tubes[t.tube_id].result == "invalid"]
    return min(retest, key=lambda t: t.day) if retest else None


def take_stay_sample(
    session: Session, actor: Actor, stay_id: int, barcode: str, day: int | None = None
) -> ScheduledTest:
    """Record a single tube taken from the person of a stay: it answers the
    scheduled test of ``day``, else the earliest one due and not yet taken
    (or one whose result was invalid); with none due it is an extra test on
    today's day of the stay. The tube then waits for its lab result like
    any other."""
    stay = _stay_to_change(session, actor, stay_id)
    barcode = barcode.strip()
    if not barcode or len(barcode) > 40:
        raise InvalidInput("barcode", "a tube barcode has 1 to 40 characters")
    if session.scalar(select(Tube.id).where(Tube.barcode == barcode)) is not None:
        zh, en = reason("barcode_used", barcode)
        raise InvalidInput("barcode", f"{zh} ({en})")
    person = session.get(Person, stay.person_id)
    assert person is not None
    now, today = clock.now(), clock.today_local()
    tests = list(
        session.scalars(
            select(ScheduledTest)
            .where(ScheduledTest.stay_id == stay.id)
            .order_by(ScheduledTest.day)
        )
    )
    tube_ids = [t.tube_id for t in tests if t.tube_id is not None]
    tubes = {t.id: t for t in session.scalars(select(Tube).where(Tube.id.in_(tube_ids)))}
    test = _test_to_take(tests, tubes, day, today)
    extra = test is None
    if test is None:
        number = stay_day(local_date(stay.started_at), today)
        if any(t.day == number for t in tests):
            raise Conflict(f"今天（第{number}天）已采样 (today's day {number} test was taken)")
        test = ScheduledTest(stay_id=stay.id, day=number, due_on=today)
        session.add(test)
    replaced = ""
    if test.tube_id is not None:
        old = tubes[test.tube_id]
        if old.result != "invalid" or old.conflict:
            state = "结果未出" if old.result is None else "已有结果"
            raise Conflict(
                f"第{test.day}天核酸已采样（{old.barcode}，{state}） "
                f"(day {test.day} test was taken already: tube {old.barcode})"
            )
        replaced = old.barcode
    tube = Tube(
        barcode=barcode,
        round_id=None,
        region_code=stay.region_code,
        site_id=None,
        pool_size=1,
        purpose="stay",
        state="collected",
        client_uid=None,
        opened_at=now,
        collected_at=now,
        lab="",
        conflict=False,
    )
    session.add(tube)
    session.flush()
    session.add(
        TubeMember(
            tube_id=tube.id,
            person_id=person.id,
            round_id=None,
            region_code=person.region_code,
            sampled_at=now,
            task_id=None,
        )
    )
    test.tube_id, test.sampled_at = tube.id, now
    record_audit(
        session,
        actor,
        "stay.sample",
        "stay",
        stay.id,
        stay.region_code,
        {"barcode": barcode, "day": test.day, "extra": extra, "replaces": replaced},
    )
    session.commit()
    return test


# --- health checks -----------------------------------------------------------------------------


def record_health_check(
    session: Session,
    actor: Actor,
    stay_id: int,
    *,
    symptoms: bool,
    temperature: float | None = None,
    seal_intact: bool | None = None,
    note: str = "",
) -> CheckIn:
    """Record the day's health check of a stay (at a home under quarantine,
    the community worker's check-in with the door seal). One check a stay a
    day: a second one the same day updates it."""
    stay = _stay_to_change(session, actor, stay_id)
    if temperature is not None and not (
        TEMPERATURE_RANGE[0] <= temperature <= TEMPERATURE_RANGE[1]
    ):
        low, high = TEMPERATURE_RANGE
        raise InvalidInput(
            "temperature", f"体温应在 {low}–{high} ℃ 之间 (between {low} and {high})"
        )
    if stay.kind == "home_quarantine" and seal_intact is None:
        raise InvalidInput(
            "seal_intact", "请确认门磁/封条是否完好 (say whether the door seal is intact)"
        )
    if stay.kind not in HOME_KINDS:
        seal_intact = None
    note = note.strip()
    if len(note) > 500:
        raise InvalidInput("note", "at most 500 characters")
    now, today = clock.now(), clock.today_local()
    check = session.scalar(
        select(CheckIn).where(CheckIn.stay_id == stay.id, CheckIn.on_date == today)
    )
    before: dict[str, object] = {}
    if check is None:
        check = CheckIn(stay_id=stay.id, region_code=stay.region_code, on_date=today)
        session.add(check)
    else:
        before = {
            "symptoms": check.symptoms,
            "temperature": check.temperature,
            "seal_intact": check.seal_intact,
            "note": check.note,
        }
    after: dict[str, object] = {
        "symptoms": symptoms,
        "temperature": temperature,
        "seal_intact": seal_intact,
        "note": note,
    }
    check.symptoms, check.temperature, check.seal_intact, check.note = (
        symptoms,
        temperature,
        seal_intact,
        note,
    )
    check.checked_at, check.checked_by = now, actor.user_id
    session.flush()
    changes = {k: [before.get(k), v] for k, v in after.items() if not before or before[k] != v}
    record_audit(
        session,
        actor,
        "stay.check",
        "stay",
        stay.id,
        stay.region_code,
        {"on_date": today.isoformat(), "updated": bool(before), **changes},
    )
    session.commit()
    return check


# --- readiness and release ------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRow:
    """One test of a stay as a page shows it."""

    day: int
    due_on: date
    barcode: str
    sampled_at: datetime | None
    result: str | None
    conflict: bool

    @property
    def item(self) -> ScheduleItem:
        return ScheduleItem(self.day, self.due_on, bool(self.barcode), self.result, self.conflict)


def tests_of(session: Session, stay_ids: Sequence[int]) -> dict[int, list[ScheduleRow]]:
    found: dict[int, list[ScheduleRow]] = defaultdict(list)
    if not stay_ids:
        return found
    rows = session.execute(
        select(ScheduledTest, Tube)
        .outerjoin(Tube, Tube.id == ScheduledTest.tube_id)
        .where(ScheduledTest.stay_id.in_(stay_ids))
        .order_by(ScheduledTest.stay_id, ScheduledTest.day)
    ).all()
    for test, tube in rows:
        found[test.stay_id].append(
            ScheduleRow(
                test.day,
                test.due_on,
                tube.barcode if tube else "",
                test.sampled_at,
                tube.result if tube else None,
                bool(tube and tube.conflict),
            )
        )
    return found


def latest_checks(session: Session, stay_ids: Sequence[int]) -> dict[int, CheckIn]:
    if not stay_ids:
        return {}
    latest = (
        select(CheckIn.stay_id, func.max(CheckIn.on_date).label("on_date"))
        .where(CheckIn.stay_id.in_(stay_ids))
        .group_by(CheckIn.stay_id)
        .subquery()
    )
    rows = session.scalars(
        select(CheckIn).join(
            latest, (CheckIn.stay_id == latest.c.stay_id) & (CheckIn.on_date == latest.c.on_date)
        )
    )
    return {c.stay_id: c for c in rows}


def unmet_criteria(
    stay: Stay, tests: list[ScheduleRow], check: CheckIn | None, now: datetime, today: date
) -> list[Blocker]:
    return release_blockers(
        planned_end_on=stay.planned_end_on,
        tests=[t.item for t in tests],
        last_check=CheckFact(check.checked_at, check.symptoms) if check else None,
        now=now,
        today=today,
        health_check_hours=get_policy().release_health_check_hours,
    )


def release_stay(session: Session, actor: Actor, stay_id: int) -> Stay:
    """Release the person of a stay when every criterion holds; otherwise
    refuse, naming each unmet one (e.g. "day 14 test not taken"). The room
    goes to cleaning (once nobody else is in it). A close contact leaving
    centralized quarantine goes on to home health monitoring when the policy
    says so; anyone else's risk record is released as completed, which also
    brings the secondary contacts in line."""
    stay = _stay_to_change(session, actor, stay_id)
    now, today = clock.now(), clock.today_local()
    tests = tests_of(session, [stay.id])[stay.id]
    blockers = unmet_criteria(
        stay, tests, latest_checks(session, [stay.id]).get(stay.id), now, today
    )
    if blockers:
        raise Conflict("不能解除隔离：" + "；".join(b.text for b in blockers))
    stay.ended_at, stay.end_reason = now, "released"
    session.flush()
    changes: dict[str, object] = {"end_reason": "released", "tests": [t.day for t in tests]}
    room, emptied = leave_room(session, stay.room_id, now)
    if room is not None and emptied:
        changes["room"] = [room.number, "occupied", "cleaning"]
    record_audit(session, actor, "stay.release", "stay", stay.id, stay.region_code, changes)
    risk = session.get(RiskPerson, stay.risk_person_id) if stay.risk_person_id else None
    monitoring_days = get_policy().close_contact_home_monitoring_days
    if (
        risk is not None
        and risk.status != "released"
        and risk.category == "close"
        and stay.kind == "centralized"
        and monitoring_days > 0
    ):
        _monitor_at_home(session, actor, stay, risk, monitoring_days, now, today)
    elif risk is not None and risk.status != "released":
        before = risk.status
        end_risk_record(risk, "completed", now)
        region, risk_id = risk.region_code, risk.id
        refreshed = update_secondary_contacts_around(session, [stay.person_id])
        record_audit(
            session,
            actor,
            "risk_person.release",
            "risk_person",
            risk_id,
            region,
            {
                "status": [before, "released"],
                "reason": "completed",
                "stay": stay.id,
                "secondary_added": refreshed.added,
                "secondary_released": refreshed.released,
            },
        )
    session.commit()
    return stay


def _monitor_at_home(
    session: Session,
    actor: Actor,
    stay: Stay,
    risk: RiskPerson,
    days: int,
    now: datetime,
    today: date,
) -> None:
    """A close contact released from centralized quarantine goes on to home
    health monitoring for the policy's days (Protocol 8th ed., "14 + 7"):
    the risk record stays under a measure, now ``health_monitoring``, and a
    home stay with its own tests starts today in their community."""
    session.flush()  # the ended stay first: one stay in force per person
    person = session.get(Person, stay.person_id)
    assert person is not None  # a foreign key
    end_on = today + timedelta(days=days)
    home = Stay(
        person_id=person.id,
        region_code=person.region_code,
        kind="home_monitoring",
        risk_person_id=risk.id,
        household_id=person.household_id,
        exposure_key=stay.exposure_key,
        last_exposure_at=stay.last_exposure_at,
        started_at=now,
        planned_end_on=end_on,
        end_reason="",
        placed_by=actor.user_id,
    )
    session.add(home)
    session.flush()
    schedule = test_schedule(today, end_on, get_policy().home_monitoring_test_days)
    session.add_all(ScheduledTest(stay_id=home.id, day=d, due_on=on) for d, on in schedule)
    before = risk.measure
    risk.measure, risk.updated_at = "health_monitoring", now
    record_audit(
        session,
        actor,
        "stay.home_monitoring",
        "stay",
        home.id,
        home.region_code,
        {"after_stay": stay.id, "planned_end_on": end_on.isoformat(), "tests": len(schedule)},
    )
    record_audit(
        session,
        actor,
        "risk_person.measure",
        "risk_person",
        risk.id,
        risk.region_code,
        {"measure": [before, "health_monitoring"], "stay": home.id},
    )

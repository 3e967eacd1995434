"""群众自报: residents report themselves from a public form, without an
account — at a published risk place, or near a case — and staff triage
the reports: accepted, a report becomes a source of a risk person (channel
``self_report``); or dismissed with a reason.

The form is open to anyone, so it is guarded three ways: every field is
checked and every problem named at once; the same report sent again is
kept once (same phone, same place or words, same day); and a client
address and a phone may send only so many reports in a window. The client
address is never stored: only a keyed hash, for the rate limit.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, record_audit, require, scope
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import MESSAGES as ID_MESSAGES
from fangkong.people.identity import IdType, Problem, check_identity
from fangkong.people.phones import check_phone
from fangkong.people.service import person_held
from fangkong.regions.models import Region
from fangkong.tracing.matching import IncomingPerson, Match, match_one
from fangkong.tracing.models import CATEGORIES, PendingMatch, Place, SelfReport
from fangkong.tracing.risk import note_risk_person

# Against floods from one device or about one phone; a household sharing a
# connection still fits (operational limits, not epidemiological policy).
REPORTS_PER_CLIENT_PER_HOUR = 5
REPORTS_PER_PHONE_PER_DAY = 3
# A report about an exposure older than the longest quarantine needs no measure.
OLDEST_EXPOSURE_DAYS = 14
MAX_NAME_CHARS = 50
MAX_NOTE_CHARS = 500


class ReportRefused(InvalidInput):
    """Every problem of a submitted form, by field, in Chinese and English."""

    def __init__(self, problems: dict[str, str]) -> None:
        first = next(iter(problems))
        super().__init__(first, problems[first])
        self.problems = problems


class TooManyReports(ReportRefused):
    """This client or this phone sent as many reports as the window allows."""


@dataclass(frozen=True)
class SelfReportIn:
    name: str
    phone: str
    region_code: str  # the 12-digit community the reporter lives in
    exposed_on: date
    place_id: int | None = None
    note: str = ""
    id_number: str = ""


@dataclass(frozen=True)
class Submitted:
    report_id: int
    repeated: bool  # the same report came before: nothing new was kept


@dataclass
class _Checked:
    phone: str = ""
    id_number: str = ""
    problems: dict[str, str] = field(default_factory=dict)


def _check(session: Session, report: SelfReportIn) -> _Checked:
    checked = _Checked()
    problems = checked.problems
    for name in ("name", "phone", "id_number", "note"):
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in getattr(report, name)):
            problems[name] = "含有不可见的控制字符 (contains control characters)"
    if problems:
        return checked
    name = report.name.strip()
    if not name:
        problems["name"] = "请填写姓名 (give your name)"
    elif len(name) > MAX_NAME_CHARS:
        problems["name"] = f"姓名不超过 {MAX_NAME_CHARS} 个字 (at most {MAX_NAME_CHARS} characters)"
    phone = check_phone(report.phone)
    if phone.normalized is None:
        problems["phone"] = "手机号不正确 (not a valid phone number)"
    else:
        checked.phone = phone.normalized
    if report.id_number.strip():
        identity = check_identity(IdType.RESIDENT_ID, report.id_number, clock.today_local())
        if identity.problem != Problem.OK or identity.normalized is None:
            zh, en = ID_MESSAGES[identity.problem]
            problems["id_number"] = f"{zh} ({en})"
        else:
            checked.id_number = identity.normalized
    community = session.scalar(
        select(Region.code).where(Region.code == report.region_code, Region.level == "village")
    )
    if community is None:
        problems["region_code"] = "请选择您居住的村（社区） (choose the community you live in)"
    note = report.note.strip()
    if report.place_id is None and not note:
        problems["place"] = (
            "请选择去过的风险场所，或写明接触情况 (choose a risk place or describe the contact)"
        )
    if report.place_id is not None:
        place = session.get(Place, report.place_id)
        if place is None or not place.published:
            problems["place"] = "没有这个已公布的风险场所 (no such published risk place)"
    if len(note) > MAX_NOTE_CHARS:
        problems["note"] = f"说明不超过 {MAX_NOTE_CHARS} 字 (at most {MAX_NOTE_CHARS} characters)"
    today = clock.today_local()
    if report.exposed_on > today:
        problems["exposed_on"] = "日期不能晚于今天 (the day cannot be after today)"
    elif report.exposed_on < today - timedelta(days=OLDEST_EXPOSURE_DAYS):
        problems["exposed_on"] = (
            f"{OLDEST_EXPOSURE_DAYS} 天以前的接触无需报告 "
            f"(contacts more than {OLDEST_EXPOSURE_DAYS} days ago need no report)"
        )
    return checked


def client_key(client_address: str) -> str:
    """A keyed hash of the client address: enough to count, never to trace."""
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, client_address.encode(), hashlib.sha256).hexdigest()


def _fingerprint(phone: str, report: SelfReportIn) -> str:
    what = f"place:{report.place_id}" if report.place_id is not None else report.note.strip()
    key = "\x1f".join((phone, what, report.exposed_on.isoformat()))
    return hashlib.sha256(key.encode()).hexdigest()


def submit_self_report(session: Session, report: SelfReportIn, client_address: str) -> Submitted:
    """Keep one resident's report. Raises :class:`ReportRefused` naming
    every problem, or when this client or phone sent too many reports."""
    checked = _check(session, report)
    if checked.problems:
        raise ReportRefused(checked.problems)
    now = clock.now()
    key = client_key(client_address)
    _check_rate(session, key, checked.phone, now)  # before the repeat check: no free probing
    fingerprint = _fingerprint(checked.phone, report)
    earlier = session.scalar(select(SelfReport.id).where(SelfReport.fingerprint == fingerprint))
    if earlier is not None:
        return Submitted(earlier, repeated=True)
    row = SelfReport(
        region_code=report.region_code,
        name=report.name.strip(),
        phone=checked.phone,
        id_number=checked.id_number,
        place_id=report.place_id,
        note=report.note.strip(),
        exposed_on=report.exposed_on,
        submitted_at=now,
        client_hash=key,
        fingerprint=fingerprint,
        status="new",
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same report sent twice at the same moment
        earlier = session.scalar(select(SelfReport.id).where(SelfReport.fingerprint == fingerprint))
        assert earlier is not None
        return Submitted(earlier, repeated=True)
    session.commit()
    return Submitted(row.id, repeated=False)


def _check_rate(session: Session, key: str, phone: str, now: datetime) -> None:
    from_client = session.scalar(
        select(func.count())
        .select_from(SelfReport)
        .where(SelfReport.client_hash == key, SelfReport.submitted_at > now - timedelta(hours=1))
    )
    if (from_client or 0) >= REPORTS_PER_CLIENT_PER_HOUR:
        raise TooManyReports(
            {"client": "提交过于频繁，请一小时后再试 (too many reports from here; try in an hour)"}
        )
    about_phone = session.scalar(
        select(func.count())
        .select_from(SelfReport)
        .where(SelfReport.phone == phone, SelfReport.submitted_at > now - timedelta(days=1))
    )
    if (about_phone or 0) >= REPORTS_PER_PHONE_PER_DAY:
        raise TooManyReports(
            {"phone": "该手机号今天已提交多次，请明天再试 (this phone sent several reports today)"}
        )


def published_places(session: Session, region: str = "") -> list[Place]:
    """The risk places a resident may choose from: published, visited in the
    last ``OLDEST_EXPOSURE_DAYS`` days (public: no login)."""
    since = clock.now() - timedelta(days=OLDEST_EXPOSURE_DAYS)
    stmt = select(Place).where(Place.published.is_(True), Place.left_at >= since)
    if region:
        stmt = stmt.where(Place.region_code.startswith(region, autoescape=True))
    return list(session.scalars(stmt.order_by(Place.arrived_at.desc())))


def list_self_reports(session: Session, actor: Actor, status: str = "new") -> list[SelfReport]:
    require(actor, Permission.TRACING_MANAGE)
    if status not in ("new", "accepted", "dismissed"):
        raise InvalidInput("status", "new, accepted or dismissed")
    stmt = scope(select(SelfReport), SelfReport.region_code, actor).where(
        SelfReport.status == status
    )
    return list(session.scalars(stmt.order_by(SelfReport.submitted_at)))


def _load(session: Session, actor: Actor, report_id: int) -> SelfReport:
    report = session.get(SelfReport, report_id, with_for_update=True)
    if report is None or not report.region_code.startswith(actor.jurisdiction):
        raise NotFound("self-report not found")
    if report.status != "new":
        raise Conflict(f"this report is already {report.status}")
    return report


def accept_self_report(
    session: Session, actor: Actor, report_id: int, category: str = "general"
) -> int | None:
    """Staff accept a report: the reporter is matched to the registry (or
    registered as a non-resident of their community) and noted as a risk
    person of ``category``. Returns the risk person's id, or None when the
    matcher cannot decide and the report waits as a pending match."""
    require(actor, Permission.TRACING_MANAGE)
    if category not in CATEGORIES:
        raise InvalidInput("category", f"one of {', '.join(CATEGORIES)}")
    report = _load(session, actor, report_id)
    record = IncomingPerson(
        id_number=report.id_number,
        phone=report.phone,
        name=report.name,
        region_code=report.region_code,
    )
    match = match_one(session, actor, report.region_code, record)
    place = session.get(Place, report.place_id) if report.place_id else None
    exposed_until = datetime.combine(report.exposed_on, time(23, 59), get_settings().zone)
    last_exposure = min(place.left_at, exposed_until) if place else exposed_until
    if match.person_id is None:
        _keep_pending(session, report, category, last_exposure, match)
        _triaged(session, actor, report, "self_report.accept_pending", {"category": category})
        return None
    person = person_held(session, match.person_id)
    assert person is not None
    noted = note_risk_person(
        session,
        person_id=person.id,
        region_code=person.region_code,
        category=category,
        channel="self_report",
        source=f"自报 #{report.id}" + (f" {place.name}" if place else ""),
        reported_at=report.submitted_at,
        last_exposure_at=last_exposure,
    )
    report.risk_person_id = noted.risk_person.id
    _triaged(
        session,
        actor,
        report,
        "self_report.accept",
        {"category": category, "risk_person": noted.risk_person.id},
    )
    return noted.risk_person.id


def _keep_pending(
    session: Session, report: SelfReport, category: str, last_exposure: datetime, match: Match
) -> None:
    """The reporter could not be decided (a phone shared by several
    persons): the report waits as a pending match of its community."""
    session.add(
        PendingMatch(
            region_code=report.region_code,
            channel="self_report",
            source=f"自报 #{report.id}",
            record={
                "id_number": report.id_number,
                "phone": report.phone,
                "name": report.name,
                "category": category,
                "reported_at": report.submitted_at.isoformat(),
                "last_exposure_at": last_exposure.isoformat(),
            },
            candidate_ids=match.candidate_ids,
            reason=match.pending_reason,
            fingerprint=hashlib.sha256(f"self_report:{report.id}".encode()).hexdigest(),
            received_at=clock.now(),
        )
    )


def _triaged(
    session: Session, actor: Actor, report: SelfReport, action: str, changes: dict[str, object]
) -> None:
    report.status, report.triaged_at, report.triaged_by = "accepted", clock.now(), actor.user_id
    record_audit(session, actor, action, "self_report", report.id, report.region_code, changes)
    session.commit()


def dismiss_self_report(session: Session, actor: Actor, report_id: int, reason: str) -> None:
    require(actor, Permission.TRACING_MANAGE)
    if not reason.strip():
        raise InvalidInput("reason", "say why the report is dismissed")
    report = _load(session, actor, report_id)
    report.status, report.triaged_at, report.triaged_by = "dismissed", clock.now(), actor.user_id
    record_audit(
        session,
        actor,
        "self_report.dismiss",
        "self_report",
        report.id,
        report.region_code,
        {"reason": reason.strip()[:300]},
    )
    session.commit()

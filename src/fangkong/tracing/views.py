"""Tracing pages: the risk-person list with the supervisor's bulk actions
and the control indicators; cross-region requests sent and received, one
request's progress with the receiver's outcomes. Handlers parse, call the
services and build a context; ``render`` does the rest."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor
from fangkong.errors import Conflict, FangkongError, InvalidInput, UnreadableFile
from fangkong.tracing import control, pending, requests, risk_import, self_report
from fangkong.tracing.messages import MESSAGES
from fangkong.tracing.models import CATEGORIES, CHANNELS, MEASURES, RISK_STATUSES
from fangkong.web import csrf
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.files import read_upload
from fangkong.web.i18n import add_messages
from fangkong.web.nav import NavItem, register
from fangkong.web.ratelimit import SlidingWindowLimiter
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(
    NavItem("/tracing/risk-persons", "风险人员", "Risk persons", Permission.TRACING_READ, order=60)
)
register(NavItem("/tracing/requests", "区域协查", "Requests", Permission.TRACING_READ, order=62))
register(
    NavItem(
        "/tracing/self-reports", "群众自报", "Self-reports", Permission.TRACING_MANAGE, order=64
    )
)
add_messages(MESSAGES)

Code = Annotated[str, Query(max_length=12, pattern=r"^\d*$")]
PAGE = 100


def _error(error: FangkongError) -> str:
    return error.reason if isinstance(error, InvalidInput) else error.message


# --- risk persons ---------------------------------------------------------------


@router.get("/tracing/risk-persons")
def risk_persons_page(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    region: Code = "",
    category: str = "",
    status: str = "",
    channel: str = "",
    overdue: bool = False,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    wanted = control.RiskFilter(region, category, status, channel, overdue)
    context = _risk_context(session, actor, wanted, offset)
    return render(request, "tracing/risk_persons.html", context)


def _risk_context(
    session: Session,
    actor: Actor,
    wanted: control.RiskFilter,
    offset: int = 0,
    *,
    error: str | None = None,
    changed: int | None = None,
) -> dict[str, Any]:
    rows, total = control.list_risk_persons(session, actor, wanted, offset=offset, limit=PAGE)
    return {
        "title": "tracing.risk_persons",
        "wanted": wanted,
        "rows": rows,
        "total": total,
        "offset": offset,
        "page": PAGE,
        "indicators": control.control_indicators(session, actor, wanted.region),
        "overdue_by_community": control.overdue_by_community(session, actor, wanted.region),
        "categories": CATEGORIES,
        "statuses": RISK_STATUSES,
        "channels": CHANNELS,
        "measures": MEASURES,
        "can_manage": actor.can(Permission.TRACING_MANAGE),
        "can_import": actor.can(Permission.TRACING_IMPORT),
        "import_channels": risk_import.IMPORT_CHANNELS,
        "imported": None,
        "error": error,
        "changed": changed,
    }


@router.post("/tracing/risk-persons")
def risk_persons_bulk(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    action: Annotated[str, Form(max_length=16)],
    ids: Annotated[list[int], Form()],
    user_id: Annotated[int | None, Form()] = None,
    measure: Annotated[str, Form(max_length=32)] = "",
    status: Annotated[str, Form(max_length=16)] = "",
    to_region: Annotated[str, Form(max_length=12)] = "",
    subject: Annotated[str, Form(max_length=200)] = "",
    hours: Annotated[float, Form(gt=0, le=240)] = 24,
) -> Response:
    try:
        if action == "request":  # the persons go to another region: show the request
            sent = requests.send_request_for_risk_persons(
                session,
                actor,
                ids,
                to_region=to_region.strip(),
                subject=subject,
                deadline_at=clock.now() + timedelta(hours=hours),
            )
            return RedirectResponse(f"/tracing/requests/{sent.id}", status_code=303)
        changed = _apply(session, actor, action, ids, user_id, measure, status)
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _risk_context(session, actor, control.RiskFilter(), error=_error(error))
        return render(request, "tracing/risk_persons.html", context, status_code=422)
    context = _risk_context(session, actor, control.RiskFilter(), changed=changed)
    return render(request, "tracing/risk_persons.html", context)


def _apply(
    session: Session,
    actor: Actor,
    action: str,
    ids: list[int],
    user_id: int | None,
    measure: str,
    status: str,
) -> int:
    if action == "assign":
        if user_id is None:
            raise InvalidInput("user_id", "给出用户编号 (give the user id)")
        return control.assign_risk_persons(session, actor, ids, user_id)
    if action == "measure":
        return control.order_measure(session, actor, ids, measure)
    if action == "status":
        return control.move_risk_persons(session, actor, ids, status)
    raise InvalidInput("action", "unknown action")


# --- cross-region requests -----------------------------------------------------------


@router.get("/tracing/requests")
def requests_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return render(request, "tracing/requests.html", _requests_context(session, actor))


def _requests_context(session: Session, actor: Actor, error: str | None = None) -> dict[str, Any]:
    return {
        "title": "tracing.requests",
        "sent": requests.list_requests(session, actor, "sent"),
        "received": requests.list_requests(session, actor, "received"),
        "can_send": actor.can(Permission.TRACING_REQUESTS),
        "error": error,
    }


def _parse_persons(text: str) -> list[requests.RequestPerson]:
    """One person per line: identity number, phone, name, category."""
    persons = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.replace("，", ",").split(",")]
        cells += [""] * (4 - len(cells))
        if len(cells) > 4:
            raise InvalidInput("persons", f"第 {n} 行多于 4 项 (line {n} has more than 4 cells)")
        persons.append(
            requests.RequestPerson(
                id_number=cells[0], phone=cells[1], name=cells[2], category=cells[3] or "close"
            )
        )
    return persons


@router.post("/tracing/requests")
def requests_send(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    to_region: Annotated[str, Form(max_length=12)],
    subject: Annotated[str, Form(max_length=200)],
    persons: Annotated[str, Form(max_length=200_000)],
    hours: Annotated[float, Form(gt=0, le=240)] = 24,
) -> Response:
    try:
        sent = requests.send_request(
            session,
            actor,
            to_region=to_region.strip(),
            subject=subject,
            deadline_at=clock.now() + timedelta(hours=hours),
            persons=_parse_persons(persons),
        )
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _requests_context(session, actor, _error(error))
        return render(request, "tracing/requests.html", context, status_code=422)
    return RedirectResponse(f"/tracing/requests/{sent.id}", status_code=303)


@router.get("/tracing/requests/{request_id}")
def request_page(
    request: Request, session: SessionDep, actor: CurrentActor, request_id: int
) -> Response:
    return render(request, "tracing/request.html", _request_context(session, actor, request_id))


def _request_context(
    session: Session, actor: Actor, request_id: int, error: str | None = None
) -> dict[str, Any]:
    progress = requests.request_progress(session, actor, request_id)
    receiver = actor.can(Permission.TRACING_REQUESTS) and progress.request.to_region.startswith(
        actor.jurisdiction
    )
    sender = progress.request.from_region.startswith(actor.jurisdiction)
    return {
        "title": "tracing.request",
        "progress": progress,
        "receiver": receiver,
        "sender": sender and actor.can(Permission.TRACING_REQUESTS),
        "outcomes": requests.OUTCOMES,
        "error": error,
    }


@router.post("/tracing/requests/{request_id}/accept")
def request_accept(
    request: Request, session: SessionDep, actor: CurrentActor, request_id: int
) -> Response:
    try:
        requests.accept_request(session, actor, request_id)
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _request_context(session, actor, request_id, _error(error))
        return render(request, "tracing/request.html", context, status_code=422)
    return RedirectResponse(f"/tracing/requests/{request_id}", status_code=303)


@router.post("/tracing/requests/{request_id}/items/{item_id}")
def request_outcome(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    request_id: int,
    item_id: int,
    outcome: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        requests.report_outcome(session, actor, item_id, outcome, note)
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _request_context(session, actor, request_id, _error(error))
        return render(request, "tracing/request.html", context, status_code=422)
    return RedirectResponse(f"/tracing/requests/{request_id}", status_code=303)


# --- self-reports: the public form and the staff's triage ------------------------------


REPORT_FIELDS = ("name", "phone", "id_number", "region_code", "place_id", "note", "exposed_on")
# Every attempt counts, refused and repeated ones too: the form must not be
# a free oracle of who reported what (the stored-report limits of
# self_report.py count only what was kept). Per process, like the login throttle.
REPORT_ATTEMPTS_PER_HOUR = 20
report_attempts = SlidingWindowLimiter(REPORT_ATTEMPTS_PER_HOUR, timedelta(hours=1))


@router.get("/report")
def report_form(request: Request, session: SessionDep) -> Response:
    """Public: no login. A resident reports being at a risk place or near a case."""
    return render(request, "tracing/report.html", _report_context(session))


def _report_context(
    session: Session,
    *,
    problems: dict[str, str] | None = None,
    submitted: self_report.Submitted | None = None,
    form: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "title": "tracing.self_report",
        "places": self_report.published_places(session),
        "problems": problems or {},
        "submitted": submitted,
        "form": form or dict.fromkeys(REPORT_FIELDS, ""),
        "today": clock.today_local().isoformat(),
    }


@router.post("/report")
def report_submit(
    request: Request,
    session: SessionDep,
    name: Annotated[str, Form(max_length=100)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    id_number: Annotated[str, Form(max_length=40)] = "",
    region_code: Annotated[str, Form(max_length=12)] = "",
    place_id: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    exposed_on: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    csrf.check(request, csrf_token)
    client = request.client.host if request.client else ""
    if report_attempts.blocked(client):
        problems = {
            "client": "提交过于频繁，请一小时后再试 (too many attempts from here; try in an hour)"
        }
        return render(
            request,
            "tracing/report.html",
            _report_context(session, problems=problems),
            status_code=429,
        )
    report_attempts.record(client)
    form = {
        "name": name,
        "phone": phone,
        "id_number": id_number,
        "region_code": region_code,
        "place_id": place_id,
        "note": note,
        "exposed_on": exposed_on,
    }
    try:
        day = date.fromisoformat(exposed_on)
    except ValueError:
        problems = {"exposed_on": "请选择日期 (choose the day)"}
        context = _report_context(session, problems=problems, form=form)
        return render(request, "tracing/report.html", context, status_code=422)
    report = self_report.SelfReportIn(
        name=name,
        phone=phone,
        id_number=id_number,
        region_code=region_code.strip(),
        place_id=int(place_id) if place_id.isdigit() and len(place_id) <= 18 else None,
        note=note,
        exposed_on=day,
    )
    try:
        submitted = self_report.submit_self_report(session, report, client)
    except self_report.ReportRefused as refused:
        session.rollback()
        status = 429 if isinstance(refused, self_report.TooManyReports) else 422
        context = _report_context(session, problems=refused.problems, form=form)
        return render(request, "tracing/report.html", context, status_code=status)
    return render(request, "tracing/report.html", _report_context(session, submitted=submitted))


@router.get("/tracing/self-reports")
def self_reports_page(
    request: Request, session: SessionDep, actor: CurrentActor, status: str = "new"
) -> Response:
    return render(request, "tracing/self_reports.html", _triage_context(session, actor, status))


def _triage_context(
    session: Session, actor: Actor, status: str = "new", error: str | None = None
) -> dict[str, Any]:
    return {
        "title": "tracing.self_reports",
        "reports": self_report.list_self_reports(session, actor, status),
        "status": status,
        "categories": CATEGORIES,
        "error": error,
    }


@router.post("/tracing/self-reports/{report_id}")
def self_report_triage(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    report_id: int,
    decision: Annotated[str, Form(max_length=16)],
    category: Annotated[str, Form(max_length=16)] = "general",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        if decision == "accept":
            self_report.accept_self_report(session, actor, report_id, category)
        elif decision == "dismiss":
            self_report.dismiss_self_report(session, actor, report_id, reason)
        else:
            raise InvalidInput("decision", "accept or dismiss")
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _triage_context(session, actor, error=_error(error))
        return render(request, "tracing/self_reports.html", context, status_code=422)
    return RedirectResponse("/tracing/self-reports", status_code=303)


# --- pending matches --------------------------------------------------------------------


@router.get("/tracing/pending")
def pending_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return render(request, "tracing/pending.html", _pending_context(session, actor))


def _pending_context(session: Session, actor: Actor, error: str | None = None) -> dict[str, Any]:
    return {
        "title": "tracing.pending",
        "pending": pending.list_pending_matches(session, actor),
        "reasons": pending.REASON_LABELS,
        "error": error,
    }


@router.post("/tracing/pending/{pending_id}")
def pending_decide(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    pending_id: int,
    decision: Annotated[str, Form(max_length=16)],
    person_id: Annotated[str, Form(max_length=12)] = "",
    other_person_id: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        if decision == "resolve":
            chosen = other_person_id.strip() or person_id
            if not chosen.isdigit():
                raise InvalidInput("person_id", "选择一人或填写人员编号 (choose a person)")
            pending.resolve_pending_match(session, actor, pending_id, int(chosen))
        elif decision == "dismiss":
            pending.dismiss_pending_match(session, actor, pending_id, reason)
        else:
            raise InvalidInput("decision", "resolve or dismiss")
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _pending_context(session, actor, _error(error))
        return render(request, "tracing/pending.html", context, status_code=422)
    return RedirectResponse("/tracing/pending", status_code=303)


@router.post("/tracing/risk-persons/import")
def risk_list_upload(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
    channel: Annotated[str, Form(max_length=16)],
) -> Response:
    """A community worker's screening list (or another channel's) as a file."""
    try:
        result = risk_import.import_risk_persons(
            session, actor, read_upload(file), file.filename or "list.csv", channel=channel
        )
    except (InvalidInput, UnreadableFile) as error:
        session.rollback()
        context = _risk_context(session, actor, control.RiskFilter(), error=_error(error))
        return render(request, "tracing/risk_persons.html", context, status_code=422)
    context = _risk_context(session, actor, control.RiskFilter())
    context["imported"] = result
    return render(request, "tracing/risk_persons.html", context)

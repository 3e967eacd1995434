"""Stay pages: one stay (its test schedule with results, its health checks,
taking a test, the release button with the reasons it is refused), the
releases due per facility (homes per community), the homes under
quarantine with the community worker's check-in form and the missed
check-ins, and the printable release certificate. Handlers parse, call
:mod:`fangkong.quarantine.stays` and build a context; ``render`` does the
rest."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput
from fangkong.policy import get_policy
from fangkong.quarantine import home, stay_board, stays
from fangkong.quarantine.models import STAY_END_REASONS, STAY_KINDS
from fangkong.testing.models import RESULTS
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.i18n import add_messages
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(
    NavItem("/quarantine/releases", "解除隔离", "Releases", Permission.QUARANTINE_READ, order=74)
)
register(
    NavItem("/quarantine/home", "居家隔离", "Home quarantine", Permission.QUARANTINE_HOME, order=76)
)

MESSAGES: dict[str, tuple[str, str]] = {
    "stays.stay": ("隔离人员", "Stay"),
    "stays.releases": ("解除隔离", "Releases due"),
    "stays.home": ("居家隔离", "Home quarantine"),
    "stays.on_date": ("日期", "Date"),
    "stays.person": ("姓名", "Name"),
    "stays.id_number": ("证件号码", "ID number"),
    "stays.kind": ("措施", "Measure"),
    "stays.place": ("隔离地点", "Place"),
    "stays.started_at": ("开始时间", "Started"),
    "stays.last_exposure": ("末次暴露", "Last exposure"),
    "stays.planned_end": ("计划解除日期", "Planned end"),
    "stays.day_of_stay": ("第 {day} 天", "day {day}"),
    "stays.ended": ("已结束", "Ended"),
    "stays.end_reason.released": ("已解除隔离", "released"),
    "stays.end_reason.became_case": ("转为病例", "became a case"),
    "stays.end_reason.discharged": ("已出院", "discharged"),
    "stays.end_reason.moved_home": ("转居家", "moved home"),
    "stays.end_reason.not_a_contact": ("非风险人员", "not a contact"),
    "stays.schedule": ("核酸检测日程", "Test schedule"),
    "stays.test_day": ("天数", "Day"),
    "stays.due_on": ("应检日期", "Due"),
    "stays.barcode": ("试管条码", "Tube"),
    "stays.sampled_at": ("采样时间", "Sampled"),
    "stays.result": ("结果", "Result"),
    "stays.result.negative": ("阴性", "negative"),
    "stays.result.positive": ("阳性", "positive"),
    "stays.result.invalid": ("无效", "invalid"),
    "stays.result.pending": ("待出结果", "pending"),
    "stays.result.not_taken": ("未采样", "not taken"),
    "stays.take_sample": ("登记采样", "Record a sample"),
    "stays.day_optional": ("天数（留空：当前应检）", "Day (empty: the test due)"),
    "stays.checks": ("健康监测", "Health checks"),
    "stays.check": ("登记健康监测", "Record a check"),
    "stays.checked_at": ("监测时间", "Checked"),
    "stays.symptoms": ("有症状", "Symptoms"),
    "stays.temperature": ("体温 ℃", "Temperature ℃"),
    "stays.seal_intact": ("门磁/封条完好", "Door seal intact"),
    "stays.seal_yes": ("完好", "intact"),
    "stays.seal_no": ("破损", "broken"),
    "stays.note": ("备注", "Note"),
    "stays.yes": ("是", "yes"),
    "stays.no": ("否", "no"),
    "stays.release": ("解除隔离", "Release"),
    "stays.ready": ("可解除", "Ready"),
    "stays.not_ready": ("尚不能解除", "Not ready"),
    "stays.blockers": ("尚缺", "Still missing"),
    "stays.certificate": ("解除隔离证明", "Release certificate"),
    "stays.print": ("用浏览器打印（Ctrl+P）", "Print with the browser (Ctrl+P)"),
    "stays.certificate_number": ("编号", "No."),
    "stays.released_at": ("解除时间", "Released"),
    "stays.released_by": ("经办人", "Released by"),
    "stays.issuer": ("出具单位", "Issued by"),
    "stays.certificate_text": (
        "兹证明上述人员已完成隔离医学观察，期间核酸检测均为阴性、无相关症状，予以解除隔离。",
        "This certifies that the person above completed the quarantine with every test "
        "negative and no symptoms, and is released.",
    ),
    "stays.unsigned": (
        "本证明未加电子签名，不可在线核验；带签名、可核验的证明将在凭证功能中提供。",
        "This certificate is not signed and cannot be verified online; a signed, "
        "verifiable certificate comes with the credentials feature.",
    ),
    "stays.due_total": ("到期 {total} 人，可解除 {ready} 人", "{total} due, {ready} ready"),
    "stays.homes": ("居家隔离/监测中", "Homes under quarantine or monitoring"),
    "stays.missed": ("漏检（超过 {hours} 小时未上门）", "Missed check-ins (over {hours} hours)"),
    "stays.last_check": ("最近监测", "Last check"),
    "stays.checked_today": ("今日已查", "Checked today"),
    "stays.never": ("从未", "never"),
    "stays.candidates": ("待落实居家措施的风险人员", "Risk persons due at home"),
    "stays.order": ("落实居家措施", "Order"),
    "stays.category": ("类别", "Category"),
    "stays.region": ("社区", "Community"),
    "stays.household": ("户", "Household"),
    "stays.kind.centralized": ("集中隔离", "centralized quarantine"),
    "stays.kind.home_quarantine": ("居家隔离", "home quarantine"),
    "stays.kind.home_monitoring": ("居家健康监测", "home health monitoring"),
    "stays.kind.hospital": ("定点医院", "hospital"),
    "stays.policy_note": (
        "解除条件：到计划解除日期、各次核酸均阴性、{hours} 小时内健康监测无症状。",
        "Release criteria: the planned end reached, every test negative, a health check "
        "without symptoms within {hours} hours.",
    ),
}
add_messages(MESSAGES)

# The label keys of values shown on the pages (templates look them up here
# rather than building keys, so every key is known to exist).
KEYS: dict[str, dict[str, str]] = {
    "kind": {k: f"stays.kind.{k}" for k in STAY_KINDS},
    "end": {r: f"stays.end_reason.{r}" for r in STAY_END_REASONS if r},
    "result": {r: f"stays.result.{r}" for r in (*RESULTS, "pending", "not_taken")},
}


def _message(error: InvalidInput | Conflict) -> str:
    return error.reason if isinstance(error, InvalidInput) else error.message


def _status(error: InvalidInput | Conflict) -> int:
    return 422 if isinstance(error, InvalidInput) else 409


def _temperature(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput("temperature", "体温请填数字，如 36.5 (a number, e.g. 36.5)") from None


def _seal(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _day(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput("day", "天数请填数字 (a day number)")
    return int(value)


# --- one stay -------------------------------------------------------------------------------


def _stay_context(
    session: Session, actor: Actor, stay_id: int, error: str | None = None
) -> dict[str, Any]:
    return {
        "title": "stays.stay",
        "keys": KEYS,
        "detail": stay_board.stay_detail(session, actor, stay_id),
        "hours": f"{get_policy().release_health_check_hours:g}",
        "error": error,
    }


@router.get("/quarantine/stays/{stay_id}")
def stay_page(request: Request, session: SessionDep, actor: CurrentActor, stay_id: int) -> Response:
    return render(request, "quarantine/stay.html", _stay_context(session, actor, stay_id))


def _stay_error(
    request: Request, session: Session, actor: Actor, stay_id: int, error: InvalidInput | Conflict
) -> Response:
    session.rollback()
    context = _stay_context(session, actor, stay_id, _message(error))
    return render(request, "quarantine/stay.html", context, status_code=_status(error))


def _back(stay_id: int) -> Response:
    return RedirectResponse(f"/quarantine/stays/{stay_id}", status_code=303)


@router.post("/quarantine/stays/{stay_id}/sample")
def stay_sample(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    stay_id: int,
    barcode: Annotated[str, Form(max_length=40)] = "",
    day: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    try:
        stays.take_stay_sample(session, actor, stay_id, barcode, day=_day(day))
    except (InvalidInput, Conflict) as error:
        return _stay_error(request, session, actor, stay_id, error)
    return _back(stay_id)


@router.post("/quarantine/stays/{stay_id}/check")
def stay_check(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    stay_id: int,
    symptoms: Annotated[bool, Form()] = False,
    temperature: Annotated[str, Form(max_length=8)] = "",
    seal_intact: Annotated[str, Form(max_length=4)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The day's check; from the home list (``back=home``) it returns there."""
    try:
        stays.record_health_check(
            session,
            actor,
            stay_id,
            symptoms=symptoms,
            temperature=_temperature(temperature),
            seal_intact=_seal(seal_intact),
            note=note,
        )
    except (InvalidInput, Conflict) as error:
        if back == "home":
            session.rollback()
            context = _home_context(session, actor, _message(error))
            return render(request, "quarantine/home.html", context, status_code=_status(error))
        return _stay_error(request, session, actor, stay_id, error)
    if back == "home":
        return RedirectResponse("/quarantine/home", status_code=303)
    return _back(stay_id)


@router.post("/quarantine/stays/{stay_id}/release")
def stay_release(
    request: Request, session: SessionDep, actor: CurrentActor, stay_id: int
) -> Response:
    try:
        stays.release_stay(session, actor, stay_id)
    except (InvalidInput, Conflict) as error:
        return _stay_error(request, session, actor, stay_id, error)
    return _back(stay_id)


@router.get("/quarantine/stays/{stay_id}/certificate")
def certificate_page(
    request: Request, session: SessionDep, actor: CurrentActor, stay_id: int
) -> Response:
    certificate = stay_board.release_certificate(session, actor, stay_id)
    return render(
        request,
        "quarantine/certificate.html",
        {
            "title": "stays.certificate",
            "certificate": certificate,
            "stay_id": stay_id,
            "keys": KEYS,
        },
    )


# --- releases due --------------------------------------------------------------------------------


@router.get("/quarantine/releases")
def releases_page(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    on: Annotated[date | None, Query()] = None,
) -> Response:
    on_date = on or clock.today_local()
    groups = stay_board.releases_due(session, actor, on_date)
    return render(
        request,
        "quarantine/releases.html",
        {
            "title": "stays.releases",
            "keys": KEYS,
            "on_date": on_date,
            "groups": groups,
            "hours": f"{get_policy().release_health_check_hours:g}",
        },
    )


# --- home quarantine ----------------------------------------------------------------------------


def _home_context(session: Session, actor: Actor, error: str | None = None) -> dict[str, Any]:
    today = clock.today_local()
    return {
        "title": "stays.home",
        "keys": KEYS,
        "communities": home.home_stays(session, actor),
        "missed": home.missed_check_ins(session, actor, today),
        "candidates": home.home_candidates(session, actor),
        "can_order": actor.can(Permission.QUARANTINE_HOME),
        "grace": f"{get_policy().home_check_grace_hours:g}",
        "error": error,
    }


@router.get("/quarantine/home")
def home_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return render(request, "quarantine/home.html", _home_context(session, actor))


@router.post("/quarantine/home/order")
def home_order(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    kind: Annotated[str, Form(max_length=20)],
    ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    try:
        home.order_home_quarantine(session, actor, kind=kind, risk_person_ids=ids or [])
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _home_context(session, actor, _message(error))
        return render(request, "quarantine/home.html", context, status_code=_status(error))
    return RedirectResponse("/quarantine/home", status_code=303)

"""Pages for cross-infection alerts and designated hospitals: the alert
list (with the positives brought in), one alert with its neighbours, the
case link for the positive and the close form; the hospital board with bed
occupancy by ward level and severity, the cases awaiting admission (those
beyond the policy's hours first) with an admit form, and the patients with
transfer and discharge forms. Handlers parse, call the services and build a
context; ``render`` does the rest."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput
from fangkong.policy import get_policy
from fangkong.quarantine import alert_board, hospital_board, hospitals
from fangkong.quarantine.models import WARD_LEVELS
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.i18n import add_messages
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(
    NavItem("/quarantine/alerts", "交叉感染预警", "Cross-infection alerts",
            Permission.QUARANTINE_READ, order=76)
)  # fmt: skip
register(
    NavItem("/quarantine/hospitals", "定点医院", "Hospitals", Permission.QUARANTINE_READ, order=77)
)

MESSAGES: dict[str, tuple[str, str]] = {
    "qalert.title": ("交叉感染预警", "Cross-infection alerts"),
    "qalert.one": ("预警", "Alert"),
    "qalert.facility": ("隔离点", "Facility"),
    "qalert.room": ("房间", "Room"),
    "qalert.sampled_at": ("阳性采样时间", "Positive sampled at"),
    "qalert.raised_at": ("预警时间", "Raised at"),
    "qalert.neighbours": ("涉及人员", "Neighbours"),
    "qalert.relation": ("关系", "Relation"),
    "qalert.relation.adjacent_room": ("相邻房间", "adjacent room"),
    "qalert.relation.same_floor": ("同楼层", "same floor"),
    "qalert.relation.same_team": ("同一工作组", "same care team"),
    "qalert.category": ("类别", "Category"),
    "qalert.risk_status": ("管控状态", "Control status"),
    "qalert.planned_end": ("计划解除日期", "Planned end"),
    "qalert.status": ("状态", "Status"),
    "qalert.status.open": ("未关闭", "open"),
    "qalert.status.closed": ("已关闭", "closed"),
    "qalert.brought_in": (
        "输入性阳性（入住后首检阳性，无预警）",
        "Brought in (first test positive, no alert)",
    ),
    "qalert.open_case": ("立案", "Open a case"),
    "qalert.case": ("病例", "Case"),
    "qalert.close": ("关闭预警", "Close the alert"),
    "qalert.note": ("处置说明", "How it was handled"),
    "qalert.none": ("没有预警", "No alerts"),
    "hospital.title": ("定点医院", "Designated hospitals"),
    "hospital.occupancy": ("床位使用", "Bed occupancy"),
    "hospital.ward_level": ("病区级别", "Ward level"),
    "hospital.level.": ("未分级", "no level"),
    "hospital.level.mild": ("轻型", "mild"),
    "hospital.level.moderate": ("普通型", "moderate"),
    "hospital.level.severe": ("重型", "severe"),
    "hospital.level.critical": ("危重型", "critical"),
    "hospital.beds_total": ("床位", "Beds"),
    "hospital.occupied": ("在用", "Occupied"),
    "hospital.free": ("空闲", "Free"),
    "hospital.cleaning": ("消毒中", "Cleaning"),
    "hospital.out_of_service": ("停用", "Out of service"),
    "hospital.patients": ("在院患者", "Patients"),
    "hospital.not_receiving": (
        "不能收治（院感布局检查未通过）",
        "Not receiving (zone inspection not passed)",
    ),
    "hospital.awaiting": ("待收治病例", "Cases awaiting admission"),
    "hospital.deadline": ("应收治时限", "Admission due by"),
    "hospital.overdue": ("超时未收治", "Overdue"),
    "hospital.deadline_policy": (
        "确诊后 {hours} 小时内收治",
        "admitted within {hours} h of confirmation",
    ),
    "hospital.held_in": ("当前所在", "Now in"),
    "hospital.admit": ("收治", "Admit"),
    "hospital.hospital": ("医院", "Hospital"),
    "hospital.bed": ("床位号", "Bed"),
    "hospital.bed_auto": ("自动分配", "choose a free bed"),
    "hospital.severity": ("病情", "Severity"),
    "hospital.severity_of_case": ("按病例", "the case's"),
    "hospital.transfer": ("转院/转区", "Transfer"),
    "hospital.discharge": ("出院", "Discharge"),
    "hospital.admitted_at": ("入院时间", "Admitted at"),
}
add_messages(MESSAGES)


def _message(error: InvalidInput | Conflict) -> str:
    return f"{error.field}: {error.reason}" if isinstance(error, InvalidInput) else error.message


def _optional_int(field: str, value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(field, "must be a number")
    return int(value)


# --- alerts ------------------------------------------------------------------------------


@router.get("/quarantine/alerts")
def alerts_page(
    request: Request, session: SessionDep, actor: CurrentActor, facility_id: int | None = None
) -> Response:
    board = alert_board.alerts_board(session, actor, facility_id)
    return render(
        request,
        "quarantine/alerts.html",
        {
            "title": "qalert.title",
            "alerts": board.alerts,
            "brought_in": board.brought_in,
            "can_open_case": actor.can(Permission.TRACING_CASES),
        },
    )


def _alert_context(
    session: Session, actor: Actor, alert_id: int, error: str | None = None
) -> dict[str, Any]:
    return {
        "title": "qalert.one",
        "detail": alert_board.get_alert(session, actor, alert_id),
        "can_open_case": actor.can(Permission.TRACING_CASES),
        "can_close": actor.can(Permission.QUARANTINE_STAYS),
        "error": error,
    }


@router.get("/quarantine/alerts/{alert_id}")
def alert_page(
    request: Request, session: SessionDep, actor: CurrentActor, alert_id: int
) -> Response:
    return render(request, "quarantine/alert.html", _alert_context(session, actor, alert_id))


@router.post("/quarantine/alerts/{alert_id}/close")
def alert_close(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    alert_id: int,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        alert_board.close_alert(session, actor, alert_id, note)
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _alert_context(session, actor, alert_id, _message(error))
        return render(request, "quarantine/alert.html", context, status_code=422)
    return RedirectResponse(f"/quarantine/alerts/{alert_id}", status_code=303)


# --- hospitals ----------------------------------------------------------------------------


def _hospitals_context(session: Session, actor: Actor, error: str | None = None) -> dict[str, Any]:
    now = clock.now()
    awaiting = hospital_board.cases_awaiting_admission(session, actor, now)
    awaiting.sort(key=lambda c: (not c.overdue, c.confirmed_at))
    occupancy = hospital_board.bed_occupancy(session, actor)
    return {
        "title": "hospital.title",
        "occupancy": occupancy,
        "receiving": [o.facility for o in occupancy if o.receiving],
        "awaiting": awaiting,
        "patients": hospital_board.list_patients(session, actor),
        "severities": WARD_LEVELS[1:],
        "deadline_hours": f"{get_policy().hospital_admission_deadline_hours:g}",
        "can_admit": actor.can(Permission.QUARANTINE_STAYS),
        "error": error,
    }


@router.get("/quarantine/hospitals")
def hospitals_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return render(request, "quarantine/hospitals.html", _hospitals_context(session, actor))


def _hospitals_error(
    request: Request, session: Session, actor: Actor, error: InvalidInput | Conflict
) -> Response:
    session.rollback()
    context = _hospitals_context(session, actor, _message(error))
    return render(request, "quarantine/hospitals.html", context, status_code=422)


def _chosen_hospital(facility_id: str) -> int:
    hospital = _optional_int("facility_id", facility_id)
    if hospital is None:
        raise InvalidInput("facility_id", "choose a hospital (选择医院)")
    return hospital


@router.post("/quarantine/hospitals/admit")
def hospital_admit(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    case_id: Annotated[int, Form()],
    facility_id: Annotated[str, Form(max_length=12)] = "",
    bed: Annotated[str, Form(max_length=40)] = "",
    severity: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    try:
        hospital = _chosen_hospital(facility_id)
        hospitals.admit_case(
            session,
            actor,
            case_id,
            hospital,
            hospitals.bed_by_number(session, actor, hospital, bed),
            severity=severity.strip(),
        )
    except (InvalidInput, Conflict) as error:
        return _hospitals_error(request, session, actor, error)
    return RedirectResponse("/quarantine/hospitals", status_code=303)


@router.post("/quarantine/hospitals/stays/{stay_id}/transfer")
def hospital_transfer(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    stay_id: int,
    facility_id: Annotated[str, Form(max_length=12)] = "",
    bed: Annotated[str, Form(max_length=40)] = "",
    severity: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    try:
        hospital = _chosen_hospital(facility_id)
        hospitals.transfer_patient(
            session,
            actor,
            stay_id,
            hospital,
            hospitals.bed_by_number(session, actor, hospital, bed),
            severity.strip() or None,
        )
    except (InvalidInput, Conflict) as error:
        return _hospitals_error(request, session, actor, error)
    return RedirectResponse("/quarantine/hospitals", status_code=303)


@router.post("/quarantine/hospitals/stays/{stay_id}/discharge")
def hospital_discharge(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    stay_id: int,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        hospitals.discharge_patient(session, actor, stay_id, note)
    except (InvalidInput, Conflict) as error:
        return _hospitals_error(request, session, actor, error)
    return RedirectResponse("/quarantine/hospitals", status_code=303)

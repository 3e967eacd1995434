"""Facility pages: the list of facilities with their room counts and
whether each may receive persons, a new facility; a facility's board (rooms
as a grid by building and floor, coloured by status) with its rooms added
from a building layout, its zone inspections, its staff and the rooms
marked cleaned; and the capacity page (rooms by region as a chart, the
forecast of rooms and the regions that will run out).

Handlers parse the form, call :mod:`fangkong.quarantine.facilities` or
:mod:`fangkong.quarantine.capacity` and build a context; a refused form is
shown again with the error naming the field and the values typed kept."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.policy import get_policy
from fangkong.quarantine import capacity, facilities
from fangkong.quarantine.capacity_rules import LEVELS
from fangkong.quarantine.models import FACILITY_KINDS, ROOM_STATUSES, WARD_LEVELS, Room
from fangkong.quarantine.rules import (
    FACILITY_KIND_LABELS,
    ROOM_STATUS_LABELS,
    ZONE_CHECKLIST,
    RoomLayout,
    judge_inspection,
)
from fangkong.quarantine.scope import staffed_facility_ids
from fangkong.regions.service import region_names
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.i18n import Lang, add_messages, lang_of, translate
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(
    NavItem(
        "/quarantine/facilities", "隔离场所", "Facilities", Permission.QUARANTINE_READ, order=70
    )
)
register(NavItem("/quarantine/capacity", "容量", "Capacity", Permission.QUARANTINE_READ, order=78))

MESSAGES: dict[str, tuple[str, str]] = {
    "quarantine.facilities.title": ("隔离场所", "Facilities"),
    "quarantine.facilities.name": ("场所名称", "Facility name"),
    "quarantine.facilities.kind": ("类型", "Kind"),
    "quarantine.facilities.region": ("所在区划", "Region"),
    "quarantine.facilities.address": ("地址", "Address"),
    "quarantine.facilities.rooms": ("房间/床位", "Rooms and beds"),
    "quarantine.facilities.persons": ("在住人数", "Persons staying"),
    "quarantine.facilities.receiving": ("可接收", "May receive"),
    "quarantine.facilities.not_receiving": ("不可接收", "May not receive"),
    "quarantine.facilities.yes": ("是", "yes"),
    "quarantine.facilities.no": ("否", "no"),
    "quarantine.facilities.create": ("新建场所", "New facility"),
    "quarantine.facilities.board": ("房态图", "Board"),
    "quarantine.facilities.building": ("楼栋", "Building"),
    "quarantine.facilities.floor": ("楼层", "Floor"),
    "quarantine.facilities.first_floor": ("起始楼层", "First floor"),
    "quarantine.facilities.last_floor": ("结束楼层", "Last floor"),
    "quarantine.facilities.rooms_per_floor": ("每层房间数", "Rooms a floor"),
    "quarantine.facilities.capacity": ("每间人数", "Persons a room"),
    "quarantine.facilities.private_bathroom": ("独立卫生间", "Private bathroom"),
    "quarantine.facilities.room_kind": ("房间或床位", "Room or bed"),
    "quarantine.facilities.kind_room": ("房间", "room"),
    "quarantine.facilities.kind_bed": ("床位", "bed"),
    "quarantine.facilities.ward_level": ("病区级别", "Ward level"),
    "quarantine.facilities.add_rooms": ("按楼栋布局添加房间", "Add rooms from a building layout"),
    "quarantine.facilities.added": ("已添加 {n} 间", "{n} added"),
    "quarantine.facilities.inspection": ("三区两通道检查", "Zone inspection (三区两通道)"),
    "quarantine.facilities.latest_inspection": ("最近一次检查", "Latest inspection"),
    "quarantine.facilities.no_inspection": (
        "尚无检查记录，不能接收人员",
        "No inspection on record: may not receive persons",
    ),
    "quarantine.facilities.passed": ("通过", "passed"),
    "quarantine.facilities.failed": ("未通过", "failed"),
    "quarantine.facilities.inspected_on": ("检查日期", "Inspected on"),
    "quarantine.facilities.inspector": ("检查人", "Inspector"),
    "quarantine.facilities.note": ("备注", "Note"),
    "quarantine.facilities.record_inspection": ("记录检查", "Record the inspection"),
    "quarantine.facilities.staff": ("工作人员", "Staff"),
    "quarantine.facilities.no_staff": ("尚未指定隔离点管理员", "No facility manager listed"),
    "quarantine.facilities.assign": ("指定为本场所管理员", "List as this facility's manager"),
    "quarantine.facilities.room_status": ("房间状态", "Room status"),
    "quarantine.facilities.room": ("房间", "Room"),
    "quarantine.facilities.set_status": ("更新状态", "Set the status"),
    "quarantine.facilities.cleaned": ("已消杀", "Cleaned"),
    "quarantine.facilities.day": ("第 {n} 天", "day {n}"),
    "quarantine.facilities.no_rooms": ("尚无房间", "No rooms yet"),
    "quarantine.facilities.total": ("合计", "Total"),
    "quarantine.capacity.title": ("隔离容量", "Capacity"),
    "quarantine.capacity.by_region": ("各区划房间与床位", "Rooms and beds by region"),
    "quarantine.capacity.level": ("汇总到", "Rolled up to"),
    "quarantine.capacity.level_community": ("社区", "communities"),
    "quarantine.capacity.level_township": ("乡镇街道", "townships"),
    "quarantine.capacity.level_county": ("县区", "counties"),
    "quarantine.capacity.level_city": ("市", "city"),
    "quarantine.capacity.direct": ("（直属）", " (directly)"),
    "quarantine.capacity.facilities": ("场所数", "Facilities"),
    "quarantine.capacity.rooms": ("房间", "Rooms"),
    "quarantine.capacity.beds": ("床位", "Beds"),
    "quarantine.capacity.receivable": ("可立即接收", "Free to receive now"),
    "quarantine.capacity.by_facility": ("各场所明细", "By facility"),
    "quarantine.capacity.forecast": ("房间需求预测", "Room forecast"),
    "quarantine.capacity.forecast_help": (
        "未来 {days} 天：现有空闲房间 − 待安置人员 − 预计新增密接/次密接（近 {days} 天日均）"
        " + 当天到期解除 + 消杀中房间（次日可用）",
        "Next {days} days: rooms free now − persons waiting for a room − expected new close "
        "and secondary contacts (the daily mean of the last {days} days) + releases due that "
        "day + rooms being cleaned (back the next day)",
    ),
    "quarantine.capacity.region": ("区划", "Region"),
    "quarantine.capacity.free_now": ("现有空闲", "Free now"),
    "quarantine.capacity.placements_due": ("待安置", "Waiting for a room"),
    "quarantine.capacity.new_contacts": (
        "近 {days} 天新增密接/次密接",
        "New close and secondary contacts, last {days} days",
    ),
    "quarantine.capacity.day": ("日期", "Day"),
    "quarantine.capacity.expected_new": ("预计新增", "Expected new"),
    "quarantine.capacity.releases": ("到期解除", "Releases due"),
    "quarantine.capacity.cleaning_back": ("消杀后可用", "Back from cleaning"),
    "quarantine.capacity.balance": ("剩余房间", "Rooms left"),
    "quarantine.capacity.alerts": ("容量预警", "Capacity alerts"),
    "quarantine.capacity.command_view": (
        "容量预测与预警是指挥部视图：以辖区全部待安置人员对照全部隔离点，单个隔离点看不出缺口",
        "The forecast and its alerts are a command view: a region's demand against all its "
        "sites, which one site alone cannot show",
    ),
    "quarantine.capacity.no_alerts": (
        "预测期内各区划房间充足",
        "No region runs out within the forecast",
    ),
    "quarantine.capacity.runs_out": (
        "{name} 预计 {day} 房间不足，缺口约 {n} 间",
        "{name} runs out of rooms on {day}, about {n} short",
    ),
    "quarantine.capacity.show": ("查看", "Show"),
}
add_messages(MESSAGES)


def _label(labels: dict[str, tuple[str, str]], lang: Lang) -> dict[str, str]:
    return {key: pair[1] if lang == "en" else pair[0] for key, pair in labels.items()}


def _labels(request: Request) -> dict[str, Any]:
    lang = lang_of(request)
    return {
        "status_labels": _label(ROOM_STATUS_LABELS, lang),
        "kind_labels": _label(FACILITY_KIND_LABELS, lang),
        "checklist": _label(ZONE_CHECKLIST, lang),
        "statuses": ROOM_STATUSES,
    }


def _field_error(error: InvalidInput | Conflict) -> tuple[str, str]:
    """(field, message) for a refused form; the message names the field."""
    if isinstance(error, InvalidInput):
        return error.field, f"{error.field}: {error.reason}"
    return "", error.message


def _int(field: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a whole number") from None


def _date(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a date (e.g. 2022-03-14)") from None


# --- the facility list -------------------------------------------------------------------


EMPTY_FACILITY = {"name": "", "kind": "quarantine_site", "region_code": "", "address": ""}


def _list_context(
    request: Request,
    session: Session,
    actor: Actor,
    form: dict[str, str] | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    return {
        **_labels(request),
        "title": "quarantine.facilities.title",
        "summaries": facilities.list_facilities(session, actor),
        "kinds": FACILITY_KINDS,
        "can_manage": actor.can(Permission.QUARANTINE_FACILITIES),
        "form": form or {**EMPTY_FACILITY, "region_code": actor.jurisdiction},
        "error_field": error[0] if error else "",
        "error": error[1] if error else None,
    }


@router.get("/quarantine/facilities")
def facilities_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    context = _list_context(request, session, actor)
    return render(request, "quarantine/facilities.html", context)


@router.post("/quarantine/facilities")
def facility_create(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    name: Annotated[str, Form(max_length=300)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    region_code: Annotated[str, Form(max_length=20)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    form = {"name": name, "kind": kind, "region_code": region_code, "address": address}
    try:
        facility = facilities.create_facility(
            session, actor, name=name, kind=kind, region_code=region_code, address=address
        )
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _list_context(request, session, actor, form, _field_error(error))
        return render(request, "quarantine/facilities.html", context, status_code=422)
    return RedirectResponse(f"/quarantine/facilities/{facility.id}", status_code=303)


# --- the board ------------------------------------------------------------------------------


EMPTY_LAYOUT = {
    "building": "",
    "first_floor": "1",
    "last_floor": "1",
    "rooms_per_floor": "10",
    "capacity": "1",
    "private_bathroom": "1",
    "kind": "room",
    "ward_level": "",
}


def _board_context(
    request: Request,
    session: Session,
    actor: Actor,
    facility_id: int,
    *,
    form_name: str = "",
    form: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    board = capacity.facility_board(session, actor, facility_id)
    latest = facilities.latest_inspection(session, board.facility.id)
    can_manage = actor.can(Permission.QUARANTINE_FACILITIES)
    return {
        **_labels(request),
        "title": "quarantine.facilities.board",
        "board": board,
        "facility": board.facility,
        "latest": latest,
        "failed_items": judge_inspection(latest.items).failed_items if latest else (),
        "receiving": facility_id in facilities.receiving_ids(session, [facility_id]),
        "staff": capacity.facility_staff(session, actor, facility_id),
        "candidates": capacity.staff_candidates(session, actor) if can_manage else [],
        "can_manage": can_manage,
        "can_set_status": actor.can(Permission.QUARANTINE_STAYS),
        "ward_levels": WARD_LEVELS,
        "settable": [s for s in ROOM_STATUSES if s != "occupied"],
        "free_rooms": [c for f in board.floors for c in f.cells if c.status != "occupied"],
        "today": clock.today_local().isoformat(),
        "form_name": form_name,
        "layout_form": form if form_name == "rooms" and form else EMPTY_LAYOUT,
        "inspection_form": form if form_name == "inspection" and form else {},
        "error_field": error[0] if error else "",
        "error": error[1] if error else None,
        "notice": notice,
    }


@router.get("/quarantine/facilities/{facility_id}")
def board_page(
    request: Request, session: SessionDep, actor: CurrentActor, facility_id: int
) -> Response:
    context = _board_context(request, session, actor, facility_id)
    return render(request, "quarantine/facility.html", context)


def _board_refused(
    request: Request,
    session: Session,
    actor: Actor,
    facility_id: int,
    error: InvalidInput | Conflict,
    form_name: str = "",
    form: dict[str, Any] | None = None,
) -> Response:
    session.rollback()
    context = _board_context(
        request, session, actor, facility_id, form_name=form_name, form=form,
        error=_field_error(error),
    )  # fmt: skip
    return render(request, "quarantine/facility.html", context, status_code=422)


def _to_board(facility_id: int) -> Response:
    return RedirectResponse(f"/quarantine/facilities/{facility_id}", status_code=303)


@router.post("/quarantine/facilities/{facility_id}/rooms")
def rooms_add(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    facility_id: int,
    building: Annotated[str, Form(max_length=100)] = "",
    first_floor: Annotated[str, Form(max_length=10)] = "",
    last_floor: Annotated[str, Form(max_length=10)] = "",
    rooms_per_floor: Annotated[str, Form(max_length=10)] = "",
    capacity_: Annotated[str, Form(alias="capacity", max_length=10)] = "1",
    private_bathroom: Annotated[str, Form(max_length=4)] = "",
    kind: Annotated[str, Form(max_length=8)] = "room",
    ward_level: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    form = {
        "building": building, "first_floor": first_floor, "last_floor": last_floor,
        "rooms_per_floor": rooms_per_floor, "capacity": capacity_,
        "private_bathroom": private_bathroom, "kind": kind, "ward_level": ward_level,
    }  # fmt: skip
    try:
        layout = RoomLayout(
            building=building.strip(),
            first_floor=_int("first_floor", first_floor),
            last_floor=_int("last_floor", last_floor),
            rooms_per_floor=_int("rooms_per_floor", rooms_per_floor),
            capacity=_int("capacity", capacity_),
            private_bathroom=bool(private_bathroom),
            kind=kind,
            ward_level=ward_level,
        )
        facilities.add_rooms(session, actor, facility_id, layout)
    except (InvalidInput, Conflict) as error:
        return _board_refused(request, session, actor, facility_id, error, "rooms", form)
    return _to_board(facility_id)


@router.post("/quarantine/facilities/{facility_id}/inspections")
def inspection_record(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    facility_id: int,
    inspected_on: Annotated[str, Form(max_length=20)] = "",
    inspector: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    items: Annotated[list[str] | None, Form()] = None,
) -> Response:
    checked = set(items or [])
    form = {"inspected_on": inspected_on, "inspector": inspector, "note": note, "items": checked}
    try:
        facilities.record_inspection(
            session,
            actor,
            facility_id,
            items={key: key in checked for key in ZONE_CHECKLIST} | dict.fromkeys(checked, True),
            inspected_on=_date("inspected_on", inspected_on),
            inspector=inspector,
            note=note,
        )
    except (InvalidInput, Conflict) as error:
        return _board_refused(request, session, actor, facility_id, error, "inspection", form)
    return _to_board(facility_id)


@router.post("/quarantine/facilities/{facility_id}/staff")
def staff_assign(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    facility_id: int,
    user_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        facilities.assign_staff(session, actor, facility_id, _int("user_id", user_id))
    except (InvalidInput, Conflict) as error:
        return _board_refused(request, session, actor, facility_id, error)
    return _to_board(facility_id)


@router.post("/quarantine/facilities/{facility_id}/room-status")
def room_status_set(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    facility_id: int,
    room_id: Annotated[str, Form(max_length=20)] = "",
    status: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        room = session.get(Room, _int("room_id", room_id))
        if room is None or room.facility_id != facility_id:
            raise NotFound("room not found")
        facilities.set_room_status(session, actor, room.id, status)
    except (InvalidInput, Conflict) as error:
        return _board_refused(request, session, actor, facility_id, error)
    return _to_board(facility_id)


# --- capacity ----------------------------------------------------------------------------------


STATUS_COLOURS = {
    "ready": "#188038",
    "occupied": "#b3261e",
    "cleaning": "#f9ab00",
    "out_of_service": "#80868b",
}


@router.get("/quarantine/capacity")
def capacity_page(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    level: Annotated[str, Query(max_length=12)] = "county",
    region: Annotated[str, Query(max_length=12, pattern=r"^\d*$")] = "",
) -> Response:
    labels = _labels(request)
    table = capacity.capacity_by_region(session, actor, level)
    watched = capacity.forecast_regions(session, actor)
    forecasts = {code: capacity.room_forecast(session, actor, code) for code in watched}
    alerts = capacity.short_of_rooms(list(forecasts.values()))
    chosen = region or (alerts[0].code if alerts else (watched[0] if watched else ""))
    forecast = (
        forecasts.get(chosen) or capacity.room_forecast(session, actor, chosen) if chosen else None
    )
    names = [r.name for r in table.regions]
    chart = {
        "names": names,
        "series": [
            {
                "name": labels["status_labels"][status],
                "colour": STATUS_COLOURS[status],
                "values": [
                    getattr(r.rooms, status) + getattr(r.beds, status) for r in table.regions
                ],
            }
            for status in ROOM_STATUSES
        ],
    }
    forecast_chart = (
        {
            "names": [d.day.strftime("%m-%d") for d in forecast.forecast.days],
            "values": [round(float(d.balance), 1) for d in forecast.forecast.days],
            "title": forecast.name,
            "kind": "line",
        }
        if forecast
        else None
    )
    watched_names = region_names(session, set(watched))
    context = {
        **labels,
        "title": "quarantine.capacity.title",
        "command_view": staffed_facility_ids(session, actor) is None,
        "levels": LEVELS,
        "level_labels": {
            name: translate(lang_of(request), f"quarantine.capacity.level_{name}")
            for name in LEVELS
        },
        "level": level,
        "table": table,
        "by_facility": table.by_facility,
        "chart": chart,
        "watched": [(code, watched_names.get(code, code)) for code in watched],
        "region": chosen,
        "forecast": forecast,
        "forecast_chart": forecast_chart,
        "alerts": alerts,
        "days": get_policy().capacity_forecast_days,
    }
    return render(request, "quarantine/capacity.html", context)

"""The placement page (集中隔离安置): the persons waiting for a room,
filtered; the quarantine sites with their free rooms; a preview of the
batch (who goes where, how many rooms are missing and where else rooms are
free); the confirmation that places it. Handlers parse, call
:mod:`fangkong.quarantine.placement` and build a context."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.errors import Conflict, FangkongError, InvalidInput
from fangkong.quarantine import placement, placement_choices
from fangkong.quarantine.placement_rules import Companion
from fangkong.tracing.models import CATEGORIES
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.i18n import add_messages
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(
    NavItem(
        "/quarantine/placement", "集中隔离安置", "Placement", Permission.QUARANTINE_STAYS, order=72
    )
)
add_messages(
    {
        "placement.title": ("集中隔离安置", "Placement in centralized quarantine"),
        "placement.waiting": ("待安置人员", "Waiting for a room"),
        "placement.sites": ("隔离点", "Quarantine sites"),
        "placement.free_rooms": ("空闲单间（独立卫生间）", "Free rooms (private bathroom)"),
        "placement.not_receiving": ("不可接收", "cannot receive"),
        "placement.all_matching": ("安置筛选出的全部人员", "Place everyone the filter selects"),
        "placement.exceptions": ("陪护例外", "Exceptions"),
        "placement.exceptions_help": (
            "每行一对风险人员编号：陪护者,被陪护者（照护人员与需照护者）；14岁以下儿童与同户家长自动同住",
            "One pair of risk-person numbers a line: carer, person needing care; a child "
            "below the policy age shares with an adult of their household on its own",
        ),
        "placement.preview": ("预览", "Preview"),
        "placement.confirm": ("确认安置", "Confirm placement"),
        "placement.plan": ("安置方案", "Plan"),
        "placement.persons": ("人数", "Persons"),
        "placement.to_place": ("可安置", "Placed"),
        "placement.unplaced": ("未安置", "Without a room"),
        "placement.rooms_missing": ("缺少房间", "Rooms missing"),
        "placement.groups_one_floor": ("同层安置的暴露组", "Exposure groups on one floor"),
        "placement.split_groups": ("跨楼层的暴露组", "Groups split across floors"),
        "placement.children": ("与家长同住的儿童", "Children with a parent"),
        "placement.children_alone": ("无家长同住的儿童", "Children without a parent"),
        "placement.elsewhere": ("辖区内其他空房", "Free rooms elsewhere in your jurisdiction"),
        "placement.other_site": ("其他隔离点", "another site"),
        "placement.placed": ("已安置", "Placed"),
        "placement.by_facility": ("各隔离点", "By site"),
        "placement.floors": ("楼层数", "Floors"),
        "placement.age": ("年龄", "Age"),
        "placement.household": ("户", "Household"),
        "placement.number": ("编号", "No."),
    }
)

Code = Annotated[str, Query(max_length=12, pattern=r"^\d*$")]
PAGE = 200


def _error(error: FangkongError) -> str:
    if isinstance(error, InvalidInput):
        return f"{error.field}: {error.reason}"
    return error.message


def _context(
    session: Session,
    actor: Actor,
    wanted: placement_choices.CandidateFilter,
    *,
    offset: int = 0,
    chosen: list[int] | None = None,
    facilities: list[int] | None = None,
    exceptions: str = "",
    preview: placement.PlacementPreview | None = None,
    placed: placement.PlacementResult | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    rows, total = placement_choices.placement_candidates(
        session, actor, wanted, offset=offset, limit=PAGE
    )
    shown = preview or (placed.preview if placed else None)
    return {
        "title": "placement.title",
        "wanted": wanted,
        "rows": rows,
        "total": total,
        "offset": offset,
        "page": PAGE,
        "categories": CATEGORIES,
        "sites": placement_choices.quarantine_sites(session, actor),
        "chosen": set(chosen or []),
        "facilities": set(facilities or []),
        "exceptions": exceptions,
        "preview": preview,
        "placed": placed,
        "shown": shown,
        "shortfall": placement.shortfall_message(shown) if shown else "",
        "shared": sum(1 for a in shown.plan.assignments if a.lead_person_id is not None)
        if shown
        else 0,
        "names": {f.id: f.name for f in shown.facilities} if shown else {},
        "error": error,
    }


@router.get("/quarantine/placement")
def placement_page(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    region: Code = "",
    category: Annotated[str, Query(max_length=16)] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    wanted = placement_choices.CandidateFilter(region, category)
    return render(
        request, "quarantine/placement.html", _context(session, actor, wanted, offset=offset)
    )


def parse_exceptions(text: str) -> list[Companion]:
    """One pair a line: the carer's risk-person number, then the number of
    the person they care for."""
    pairs = []
    for n, line in enumerate(text.splitlines(), start=1):
        cells = [c.strip() for c in line.replace("，", ",").split(",") if c.strip()]
        if not cells:
            continue
        if len(cells) != 2 or not all(c.isdigit() for c in cells):
            raise InvalidInput(
                "exceptions", f"第 {n} 行应为两个编号 (line {n}: two risk-person numbers)"
            )
        pairs.append(Companion(int(cells[0]), int(cells[1]), "carer"))
    return pairs


@router.post("/quarantine/placement")
def placement_submit(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    action: Annotated[str, Form(max_length=16)],
    ids: Annotated[list[int], Form()] = [],  # noqa: B006  (FastAPI form lists)
    facility_ids: Annotated[list[int], Form()] = [],  # noqa: B006
    exceptions: Annotated[str, Form(max_length=20_000)] = "",
    all_matching: Annotated[bool, Form()] = False,
    region: Annotated[str, Form(max_length=12, pattern=r"^\d*$")] = "",
    category: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    require(actor, Permission.QUARANTINE_STAYS)
    wanted = placement_choices.CandidateFilter(region, category)
    chosen: list[int] = ids
    try:
        if all_matching:
            chosen = placement_choices.candidate_ids(session, actor, wanted)
        pairs = parse_exceptions(exceptions)
        sites = facility_ids or None
        if action == "preview":
            preview = placement.preview_placement(session, actor, sites, chosen, pairs)
            context = _context(
                session,
                actor,
                wanted,
                chosen=chosen,
                facilities=facility_ids,
                exceptions=exceptions,
                preview=preview,
            )
        elif action == "confirm":
            placed = placement.place_batch(session, actor, sites, chosen, pairs)
            context = _context(session, actor, wanted, placed=placed)
        else:
            raise InvalidInput("action", "preview or confirm")
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _context(
            session,
            actor,
            wanted,
            chosen=chosen,
            facilities=facility_ids,
            exceptions=exceptions,
            error=_error(error),
        )
        return render(request, "quarantine/placement.html", context, status_code=422)
    return render(request, "quarantine/placement.html", context)

"""Registry pages: search, person, household, import, duplicates, export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.errors import InvalidInput, UnreadableFile
from fangkong.people.importing import import_people, rejects_report_rows
from fangkong.people.service import (
    EXPORT_HEADER,
    export_rows,
    get_person,
    household_members,
    list_duplicate_suspects,
    resolve_duplicate_suspect,
    search_persons,
    update_person,
)
from fangkong.tabular import write_rows
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.files import attachment, read_upload
from fangkong.web.nav import NavItem, register
from fangkong.web.render import is_htmx, render

router = APIRouter(include_in_schema=False)
register(NavItem("/people", "人口底数", "Registry", Permission.REGISTRY_READ, order=10))
register(NavItem("/import", "导入", "Import", Permission.REGISTRY_IMPORT, order=30))
register(NavItem("/duplicates", "疑似重复", "Duplicates", Permission.REGISTRY_READ, order=40))

PAGE_SIZE = 50
REJECTS_SHOWN = 50

RegionPrefix = Annotated[str, Query(max_length=12, pattern=r"^\d*$")]
SearchText = Annotated[str, Query(max_length=100)]


# --- search and export --------------------------------------------------------


def search_context(
    session: Session, actor: Actor, q: str, region: str, offset: int
) -> dict[str, Any]:
    persons, total = search_persons(
        session, actor, q, region=region, limit=PAGE_SIZE, offset=offset
    )
    return {
        "title": "people.title",
        "persons": persons,
        "total": total,
        "q": q,
        "region": region,
        "offset": offset,
        "limit": PAGE_SIZE,
        "params": {"q": q, "region": region},
    }


@router.get("/people")
def people_search(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    q: SearchText = "",
    region: RegionPrefix = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    return render(request, "people/search.html", search_context(session, actor, q, region, offset))


def _export(session: Session, actor: Actor, q: str, region: str, fmt: str) -> Response:
    rows = export_rows(session, actor, q, region=region)
    suffix = region or actor.jurisdiction or "all"
    return attachment(write_rows(EXPORT_HEADER, rows, fmt), fmt, f"registry-{suffix}.{fmt}")


@router.get("/people/export.csv")
def people_export_csv(
    session: SessionDep, actor: CurrentActor, q: SearchText = "", region: RegionPrefix = ""
) -> Response:
    """The search as CSV in the import format, masked."""
    return _export(session, actor, q, region, "csv")


@router.get("/people/export.xlsx")
def people_export_xlsx(
    session: SessionDep, actor: CurrentActor, q: SearchText = "", region: RegionPrefix = ""
) -> Response:
    return _export(session, actor, q, region, "xlsx")


# --- one person, one household ------------------------------------------------


def person_context(session: Session, actor: Actor, person_id: int) -> dict[str, Any]:
    person = get_person(session, actor, person_id)
    return {
        "title": "people.person",
        "person": person,
        "can_edit": actor.can(Permission.REGISTRY_WRITE),
        "unmasked": actor.can(Permission.REGISTRY_READ_PERSONAL),
        "saved": False,
        "error": None,
        "form": {"name": person.name, "phone": person.phone, "relation": person.relation},
    }


@router.get("/people/{person_id}")
def person_page(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    person_id: int,
    saved: bool = False,
) -> Response:
    context = person_context(session, actor, person_id)
    context["saved"] = saved
    return render(request, "people/person.html", context)


@router.post("/people/{person_id}")
def person_edit(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    person_id: int,
    name: Annotated[str | None, Form(max_length=100)] = None,
    phone: Annotated[str | None, Form(max_length=40)] = None,
    relation: Annotated[str | None, Form(max_length=16)] = None,
) -> Response:
    try:
        update_person(session, actor, person_id, name=name, phone=phone, relation=relation)
    except InvalidInput as error:
        session.rollback()
        context = person_context(session, actor, person_id)
        context["error"] = f"{error.field}: {error.reason}"
        context["form"] = {"name": name, "phone": phone, "relation": relation}
        return render(request, "people/person.html", context, status_code=422)
    if is_htmx(request):
        context = person_context(session, actor, person_id)
        context["saved"] = True
        return render(request, "people/person.html", context)
    return RedirectResponse(f"/people/{person_id}?saved=true", status_code=303)


@router.get("/households/{household_id}")
def household_page(
    request: Request, session: SessionDep, actor: CurrentActor, household_id: int
) -> Response:
    household, members = household_members(session, actor, household_id)
    context = {
        "title": "people.household",
        "household": household,
        "members": members,
        "unmasked": actor.can(Permission.REGISTRY_READ_PERSONAL),
    }
    return render(request, "people/household.html", context)


# --- import ---------------------------------------------------------------------


def import_context(actor: Actor) -> dict[str, Any]:
    return {
        "title": "import.title",
        "allowed": actor.can(Permission.REGISTRY_IMPORT),
        "result": None,
        "rejects": [],
        "error": None,
        "error_key": None,
    }


@router.get("/import")
def import_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "people/import.html", import_context(actor))


@router.post("/import")
def import_upload(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    context = import_context(actor)
    require(actor, Permission.REGISTRY_IMPORT)
    if file is None or not file.filename:
        context["error_key"] = "import.no_file"
        return render(request, "people/import.html", context, status_code=422)
    data = read_upload(file)
    try:
        result = import_people(session, actor, data, file.filename)
    except UnreadableFile as error:
        context["error_key"] = "import.failed"
        context["error"] = error.message
        return render(request, "people/import.html", context, status_code=422)
    context["result"] = result
    context["rejects"] = result.rejects[:REJECTS_SHOWN]
    return render(request, "people/import.html", context)


@router.get("/import/{batch_id}/rejects.csv")
def import_rejects_csv(session: SessionDep, actor: CurrentActor, batch_id: int) -> Response:
    """The rejected rows with their original columns, ready to fix and re-import."""
    require(actor, Permission.REGISTRY_IMPORT)  # the report holds whole identity numbers
    header, rows = rejects_report_rows(session, actor, batch_id)
    return attachment(write_rows(header, rows, "csv"), "csv", f"rejects-{batch_id}.csv")


# --- duplicates -----------------------------------------------------------------


def duplicates_context(session: Session, actor: Actor) -> dict[str, Any]:
    return {
        "title": "duplicates.title",
        "suspects": list_duplicate_suspects(session, actor),
        "can_resolve": actor.can(Permission.REGISTRY_RESOLVE_DUPLICATES),
        "resolved": False,
    }


@router.get("/duplicates")
def duplicates_page(
    request: Request, session: SessionDep, actor: CurrentActor, resolved: bool = False
) -> Response:
    context = duplicates_context(session, actor)
    context["resolved"] = resolved
    return render(request, "people/duplicates.html", context)


@router.post("/duplicates/{suspect_id}/resolve")
def duplicates_resolve(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    suspect_id: int,
    same_person: Annotated[bool, Form()] = False,
    keep_person_id: Annotated[int | None, Form()] = None,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    resolve_duplicate_suspect(
        session,
        actor,
        suspect_id,
        same_person=same_person,
        keep_person_id=keep_person_id,
        note=note,
    )
    if is_htmx(request):
        context = duplicates_context(session, actor)
        context["resolved"] = True
        return render(request, "people/duplicates.html", context)
    return RedirectResponse("/duplicates?resolved=true", status_code=303)

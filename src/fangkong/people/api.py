"""The registry as JSON under ``/api``: search, read, change, import, export,
households and duplicate suspects."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from fangkong.access.rules import Permission
from fangkong.access.service import require
from fangkong.people.importing import import_people, rejects_report_rows
from fangkong.people.service import (
    EXPORT_HEADER,
    MAX_PAGE,
    PersonView,
    SuspectView,
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
from fangkong.web.files import RejectOut, attachment, read_upload, rejects_out

router = APIRouter(prefix="/api", tags=["people"])

Format = Literal["csv", "xlsx"]
RegionPrefix = Annotated[
    str, Query(max_length=12, pattern=r"^\d*$", description="region-code prefix")
]
SearchText = Annotated[
    str, Query(max_length=100, description="name, whole identity number or phone")
]


class PersonPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[PersonView]


class PersonPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40, description="empty string removes it")
    relation: str | None = Field(None, max_length=16)


class ImportOut(BaseModel):
    batch_id: int
    accepted: int
    unchanged: int
    rejected: int
    inserted: int
    updated: int
    duplicate_suspects: int
    risk_records_moved: int  # risk records that followed a person to their new community
    notices: list[str]
    rejects: list[RejectOut]


class HouseholdOut(BaseModel):
    id: int
    code: str
    region_code: str
    members: list[PersonView]


class ResolveIn(BaseModel):
    same_person: bool
    keep_person_id: int | None = Field(None, description="required when same_person")
    note: str = Field("", max_length=500)


@router.get("/people", response_model=PersonPage)
def api_search_people(
    session: SessionDep,
    actor: CurrentActor,
    q: SearchText = "",
    region: RegionPrefix = "",
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PersonPage:
    persons, total = search_persons(session, actor, q, region=region, limit=limit, offset=offset)
    return PersonPage(
        total=total,
        limit=limit,
        offset=offset,
        items=persons,
    )


@router.get(
    "/people/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/octet-stream": {}}}},
)
def api_export_people(
    session: SessionDep,
    actor: CurrentActor,
    format: Format = "csv",
    q: SearchText = "",
    region: RegionPrefix = "",
    unmasked: Annotated[
        bool, Query(description="whole identity numbers and phones (registry.read_personal)")
    ] = False,
) -> Response:
    """The registry (or a search) in the import format."""
    rows = export_rows(session, actor, q, region=region, unmasked=unmasked)
    data = write_rows(EXPORT_HEADER, rows, format)
    return attachment(data, format, f"registry-{region or actor.jurisdiction or 'all'}.{format}")


@router.post("/people/import", response_model=ImportOut)
def api_import_people(
    session: SessionDep,
    actor: CurrentActor,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX")],
) -> ImportOut:
    require(actor, Permission.REGISTRY_IMPORT)
    result = import_people(session, actor, read_upload(file), file.filename or "upload.csv")
    return ImportOut(
        batch_id=result.batch_id,
        accepted=result.accepted,
        unchanged=result.unchanged,
        rejected=result.rejected,
        inserted=result.inserted,
        updated=result.updated,
        duplicate_suspects=result.duplicate_suspects,
        risk_records_moved=result.risk_records_moved,
        notices=result.notices,
        rejects=rejects_out(result.rejects),
    )


@router.get(
    "/people/import/{batch_id}/rejects",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/octet-stream": {}}}},
)
def api_import_rejects(
    session: SessionDep, actor: CurrentActor, batch_id: int, format: Format = "csv"
) -> Response:
    """The rejected rows with their original columns, to fix and re-import."""
    require(actor, Permission.REGISTRY_IMPORT)  # the report holds whole identity numbers
    header, rows = rejects_report_rows(session, actor, batch_id)
    return attachment(write_rows(header, rows, format), format, f"rejects-{batch_id}.{format}")


@router.get("/people/{person_id}", response_model=PersonView)
def api_get_person(session: SessionDep, actor: CurrentActor, person_id: int) -> PersonView:
    return get_person(session, actor, person_id)


@router.patch("/people/{person_id}", response_model=PersonView)
def api_update_person(
    session: SessionDep, actor: CurrentActor, person_id: int, body: PersonPatch
) -> PersonView:
    view = update_person(
        session, actor, person_id, name=body.name, phone=body.phone, relation=body.relation
    )
    return view


@router.get("/households/{household_id}", response_model=HouseholdOut)
def api_household(session: SessionDep, actor: CurrentActor, household_id: int) -> HouseholdOut:
    household, members = household_members(session, actor, household_id)
    return HouseholdOut(
        id=household.id,
        code=household.code,
        region_code=household.region_code,
        members=members,
    )


@router.get("/duplicates", response_model=list[SuspectView])
def api_duplicates(
    session: SessionDep,
    actor: CurrentActor,
    status: Literal["open", "same", "distinct"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SuspectView]:
    suspects = list_duplicate_suspects(session, actor, status, limit)
    return suspects


@router.post("/duplicates/{suspect_id}/resolve", status_code=204, response_class=Response)
def api_resolve_duplicate(
    session: SessionDep, actor: CurrentActor, suspect_id: int, body: ResolveIn
) -> Response:
    resolve_duplicate_suspect(
        session,
        actor,
        suspect_id,
        same_person=body.same_person,
        keep_person_id=body.keep_person_id,
        note=body.note,
    )
    return Response(status_code=204)

"""Contact tracing as JSON under ``/api/tracing``: the risk-person list and
the supervisor's bulk actions, control indicators, and cross-region
requests (send, accept, outcomes, progress, files for places outside the
system)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.responses import Response

from fangkong.errors import InvalidInput
from fangkong.tabular import write_rows
from fangkong.tracing import control, request_files, requests, risk_import
from fangkong.tracing.models import CrossRegionRequest
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.files import RejectOut, attachment, read_upload, rejects_out

router = APIRouter(prefix="/api/tracing", tags=["tracing"])

Code = Annotated[str, Query(max_length=12, pattern=r"^\d*$", description="region code")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskPage(BaseModel):
    total: int
    rows: list[control.RiskRow]


@router.get("/risk-persons", response_model=RiskPage)
def risk_persons(
    session: SessionDep,
    actor: CurrentActor,
    region: Code = "",
    category: str = "",
    status: str = "",
    channel: str = "",
    overdue: bool = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=control.MAX_PAGE)] = 100,
) -> RiskPage:
    wanted = control.RiskFilter(region, category, status, channel, overdue)
    rows, total = control.list_risk_persons(session, actor, wanted, offset=offset, limit=limit)
    return RiskPage(total=total, rows=rows)


@router.get("/overdue-by-community", response_model=dict[str, int])
def overdue_by_community(
    session: SessionDep, actor: CurrentActor, region: Code = ""
) -> dict[str, int]:
    return control.overdue_by_community(session, actor, region)


class IndicatorsOut(BaseModel):
    identified: int
    controlled: int
    on_time: int
    overdue: int
    median_hours_to_control: float | None
    p90_hours_to_control: float | None


@router.get("/indicators", response_model=IndicatorsOut)
def indicators(session: SessionDep, actor: CurrentActor, region: Code = "") -> IndicatorsOut:
    return IndicatorsOut(**vars(control.control_indicators(session, actor, region)))


class BulkIn(Strict):
    ids: list[int] = Field(min_length=1, max_length=10 * control.MAX_PAGE)
    action: str = Field(description="assign, measure, status or request")
    user_id: int | None = Field(None, description="assign: the worker")
    measure: str = Field("", description="measure: the measure ordered")
    status: str = Field("", description="status: the new status")
    to_region: str = Field("", max_length=12, description="request: the jurisdiction asked")
    subject: str = Field("", max_length=200)
    deadline_at: AwareDatetime | None = None


class BulkOut(BaseModel):
    changed: int
    request_id: int | None = None


@router.post("/risk-persons/bulk", response_model=BulkOut)
def bulk_action(body: BulkIn, session: SessionDep, actor: CurrentActor) -> BulkOut:
    if body.action == "assign":
        if body.user_id is None:
            raise InvalidInput("user_id", "whom to assign the risk persons to")
        return BulkOut(changed=control.assign_risk_persons(session, actor, body.ids, body.user_id))
    if body.action == "measure":
        return BulkOut(changed=control.order_measure(session, actor, body.ids, body.measure))
    if body.action == "status":
        return BulkOut(changed=control.move_risk_persons(session, actor, body.ids, body.status))
    if body.action == "request":
        if body.deadline_at is None:
            raise InvalidInput("deadline_at", "a request needs a deadline")
        request = requests.send_request_for_risk_persons(
            session,
            actor,
            body.ids,
            to_region=body.to_region,
            subject=body.subject,
            deadline_at=body.deadline_at,
        )
        return BulkOut(changed=len(body.ids), request_id=request.id)
    raise InvalidInput("action", "one of assign, measure, status, request")


# --- cross-region requests ---------------------------------------------------------


class RequestPersonIn(Strict):
    id_number: str = Field("", max_length=32)
    phone: str = Field("", max_length=20)
    name: str = Field("", max_length=100)
    category: str = "close"
    last_exposure_at: AwareDatetime | None = None


class RequestIn(Strict):
    to_region: str = Field(max_length=12)
    subject: str = Field(max_length=200)
    deadline_at: AwareDatetime
    persons: list[RequestPersonIn] = Field(min_length=1, max_length=requests.MAX_PERSONS)


class RequestOut(BaseModel):
    id: int
    from_region: str
    to_region: str
    subject: str
    deadline_at: datetime
    status: str
    sent_at: datetime


def _request_out(request: CrossRegionRequest) -> RequestOut:
    return RequestOut(
        id=request.id,
        from_region=request.from_region,
        to_region=request.to_region,
        subject=request.subject,
        deadline_at=request.deadline_at,
        status=request.status,
        sent_at=request.sent_at,
    )


@router.post("/requests", response_model=RequestOut, status_code=201)
def send_request(body: RequestIn, session: SessionDep, actor: CurrentActor) -> RequestOut:
    request = requests.send_request(
        session,
        actor,
        to_region=body.to_region,
        subject=body.subject,
        deadline_at=body.deadline_at,
        persons=[requests.RequestPerson(**p.model_dump()) for p in body.persons],
    )
    return _request_out(request)


@router.get("/requests", response_model=list[RequestOut])
def list_requests(
    session: SessionDep, actor: CurrentActor, direction: str = "received"
) -> list[RequestOut]:
    return [_request_out(r) for r in requests.list_requests(session, actor, direction)]


class ProgressOut(BaseModel):
    request: RequestOut
    items: list[requests.ItemView]
    outcomes: dict[str, int]
    overdue: bool


@router.get("/requests/{request_id}", response_model=ProgressOut)
def request_progress(request_id: int, session: SessionDep, actor: CurrentActor) -> ProgressOut:
    progress = requests.request_progress(session, actor, request_id)
    return ProgressOut(
        request=_request_out(progress.request),
        items=progress.items,
        outcomes=progress.outcomes,
        overdue=progress.overdue,
    )


class AcceptedOut(BaseModel):
    matched: int
    pending: int


@router.post("/requests/{request_id}/accept", response_model=AcceptedOut)
def accept_request(request_id: int, session: SessionDep, actor: CurrentActor) -> AcceptedOut:
    return AcceptedOut(**vars(requests.accept_request(session, actor, request_id)))


class OutcomeIn(Strict):
    outcome: str = Field(description="controlled, not_found or not_ours")
    note: str = Field("", max_length=300)


@router.post("/request-items/{item_id}/outcome", response_model=requests.ItemView)
def report_outcome(
    item_id: int, body: OutcomeIn, session: SessionDep, actor: CurrentActor
) -> requests.ItemView:
    item = requests.report_outcome(session, actor, item_id, body.outcome, body.note)
    return requests.item_view(item)


@router.get("/requests/{request_id}/export")
def export_request(
    request_id: int, session: SessionDep, actor: CurrentActor, fmt: str = "xlsx"
) -> Response:
    data = request_files.export_request(session, actor, request_id, fmt)
    return attachment(data, fmt, f"request-{request_id}.{fmt}")


class OutcomesOut(BaseModel):
    updated: int
    unchanged: int
    rejects: list[tuple[int, str]]


@router.post("/requests/{request_id}/outcomes", response_model=OutcomesOut)
def import_outcomes(
    request_id: int,
    session: SessionDep,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
) -> OutcomesOut:
    result = request_files.import_outcomes(
        session, actor, request_id, read_upload(file), file.filename or "outcomes.csv"
    )
    return OutcomesOut(**vars(result))


# --- risk-person lists by file -------------------------------------------------------


class ListImportOut(BaseModel):
    batch_id: int
    summary: str
    accepted: int
    unchanged: int
    rejected: int
    new_risk_persons: int
    new_non_residents: int
    pending: int
    notices: list[str]
    rejects: list[RejectOut]


@router.post("/risk-persons/import", response_model=ListImportOut)
def import_list(
    session: SessionDep,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
    channel: Annotated[str, Query(description="screening, request, bigdata or self_report")],
) -> ListImportOut:
    """A list of risk persons from one channel (CSV or XLSX; see docs/tracing.md)."""
    result = risk_import.import_risk_persons(
        session, actor, read_upload(file), file.filename or "list.csv", channel=channel
    )
    return ListImportOut(
        batch_id=result.batch_id,
        summary=result.summary,
        accepted=result.accepted,
        unchanged=result.unchanged,
        rejected=result.rejected,
        new_risk_persons=result.new_risk_persons,
        new_non_residents=result.new_non_residents,
        pending=result.pending,
        notices=result.notices,
        rejects=rejects_out(result.rejects),
    )


@router.get(
    "/imports/{batch_id}/rejects",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def list_rejects(session: SessionDep, actor: CurrentActor, batch_id: int) -> Response:
    """The rejected rows of a risk-person list, with the reasons, to fix and send again."""
    header, rows = risk_import.rejects_report_rows(session, actor, batch_id)
    return attachment(write_rows(header, rows, "csv"), "csv", f"rejects-{batch_id}.csv")

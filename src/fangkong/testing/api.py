"""Mass testing as JSON under ``/api/testing``: rounds, sites, the sampling
flow for handhelds, lab results (one by one or as a file), coverage, the
missing list, the lab board, the positive board and the pool planner."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from fangkong.errors import NotFound
from fangkong.imports import ImportBatch, ImportCounts, rejects_report
from fangkong.tabular import write_rows
from fangkong.testing import coverage as cov
from fangkong.testing.models import Round
from fangkong.testing.planner import plan_pooling
from fangkong.testing.positives import (
    PositivePersonView,
    PositivePool,
    positive_persons,
    positive_pools,
)
from fangkong.testing.proposals import next_round_pool_sizes
from fangkong.testing.result_import import import_results
from fangkong.testing.results import receive_tubes, record_lab_result, settle_conflict
from fangkong.testing.rounds import (
    AreaPolicy,
    close_round,
    create_round,
    create_site,
    get_round,
    list_rounds,
    list_sites,
    record_exemption,
    round_areas,
)
from fangkong.testing.sample_import import import_samples
from fangkong.testing.sampling import TubeView, add_to_tube, close_tube, get_tube, open_tube
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.files import RejectOut, attachment, read_upload, rejects_out

router = APIRouter(prefix="/api/testing", tags=["testing"])

Code = Annotated[str, Query(max_length=12, pattern=r"^\d+$", description="region code")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AreaIn(Strict):
    region_code: str = Field(max_length=12, pattern=r"^\d+$")
    pool_size: int = Field(description="swabs per tube; 1 = single tube")


class RoundIn(Strict):
    name: str = Field(max_length=200)
    areas: list[AreaIn] = Field(min_length=1)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None


class RoundOut(BaseModel):
    id: int
    name: str
    region_code: str
    starts_at: datetime
    ends_at: datetime
    pool_size: int
    status: str
    areas: list[AreaIn]


class SiteIn(Strict):
    name: str = Field(max_length=200)
    region_code: str = Field(max_length=12, pattern=r"^\d+$")
    address: str = Field("", max_length=300)
    staff: list[str] = Field(default_factory=list, max_length=100)


class SiteOut(BaseModel):
    id: int
    name: str
    region_code: str
    address: str
    staff: list[str]


class TubeIn(Strict):
    round_id: int
    barcode: str = Field(max_length=40)
    pool_size: int | None = None
    site_id: int | None = None
    client_uid: str | None = Field(
        None, max_length=64, description="the handheld's id for this request; a repeat is a no-op"
    )


class MemberIn(Strict):
    id_number: str = Field(max_length=32, description="typed, scanned from the card or a QR")


class ResultIn(Strict):
    barcode: str = Field(max_length=40)
    result: str = Field(description="negative, positive or invalid")
    tested_at: AwareDatetime
    lab: str = Field(max_length=100)
    ct_orf1ab: float | None = None
    ct_n: float | None = None


class ResultOut(BaseModel):
    accepted: int
    unchanged: int
    conflicts: int
    positive_tubes: int
    controlled: int


class ReceiveIn(Strict):
    barcodes: list[str] = Field(min_length=1, max_length=5000)
    lab: str = Field(max_length=100)


class SettleIn(Strict):
    result_id: int


class ExemptionIn(Strict):
    person_id: int
    reason: str = Field(description="away, hospital or other")
    note: str = Field("", max_length=500)


class FileImportOut(BaseModel):
    batch_id: int
    summary: str
    accepted: int
    unchanged: int
    rejected: int
    counts: dict[str, int]
    notices: list[str]
    rejects: list[RejectOut]


def _file_import_out(result: ImportCounts) -> FileImportOut:
    return FileImportOut(
        batch_id=result.batch_id,
        summary=result.summary,
        accepted=result.accepted,
        unchanged=result.unchanged,
        rejected=result.rejected,
        counts={  # the summary's words as keys: "positive tubes" -> positive_tubes
            name.replace(" ", "_").replace("-", "_"): count
            for name, count in result.more_counts().items()
        },
        notices=result.notices,
        rejects=rejects_out(result.rejects),
    )


def _round_out(session: Session, testing_round: Round) -> RoundOut:
    areas = round_areas(session, testing_round.id)
    return RoundOut(
        id=testing_round.id,
        name=testing_round.name,
        region_code=testing_round.region_code,
        starts_at=testing_round.starts_at,
        ends_at=testing_round.ends_at,
        pool_size=testing_round.pool_size,
        status=testing_round.status,
        areas=[AreaIn(region_code=p, pool_size=s) for p, s in areas],
    )


@router.get("/rounds", response_model=list[RoundOut])
def api_rounds(session: SessionDep, actor: CurrentActor) -> list[RoundOut]:
    return [_round_out(session, r) for r in list_rounds(session, actor)]


@router.post("/rounds", response_model=RoundOut, status_code=201)
def api_create_round(session: SessionDep, actor: CurrentActor, body: RoundIn) -> RoundOut:
    created = create_round(
        session,
        actor,
        name=body.name,
        areas=[AreaPolicy(a.region_code, a.pool_size) for a in body.areas],
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )
    return _round_out(session, created)


@router.get("/rounds/{round_id}", response_model=RoundOut)
def api_round(session: SessionDep, actor: CurrentActor, round_id: int) -> RoundOut:
    return _round_out(session, get_round(session, actor, round_id))


@router.post("/rounds/{round_id}/close", response_model=RoundOut)
def api_close_round(session: SessionDep, actor: CurrentActor, round_id: int) -> RoundOut:
    """End a round's sampling; the follow-up of its positive pools goes on."""
    return _round_out(session, close_round(session, actor, round_id))


@router.get("/sites", response_model=list[SiteOut])
def api_sites(session: SessionDep, actor: CurrentActor) -> list[SiteOut]:
    return [
        SiteOut(id=s.id, name=s.name, region_code=s.region_code, address=s.address, staff=s.staff)
        for s in list_sites(session, actor)
    ]


@router.post("/sites", response_model=SiteOut, status_code=201)
def api_create_site(session: SessionDep, actor: CurrentActor, body: SiteIn) -> SiteOut:
    site = create_site(
        session,
        actor,
        name=body.name,
        region_code=body.region_code,
        address=body.address,
        staff=body.staff,
    )
    return SiteOut(
        id=site.id,
        name=site.name,
        region_code=site.region_code,
        address=site.address,
        staff=site.staff,
    )


@router.post("/tubes", response_model=TubeView, status_code=201)
def api_open_tube(session: SessionDep, actor: CurrentActor, body: TubeIn) -> TubeView:
    return open_tube(
        session,
        actor,
        round_id=body.round_id,
        barcode=body.barcode,
        pool_size=body.pool_size,
        site_id=body.site_id,
        client_uid=body.client_uid,
    )


@router.get("/tubes/{barcode}", response_model=TubeView)
def api_tube(session: SessionDep, actor: CurrentActor, barcode: str) -> TubeView:
    return get_tube(session, actor, barcode)


@router.post("/tubes/{barcode}/members", response_model=TubeView)
def api_add_member(
    session: SessionDep, actor: CurrentActor, barcode: str, body: MemberIn
) -> TubeView:
    return add_to_tube(session, actor, barcode=barcode, id_number=body.id_number)


@router.post("/tubes/{barcode}/close", response_model=TubeView)
def api_close_tube(session: SessionDep, actor: CurrentActor, barcode: str) -> TubeView:
    return close_tube(session, actor, barcode=barcode)


@router.post("/tubes/receive")
def api_receive(session: SessionDep, actor: CurrentActor, body: ReceiveIn) -> dict[str, int]:
    return {"received": receive_tubes(session, actor, barcodes=body.barcodes, lab=body.lab)}


@router.post("/tubes/{barcode}/settle", status_code=204, response_class=Response)
def api_settle(session: SessionDep, actor: CurrentActor, barcode: str, body: SettleIn) -> Response:
    settle_conflict(session, actor, barcode=barcode, result_id=body.result_id)
    return Response(status_code=204)


@router.post("/results", response_model=ResultOut)
def api_result(session: SessionDep, actor: CurrentActor, body: ResultIn) -> ResultOut:
    outcome = record_lab_result(
        session,
        actor,
        barcode=body.barcode,
        result=body.result,
        tested_at=body.tested_at,
        lab=body.lab,
        ct_orf1ab=body.ct_orf1ab,
        ct_n=body.ct_n,
    )
    return ResultOut(
        accepted=outcome.accepted,
        unchanged=outcome.unchanged,
        conflicts=outcome.conflicts,
        positive_tubes=outcome.positive_tubes,
        controlled=outcome.controlled,
    )


@router.post("/results/import", response_model=FileImportOut)
def api_import_results(
    session: SessionDep,
    actor: CurrentActor,
    file: Annotated[
        UploadFile, File(description="CSV or XLSX: tube, result, ct_orf1ab, ct_n, lab, tested_at")
    ],
) -> FileImportOut:
    result = import_results(session, actor, read_upload(file), file.filename or "results.csv")
    return _file_import_out(result)


@router.post("/rounds/{round_id}/samples/import", response_model=FileImportOut)
def api_import_samples(
    session: SessionDep,
    actor: CurrentActor,
    round_id: int,
    file: Annotated[
        UploadFile, File(description="CSV or XLSX: tube, pool_size, id_number, sampled_at, site")
    ],
) -> FileImportOut:
    """A handheld's offline batch; uploading it again changes nothing."""
    result = import_samples(
        session, actor, round_id, read_upload(file), file.filename or "samples.csv"
    )
    return _file_import_out(result)


@router.get(
    "/imports/{batch_id}/rejects",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def api_testing_rejects(session: SessionDep, actor: CurrentActor, batch_id: int) -> Response:
    """The rejected rows of a sampling or result file, to fix and send again."""
    batch = session.get(ImportBatch, batch_id)
    if (
        batch is None
        or batch.kind not in ("samples", "results")
        or not batch.jurisdiction.startswith(actor.jurisdiction)
    ):
        raise NotFound("import not found")
    header, rows = rejects_report(session, batch)
    return attachment(write_rows(header, rows, "csv"), "csv", f"rejects-{batch_id}.csv")


@router.post("/rounds/{round_id}/exemptions", status_code=201)
def api_exempt(
    session: SessionDep, actor: CurrentActor, round_id: int, body: ExemptionIn
) -> dict[str, int]:
    exemption = record_exemption(
        session, actor, round_id, body.person_id, reason=body.reason, note=body.note
    )
    return {"id": exemption.id}


class CoverageOut(BaseModel):
    region: str
    name: str
    due: int
    sampled: int
    missing: int
    exempt: int
    households_missing: int


class CoverageReportOut(CoverageOut):
    children: list[CoverageOut]


def _coverage_out(item: cov.RegionCoverage) -> dict[str, Any]:
    c = item.counts
    return {
        "region": item.code,
        "name": item.name,
        "due": c.due,
        "sampled": c.sampled,
        "missing": c.missing,
        "exempt": c.exempt,
        "households_missing": c.households_missing,
    }


@router.get("/rounds/{round_id}/coverage", response_model=CoverageReportOut)
def api_coverage(
    session: SessionDep, actor: CurrentActor, round_id: int, region: Code
) -> CoverageReportOut:
    report = cov.coverage_report(session, actor, round_id, region)
    return CoverageReportOut(
        **_coverage_out(report.region),
        children=[CoverageOut(**_coverage_out(c)) for c in report.children],
    )


@router.get("/rounds/{round_id}/missing", response_model=list[cov.MissingPerson])
def api_missing(
    session: SessionDep,
    actor: CurrentActor,
    round_id: int,
    region: Code,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[cov.MissingPerson]:
    return list(cov.missing_persons(session, actor, round_id, region, limit=limit))


@router.get("/rounds/{round_id}/missing.xlsx", response_class=Response)
def api_missing_xlsx(
    session: SessionDep, actor: CurrentActor, round_id: int, region: Code
) -> Response:
    """The missing list (一人不落) for community workers, by building and household."""
    data, _ = cov.missing_list_file(session, actor, round_id, region, "xlsx")
    return attachment(data, "xlsx", f"missing-{round_id}-{region}.xlsx")


@router.get("/rounds/{round_id}/lab", response_model=cov.LabCompleteness)
def api_lab(session: SessionDep, actor: CurrentActor, round_id: int) -> cov.LabCompleteness:
    return cov.lab_completeness(session, actor, round_id)


@router.get("/rounds/{round_id}/positives", response_model=list[PositivePool])
def api_positives(session: SessionDep, actor: CurrentActor, round_id: int) -> list[PositivePool]:
    return positive_pools(session, actor, round_id)


@router.get("/rounds/{round_id}/positive-persons", response_model=list[PositivePersonView])
def api_positive_persons(
    session: SessionDep, actor: CurrentActor, round_id: int
) -> list[PositivePersonView]:
    return positive_persons(session, actor, round_id)


@router.get("/rounds/{round_id}/next-pool-sizes")
def api_next_pool_sizes(
    session: SessionDep, actor: CurrentActor, round_id: int
) -> dict[str, dict[str, Any]]:
    """Each community's swab pool size for the next round, from this round's
    positivity there (single tubes in sealed and controlled zones)."""
    proposals = next_round_pool_sizes(session, actor, round_id)
    return {code: p.as_json() for code, p in sorted(proposals.items())}


@router.get("/plan")
def api_plan(
    actor: CurrentActor,
    prevalence: Annotated[float, Query(ge=0, le=1)],
    max_pool: Annotated[int, Query(ge=1, le=1000)],
    rounds: Annotated[int, Query(ge=1, le=10)] = 2,
    swabs_per_person: Annotated[int, Query(ge=1, le=4)] = 1,
) -> dict[str, Any]:
    """The pool design with the fewest expected tests per person."""
    del actor  # any logged-in user may plan
    return plan_pooling(
        prevalence, max_pool, lab_rounds=rounds, swabs_per_person=swabs_per_person
    ).as_json()

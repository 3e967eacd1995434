"""Mass-testing pages: rounds, the round dashboard, coverage drill-down with
the missing list, the lab board, the positive board, the sampling flow for a
phone, file uploads and the pool planner. Handlers parse, call the services
and build a context; ``render`` does the rest."""

from __future__ import annotations

from datetime import timedelta
from itertools import accumulate
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.errors import FangkongError, InvalidInput
from fangkong.regions.models import Region
from fangkong.regions.service import get_region
from fangkong.testing import coverage as cov
from fangkong.testing.boards import conflicting_tubes
from fangkong.testing.messages import MESSAGES
from fangkong.testing.models import Round
from fangkong.testing.planner import plan_pooling
from fangkong.testing.positives import positive_persons, positive_pools
from fangkong.testing.result_import import import_results
from fangkong.testing.results import settle_conflict
from fangkong.testing.rounds import (
    AreaPolicy,
    close_round,
    create_round,
    get_round,
    list_rounds,
    list_sites,
)
from fangkong.testing.sample_import import import_samples
from fangkong.testing.sampling import add_to_tube, close_tube, get_tube, open_tube
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.files import read_upload
from fangkong.web.i18n import add_messages
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(NavItem("/rounds", "核酸检测", "Testing rounds", Permission.TESTING_READ, order=50))
register(NavItem("/sampling", "采样", "Sampling", Permission.TESTING_SAMPLE, order=55))
add_messages(MESSAGES)

Code = Annotated[str, Query(max_length=12, pattern=r"^\d*$")]


def _error(error: FangkongError) -> str:
    if isinstance(error, InvalidInput):
        return error.reason
    return error.message


# --- rounds ---------------------------------------------------------------------


@router.get("/rounds")
def rounds_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return render(request, "testing/rounds.html", _rounds_context(session, actor))


def _rounds_context(session: Session, actor: Actor, error: str | None = None) -> dict[str, Any]:
    return {
        "title": "testing.rounds",
        "rounds": list_rounds(session, actor),
        "can_manage": actor.can(Permission.TESTING_MANAGE),
        "default_region": actor.jurisdiction,
        "error": error,
    }


@router.post("/rounds")
def rounds_create(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    name: Annotated[str, Form(max_length=200)],
    region: Annotated[str, Form(max_length=12)],
    pool_size: Annotated[int, Form()],
    hours: Annotated[float, Form(gt=0, le=240)] = 24,
) -> Response:
    try:
        starts = clock.now()
        created = create_round(
            session,
            actor,
            name=name,
            areas=[AreaPolicy(region.strip(), pool_size)],
            starts_at=starts,
            ends_at=starts + timedelta(hours=hours),
        )
    except InvalidInput as error:
        session.rollback()
        context = _rounds_context(session, actor, _error(error))
        return render(request, "testing/rounds.html", context, status_code=422)
    return RedirectResponse(f"/rounds/{created.id}", status_code=303)


def _home_prefix(testing_round: Round, actor: Actor) -> str:
    """Where a round's pages open: the round's own region, or the actor's
    jurisdiction inside it (the deeper of the two)."""
    return max(testing_round.region_code, actor.jurisdiction, key=len)


def _home_region(session: Session, actor: Actor, testing_round: Round) -> str:
    prefix = _home_prefix(testing_round, actor)
    code = session.scalar(select(Region.code).where(Region.prefix == prefix))
    return code or prefix


@router.get("/rounds/{round_id}")
def round_dashboard(
    request: Request, session: SessionDep, actor: CurrentActor, round_id: int
) -> Response:
    testing_round = get_round(session, actor, round_id)
    region = _home_region(session, actor, testing_round)
    report = cov.coverage_report(session, actor, round_id, region)
    progress = cov.sampling_progress(session, actor, round_id)
    context = {
        "title": "testing.dashboard",
        "round": testing_round,
        "report": report,
        "lab": cov.lab_completeness(session, actor, round_id),
        "sites": cov.site_throughput(session, actor, round_id),
        "chart": {
            "kind": "line",
            "names": [hour for hour, _ in progress],
            "values": list(accumulate(count for _, count in progress)),
            "title": "sampled",
        },
        "can_manage": actor.can(Permission.TESTING_MANAGE),
    }
    return render(request, "testing/dashboard.html", context)


@router.post("/rounds/{round_id}/close")
def round_close(session: SessionDep, actor: CurrentActor, round_id: int) -> Response:
    close_round(session, actor, round_id)
    return RedirectResponse(f"/rounds/{round_id}", status_code=303)


# --- coverage drill-down and the missing list -----------------------------------


@router.get("/rounds/{round_id}/coverage")
def coverage_page(
    request: Request, session: SessionDep, actor: CurrentActor, round_id: int, region: Code = ""
) -> Response:
    testing_round = get_round(session, actor, round_id)
    code = region or _home_region(session, actor, testing_round)
    report = cov.coverage_report(session, actor, round_id, code)
    this = get_region(session, actor, code)
    missing: list[cov.MissingPerson] = []
    if this.level == "village":
        missing = list(cov.missing_persons(session, actor, round_id, code, limit=2000))
    context = {
        "title": "testing.coverage",
        "round": testing_round,
        "report": report,
        "region": this,
        "missing": missing,
        "parent": this.parent_code if this.prefix != _home_prefix(testing_round, actor) else None,
    }
    return render(request, "testing/coverage.html", context)


# --- lab board and positive board -----------------------------------------------


@router.get("/rounds/{round_id}/lab")
def lab_page(request: Request, session: SessionDep, actor: CurrentActor, round_id: int) -> Response:
    context = {
        "title": "testing.lab",
        "round": get_round(session, actor, round_id),
        "lab": cov.lab_completeness(session, actor, round_id),
        "overdue": cov.overdue_tubes(session, actor, round_id),
        "conflicts": conflicting_tubes(session, actor, round_id),
        "can_settle": actor.can(Permission.TESTING_RESOLVE),
    }
    return render(request, "testing/lab.html", context)


@router.post("/rounds/{round_id}/lab/settle")
def lab_settle(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    round_id: int,
    barcode: Annotated[str, Form(max_length=40)],
    result_id: Annotated[int, Form()],
) -> Response:
    settle_conflict(session, actor, barcode=barcode, result_id=result_id)
    return RedirectResponse(f"/rounds/{round_id}/lab", status_code=303)


@router.get("/rounds/{round_id}/positives")
def positives_page(
    request: Request, session: SessionDep, actor: CurrentActor, round_id: int
) -> Response:
    context = {
        "title": "testing.positives",
        "round": get_round(session, actor, round_id),
        "pools": positive_pools(session, actor, round_id),
        "persons": positive_persons(session, actor, round_id),
        "can_open_case": actor.can(Permission.TRACING_CASES),
    }
    return render(request, "testing/positives.html", context)


# --- files ------------------------------------------------------------------------


@router.get("/rounds/{round_id}/files")
def files_page(
    request: Request, session: SessionDep, actor: CurrentActor, round_id: int
) -> Response:
    return render(request, "testing/files.html", _files_context(session, actor, round_id))


def _files_context(session: Session, actor: Actor, round_id: int) -> dict[str, Any]:
    return {
        "title": "testing.files",
        "round": get_round(session, actor, round_id),
        "can_samples": actor.can(Permission.TESTING_SAMPLE),
        "can_results": actor.can(Permission.TESTING_RESULTS),
        "result": None,
        "error": None,
    }


@router.post("/rounds/{round_id}/files/{kind}")
def files_upload(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    round_id: int,
    kind: str,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    context = _files_context(session, actor, round_id)
    if kind not in ("samples", "results"):
        raise InvalidInput("kind", "samples or results")
    require(actor, Permission.TESTING_SAMPLE if kind == "samples" else Permission.TESTING_RESULTS)
    if file is None or not file.filename:
        context["error"] = "请选择文件 (choose a file)"
        return render(request, "testing/files.html", context, status_code=422)
    data = read_upload(file)
    try:
        if kind == "samples":
            context["result"] = import_samples(session, actor, round_id, data, file.filename)
        else:
            context["result"] = import_results(session, actor, data, file.filename)
    except FangkongError as error:
        session.rollback()
        context["error"] = _error(error)
        return render(request, "testing/files.html", context, status_code=422)
    return render(request, "testing/files.html", context)


# --- the sampling flow (a phone at the site) ------------------------------------------


@router.get("/sampling")
def sampling_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    require(actor, Permission.TESTING_SAMPLE)
    return render(request, "testing/sampling.html", _sampling_context(session, actor))


def _sampling_context(session: Session, actor: Actor, error: str | None = None) -> dict[str, Any]:
    return {
        "title": "testing.sampling",
        "rounds": [r for r in list_rounds(session, actor) if r.status == "open"],
        "sites": list_sites(session, actor),
        "error": error,
    }


@router.post("/sampling")
def sampling_open(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    round_id: Annotated[int, Form()],
    barcode: Annotated[str, Form(max_length=40)],
    pool_size: Annotated[int, Form()],
    site_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    try:
        tube = open_tube(
            session,
            actor,
            round_id=round_id,
            barcode=barcode,
            pool_size=pool_size,
            site_id=int(site_id) if site_id.isdigit() else None,
        )
    except FangkongError as error:
        session.rollback()
        context = _sampling_context(session, actor, _error(error))
        return render(request, "testing/sampling.html", context, status_code=422)
    return RedirectResponse(f"/sampling/{tube.barcode}", status_code=303)


def _tube_context(
    session: Session, actor: Actor, barcode: str, error: str | None = None
) -> dict[str, Any]:
    return {"title": "testing.tube", "tube": get_tube(session, actor, barcode), "error": error}


@router.get("/sampling/{barcode}")
def tube_page(request: Request, session: SessionDep, actor: CurrentActor, barcode: str) -> Response:
    return render(request, "testing/tube.html", _tube_context(session, actor, barcode))


@router.post("/sampling/{barcode}/add")
def tube_add(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    barcode: str,
    id_number: Annotated[str, Form(max_length=32)],
) -> Response:
    try:
        add_to_tube(session, actor, barcode=barcode, id_number=id_number)
    except InvalidInput as error:
        session.rollback()
        context = _tube_context(session, actor, barcode, _error(error))
        return render(request, "testing/tube.html", context, status_code=422)
    return render(request, "testing/tube.html", _tube_context(session, actor, barcode))


@router.post("/sampling/{barcode}/close")
def tube_close(
    request: Request, session: SessionDep, actor: CurrentActor, barcode: str
) -> Response:
    try:
        close_tube(session, actor, barcode=barcode)
    except InvalidInput as error:
        session.rollback()
        context = _tube_context(session, actor, barcode, _error(error))
        return render(request, "testing/tube.html", context, status_code=422)
    return render(request, "testing/tube.html", _tube_context(session, actor, barcode))


# --- pool planner ------------------------------------------------------------------


@router.get("/testing/plan")
def plan_page(
    request: Request,
    actor: CurrentActor,
    prevalence: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_pool: Annotated[int, Query(ge=1, le=1000)] = 10,
    rounds: Annotated[int, Query(ge=1, le=10)] = 2,
    swabs: Annotated[int, Query(ge=1, le=4)] = 1,
) -> Response:
    del actor  # any logged-in user may plan
    plan = None
    if prevalence is not None:
        plan = plan_pooling(prevalence, max_pool, lab_rounds=rounds, swabs_per_person=swabs)
    context = {
        "title": "testing.plan",
        "plan": plan,
        "form": {
            "prevalence": prevalence if prevalence is not None else 0.001,
            "max_pool": max_pool,
            "rounds": rounds,
            "swabs": swabs,
        },
    }
    return render(request, "testing/plan.html", context)

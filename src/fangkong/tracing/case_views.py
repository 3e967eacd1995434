"""Case pages: the case list with controlled and community cases per day, a
case from the positive board or entered by hand, the case's investigation
(itinerary places, published risk places, named contacts), and its cluster
drawn as a graph with the chain exported to CSV/XLSX."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput
from fangkong.people.models import Person
from fangkong.testing.models import PositivePerson
from fangkong.tracing import cases, cluster_view, contacts, investigations
from fangkong.tracing.matching import IncomingPerson, match_one
from fangkong.tracing.models import CLASSIFICATIONS, DETECTION_ROUTES, SETTINGS, SEVERITIES
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.files import attachment
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(NavItem("/tracing/cases", "病例", "Cases", Permission.TRACING_READ, order=58))
COUNT_DAYS = 14


def _local(field: str, value: str) -> datetime:
    """A time typed in a form (the command centre's local time)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, "时间格式不对 (not a time, e.g. 2022-03-14T10:30)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=get_settings().zone)
    return moment


NOT_HERE = (
    "本辖区没有可确定的此人：请核对证件号码或手机号，外地人员请发协查函 "
    "(no person of your jurisdiction can be decided from this: check the number, "
    "or send a cross-region request for a person from elsewhere)"
)


def _person_of(session: Session, actor: Actor, record: IncomingPerson) -> int:
    """The person a form names, in the actor's jurisdiction. Whether the
    number belongs to someone elsewhere, to several persons or to nobody
    gets one answer: a form must not tell about other counties' persons."""
    match = match_one(session, actor, actor.jurisdiction, record)
    person = session.get(Person, match.person_id) if match.person_id is not None else None
    if person is None or not covers(actor.jurisdiction, person.region_code):
        raise InvalidInput("id_number", NOT_HERE)
    return person.id


def _message(error: InvalidInput | Conflict) -> str:
    return error.reason if isinstance(error, InvalidInput) else error.message


# --- the case list ------------------------------------------------------------------


@router.get("/tracing/cases")
def cases_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return render(request, "tracing/cases.html", _cases_context(session, actor))


def _cases_context(session: Session, actor: Actor, error: str | None = None) -> dict[str, Any]:
    today = clock.today_local()
    days = cases.case_counts(session, actor, None, (today - timedelta(days=COUNT_DAYS - 1), today))
    return {
        "title": "tracing.cases",
        "cases": cases.list_cases(session, actor),
        "chart": {
            "names": [d.day.strftime("%m-%d") for d in days],
            "values": [d.community for d in days],
            "title": "社会面 community",
        },
        "days": days,
        "classifications": CLASSIFICATIONS,
        "severities": SEVERITIES,
        "routes": DETECTION_ROUTES,
        "can_record": actor.can(Permission.TRACING_CASES),
        "error": error,
    }


@router.post("/tracing/cases")
def case_record(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    id_number: Annotated[str, Form(max_length=32)],
    classification: Annotated[str, Form(max_length=16)],
    detection_route: Annotated[str, Form(max_length=32)],
    sampled_at: Annotated[str, Form(max_length=32)],
    severity: Annotated[str, Form(max_length=16)] = "",
    reported_by: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        person_id = _person_of(session, actor, IncomingPerson(id_number, "", ""))
        case = cases.record_case(
            session,
            actor,
            person_id=person_id,
            classification=classification,
            severity=severity,
            detection_route=detection_route,
            sampled_at=_local("sampled_at", sampled_at),
            confirmed_at=clock.now(),
            reported_by=reported_by,
        )
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _cases_context(session, actor, _message(error))
        return render(request, "tracing/cases.html", context, status_code=422)
    return RedirectResponse(f"/tracing/cases/{case.id}", status_code=303)


@router.post("/tracing/positives/{positive_id}/case")
def case_from_positive(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    positive_id: int,
    classification: Annotated[str, Form(max_length=16)],
    severity: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """The positive board's action; a person who is a case already is shown
    their case."""
    positive = session.get(PositivePerson, positive_id)
    existing = cases.case_of_person(session, positive.person_id) if positive else None
    if existing is not None and existing.region_code.startswith(actor.jurisdiction):
        return RedirectResponse(f"/tracing/cases/{existing.id}", status_code=303)
    try:
        case = cases.create_case_from_positive(
            session, actor, positive_id, classification=classification, severity=severity
        )
    except (InvalidInput, Conflict) as error:
        session.rollback()
        context = _cases_context(session, actor, _message(error))
        return render(request, "tracing/cases.html", context, status_code=422)
    return RedirectResponse(f"/tracing/cases/{case.id}", status_code=303)


# --- one case and its investigation ------------------------------------------------------


@router.get("/tracing/cases/{case_id}")
def case_page(request: Request, session: SessionDep, actor: CurrentActor, case_id: int) -> Response:
    return render(request, "tracing/case.html", _case_context(session, actor, case_id))


def _case_context(
    session: Session, actor: Actor, case_id: int, error: str | None = None
) -> dict[str, Any]:
    case = cases.get_case(session, actor, case_id)
    investigation = investigations.investigation_of_case(session, actor, case.id)
    return {
        "title": "tracing.case",
        "case": case,
        "person": session.get(Person, case.person_id),
        "unmasked": actor.can(Permission.REGISTRY_READ_PERSONAL),
        "investigation": investigation,
        "places": investigations.list_places(session, actor, investigation.id)
        if investigation
        else [],
        "contacts": (
            contacts.investigation_contacts(session, actor, investigation.id)
            if investigation
            else []
        ),
        "settings": SETTINGS,
        "can_edit": actor.can(Permission.TRACING_CASES),
        "error": error,
    }


def _case_redirect(case_id: int) -> Response:
    return RedirectResponse(f"/tracing/cases/{case_id}", status_code=303)


def _case_error(
    request: Request, session: Session, actor: Actor, case_id: int, error: InvalidInput | Conflict
) -> Response:
    session.rollback()
    context = _case_context(session, actor, case_id, _message(error))
    return render(request, "tracing/case.html", context, status_code=422)


@router.post("/tracing/cases/{case_id}/investigation")
def investigation_open(
    request: Request, session: SessionDep, actor: CurrentActor, case_id: int
) -> Response:
    try:
        investigations.open_investigation(session, actor, case_id)
    except (InvalidInput, Conflict) as error:
        return _case_error(request, session, actor, case_id, error)
    return _case_redirect(case_id)


@router.post("/tracing/cases/{case_id}/places")
def place_add(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    case_id: int,
    investigation_id: Annotated[int, Form()],
    name: Annotated[str, Form(max_length=200)],
    region_code: Annotated[str, Form(max_length=12)],
    arrived_at: Annotated[str, Form(max_length=32)],
    left_at: Annotated[str, Form(max_length=32)],
    address: Annotated[str, Form(max_length=300)] = "",
    publish: Annotated[bool, Form()] = False,
) -> Response:
    try:
        place = investigations.add_place(
            session,
            actor,
            investigation_id,
            name=name,
            region_code=region_code.strip(),
            arrived_at=_local("arrived_at", arrived_at),
            left_at=_local("left_at", left_at),
            address=address,
        )
        if publish:
            investigations.publish_places(session, actor, [place.id])
    except (InvalidInput, Conflict) as error:
        return _case_error(request, session, actor, case_id, error)
    return _case_redirect(case_id)


@router.post("/tracing/cases/{case_id}/contacts")
def contact_name(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    case_id: int,
    investigation_id: Annotated[int, Form()],
    setting: Annotated[str, Form(max_length=16)],
    last_exposure_at: Annotated[str, Form(max_length=32)],
    id_number: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Name a contact by identity number or phone: matched to the registry
    (a person nobody knows is registered as a non-resident)."""
    try:
        person_id = _person_of(session, actor, IncomingPerson(id_number, phone, name))
        contacts.name_contact(
            session,
            actor,
            investigation_id,
            person_id=person_id,
            setting=setting,
            last_exposure_at=_local("last_exposure_at", last_exposure_at),
        )
    except (InvalidInput, Conflict) as error:
        return _case_error(request, session, actor, case_id, error)
    return _case_redirect(case_id)


# --- the cluster ---------------------------------------------------------------------


@router.get("/tracing/cases/{case_id}/cluster")
def cluster_page(
    request: Request, session: SessionDep, actor: CurrentActor, case_id: int
) -> Response:
    drawing = cluster_view.draw_cluster(session, actor, case_id)
    context = {
        "title": "tracing.cluster",
        "case_id": case_id,
        "drawing": drawing,
        "graph": {
            "nodes": [vars(n) for n in drawing.nodes],
            "links": [
                {"source": link.source, "target": link.target, "transmission": link.transmission}
                for link in drawing.links
            ],
        },
        "names": {n.id: n.name for n in drawing.nodes},
        "kinds": {n.id: n.kind for n in drawing.nodes},
    }
    return render(request, "tracing/cluster.html", context)


@router.get("/tracing/cases/{case_id}/cluster/export")
def cluster_export(
    session: SessionDep, actor: CurrentActor, case_id: int, fmt: str = "xlsx"
) -> Response:
    data = cluster_view.export_chain(session, actor, case_id, fmt)
    return attachment(data, fmt, f"cluster-case-{case_id}.{fmt}")

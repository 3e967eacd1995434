"""Region pages: the administrative tree with registered population."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fangkong.access.rules import Permission
from fangkong.access.service import Actor
from fangkong.regions.service import (
    ancestors,
    children,
    get_region,
    population_by_child,
    roots,
    search_regions,
)
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(NavItem("/regions", "行政区划", "Regions", None, order=20))


@router.get("/regions")
def region_roots(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    q: Annotated[str, Query(max_length=50)] = "",
) -> Response:
    found = search_regions(session, actor, q) if q.strip() else roots(session, actor)
    if not q.strip() and len(found) == 1:
        return RedirectResponse(f"/regions/{found[0].code}", status_code=303)
    context = {"title": "regions.title", "regions": found, "q": q}
    return render(request, "regions/list.html", context)


def region_context(session: Session, actor: Actor, code: str) -> dict[str, Any]:
    region = get_region(session, actor, code)
    kids = children(session, actor, code)
    population: dict[str, int] | None = None
    if actor.can(Permission.REGISTRY_READ):
        population = population_by_child(session, actor, code)
    chart = None
    if population is not None and kids:
        chart = {
            "names": [k.name for k in kids],
            "values": [population.get(k.code, 0) for k in kids],
            "title": "",
        }
    return {
        "title": "regions.title",
        "region": region,
        "ancestors": ancestors(session, actor, code),
        "children": kids,
        "population": population,
        "chart": chart,
    }


@router.get("/regions/{code}")
def region_page(request: Request, session: SessionDep, actor: CurrentActor, code: str) -> Response:
    return render(request, "regions/region.html", region_context(session, actor, code))

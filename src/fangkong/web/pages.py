"""The home page: where to go, and the counts of the jurisdiction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from fangkong.access.rules import Permission
from fangkong.access.service import Actor
from fangkong.people.service import search_persons
from fangkong.regions.service import active_zones
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)


def home_context(session: Session, actor: Actor) -> dict[str, Any]:
    persons: int | None = None
    if actor.can(Permission.REGISTRY_READ):
        persons = search_persons(session, actor, limit=0)[1]
    zones = active_zones(session, actor)
    return {"title": "home.title", "persons": persons, "zones": zones}


@router.get("/")
def home(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return render(request, "home.html", home_context(session, actor))

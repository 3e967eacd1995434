"""Regions and risk zones as JSON (``/api/regions``, ``/api/zones``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.regions.service import (
    ZoneArea,
    active_zones,
    children,
    designate_zone,
    get_region,
    lift_zone,
    population_by_child,
    search_regions,
)
from fangkong.web.deps import CurrentActor, SessionDep

router = APIRouter(prefix="/api", tags=["regions"])


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    level: str
    parent_code: str | None
    prefix: str = Field(description="every descendant's code starts with it")


class RegionChildOut(RegionOut):
    population: int | None = Field(
        None,
        description="registered persons inside the caller's jurisdiction; null when the "
        "caller's role may not read the registry",
    )


class ZoneAreaIn(BaseModel):
    region_code: str | None = Field(None, max_length=12)
    address_id: int | None = None


class ZoneIn(BaseModel):
    name: str = Field(max_length=200)
    level: Literal["sealed", "controlled", "precaution"]
    areas: list[ZoneAreaIn] = Field(min_length=1, max_length=10_000)
    starts_at: AwareDatetime | None = Field(None, description="default: now")
    lifting_criteria: str = Field("", max_length=2000)


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    level: str
    region_code: str
    starts_at: datetime
    ends_at: datetime | None
    lifting_criteria: str


class ZoneLifted(BaseModel):
    id: int
    ends_at: datetime


@router.get("/regions/search", response_model=list[RegionOut])
def api_search_regions(
    session: SessionDep,
    actor: CurrentActor,
    q: Annotated[str, Query(max_length=50, description="part of a name, or a code prefix")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RegionOut]:
    return [RegionOut.model_validate(r) for r in search_regions(session, actor, q, limit)]


@router.get("/regions/{code}", response_model=RegionOut)
def api_region(session: SessionDep, actor: CurrentActor, code: str) -> RegionOut:
    return RegionOut.model_validate(get_region(session, actor, code))


@router.get("/regions/{code}/children", response_model=list[RegionChildOut])
def api_region_children(
    session: SessionDep, actor: CurrentActor, code: str
) -> list[RegionChildOut]:
    kids = children(session, actor, code)
    counts = (
        population_by_child(session, actor, code) if actor.can(Permission.REGISTRY_READ) else None
    )
    return [
        RegionChildOut(
            code=k.code,
            name=k.name,
            level=k.level,
            parent_code=k.parent_code,
            prefix=k.prefix,
            population=None if counts is None else counts.get(k.code, 0),
        )
        for k in kids
    ]


@router.get("/zones", response_model=list[ZoneOut], tags=["zones"])
def api_zones(session: SessionDep, actor: CurrentActor) -> list[ZoneOut]:
    """Zones in force now, inside the caller's jurisdiction."""
    return [ZoneOut.model_validate(z) for z in active_zones(session, actor)]


@router.post("/zones", response_model=ZoneOut, status_code=201, tags=["zones"])
def api_designate_zone(session: SessionDep, actor: CurrentActor, body: ZoneIn) -> ZoneOut:
    zone = designate_zone(
        session,
        actor,
        name=body.name,
        level=body.level,
        areas=[ZoneArea(region_code=a.region_code, address_id=a.address_id) for a in body.areas],
        starts_at=body.starts_at,
        lifting_criteria=body.lifting_criteria,
    )
    return ZoneOut.model_validate(zone)


@router.post("/zones/{zone_id}/lift", response_model=ZoneLifted, tags=["zones"])
def api_lift_zone(session: SessionDep, actor: CurrentActor, zone_id: int) -> ZoneLifted:
    at = clock.now()
    lift_zone(session, actor, zone_id, at)
    return ZoneLifted(id=zone_id, ends_at=at)

"""Region lookups (scoped to the actor's jurisdiction), population counts,
and the risk-zone overlay."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require, scope
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.models import Address, Person
from fangkong.regions.models import Region, RiskZone, RiskZoneArea

ZONE_LEVELS = ("sealed", "controlled", "precaution")
ZONE_RANK = {level: rank for rank, level in enumerate(ZONE_LEVELS)}  # 0 = strictest


def region_names(session: Session, codes: set[str]) -> dict[str, str]:
    """The names of regions by code (names are public: no scoping)."""
    if not codes:
        return {}
    rows = session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    return {str(code): str(name) for code, name in rows}


def _visible(actor: Actor, region: Region) -> bool:
    """A region is visible when it is in the jurisdiction or above it (a
    county user sees its city and province names, not their other children)."""
    return covers(actor.jurisdiction, region.prefix) or actor.jurisdiction.startswith(region.prefix)


def get_region(session: Session, actor: Actor, code: str) -> Region:
    region = session.get(Region, code)
    if region is None or not _visible(actor, region):
        raise NotFound(f"region {code} not found")
    return region


def children(session: Session, actor: Actor, code: str) -> list[Region]:
    get_region(session, actor, code)
    stmt = select(Region).where(Region.parent_code == code).order_by(Region.code)
    return [r for r in session.scalars(stmt) if _visible(actor, r)]


def ancestors(session: Session, actor: Actor, code: str) -> list[Region]:
    """From the top (province) down to the region's parent."""
    region = get_region(session, actor, code)
    chain: list[Region] = []
    while region.parent_code is not None:
        parent = session.get(Region, region.parent_code)
        if parent is None:
            break
        chain.append(parent)
        region = parent
    return list(reversed(chain))


def roots(session: Session, actor: Actor) -> list[Region]:
    """The top of what the actor may browse: its own jurisdiction region."""
    if actor.jurisdiction:
        region = session.scalar(select(Region).where(Region.prefix == actor.jurisdiction))
        return [region] if region else []
    return list(session.scalars(select(Region).where(Region.parent_code.is_(None))))


def search_regions(session: Session, actor: Actor, text: str, limit: int = 50) -> list[Region]:
    text = text.strip()
    if not text:
        return []
    stmt = select(Region).where(
        or_(Region.name.contains(text, autoescape=True), Region.code.startswith(text))
    )
    stmt = scope(stmt, Region.code, actor).order_by(Region.code).limit(limit)
    return list(session.scalars(stmt))


def population_by_child(session: Session, actor: Actor, code: str) -> dict[str, int]:
    """Registered persons under each child of ``code`` (and ``code`` itself
    under the key ``code``), counting only the actor's jurisdiction."""
    require(actor, Permission.REGISTRY_READ)
    region = get_region(session, actor, code)
    kids = children(session, actor, code)
    prefix = region.prefix if covers(actor.jurisdiction, region.prefix) else actor.jurisdiction
    counts_by_code = _person_counts(session, prefix)
    totals: dict[str, int] = defaultdict(int)
    for person_region, count in counts_by_code.items():
        totals[code] += count
        for kid in kids:
            if person_region.startswith(kid.prefix):
                totals[kid.code] += count
                break
    return dict(totals)


def _person_counts(session: Session, prefix: str) -> dict[str, int]:
    stmt = (
        select(Person.region_code, func.count())
        .where(Person.merged_into_id.is_(None))
        .group_by(Person.region_code)
    )
    if prefix:
        stmt = stmt.where(Person.region_code.startswith(prefix, autoescape=True))
    return {str(r): int(c) for r, c in session.execute(stmt)}


@dataclass(frozen=True)
class ZoneArea:
    region_code: str | None = None
    address_id: int | None = None


def designate_zone(
    session: Session,
    actor: Actor,
    *,
    name: str,
    level: str,
    areas: list[ZoneArea],
    starts_at: datetime | None = None,
    lifting_criteria: str = "",
) -> RiskZone:
    """Lay a sealed / controlled / precaution zone over regions or addresses."""
    require(actor, Permission.ZONES_MANAGE)
    if level not in ZONE_LEVELS:
        raise InvalidInput("level", f"must be one of {', '.join(ZONE_LEVELS)}")
    if not name.strip():
        raise InvalidInput("name", "is empty")
    if not areas:
        raise InvalidInput("areas", "a zone needs at least one region or address")
    codes: list[str] = []
    for area in areas:
        if (area.region_code is None) == (area.address_id is None):
            raise InvalidInput("areas", "each area is either a region or an address")
        if area.region_code is not None:
            region = session.get(Region, area.region_code)
            ensure_in_scope(actor, region.code if region else None, "region")
            codes.append(area.region_code)
        else:
            address = session.get(Address, area.address_id)
            ensure_in_scope(actor, address.region_code if address else None, "address")
            assert address is not None
            codes.append(address.region_code)
    common = common_prefix(codes)
    zone = RiskZone(
        name=name.strip(),
        level=level,
        region_code=common,
        starts_at=starts_at or clock.now(),
        lifting_criteria=lifting_criteria,
        created_at=clock.now(),
    )
    session.add(zone)
    session.flush()
    for area in areas:
        session.add(
            RiskZoneArea(zone_id=zone.id, region_code=area.region_code, address_id=area.address_id)
        )
    record_audit(
        session,
        actor,
        "zone.designate",
        "risk_zone",
        zone.id,
        common,
        {"name": zone.name, "level": level, "areas": len(areas)},
    )
    session.commit()
    return zone


def lift_zone(session: Session, actor: Actor, zone_id: int, at: datetime | None = None) -> None:
    require(actor, Permission.ZONES_MANAGE)
    zone = session.get(RiskZone, zone_id)
    ensure_in_scope(actor, zone.region_code if zone else None, "zone")
    assert zone is not None
    if zone.ends_at is not None:
        raise Conflict("the zone was already lifted")
    zone.ends_at = at or clock.now()
    record_audit(
        session,
        actor,
        "zone.lift",
        "risk_zone",
        zone.id,
        zone.region_code,
        {"ends_at": zone.ends_at.isoformat()},
    )
    session.commit()


def zone_level_at(session: Session, address_id: int, at: datetime | None = None) -> str | None:
    """The strictest zone level covering an address at a time, or None."""
    at = at or clock.now()
    address = session.get(Address, address_id)
    if address is None:
        return None
    prefixes = [address.region_code[:n] for n in (2, 4, 6, 9, 12)]
    regions = select(Region.code).where(Region.prefix.in_(prefixes))
    stmt = (
        select(RiskZone.level)
        .join(RiskZoneArea, RiskZoneArea.zone_id == RiskZone.id)
        .where(
            or_(RiskZoneArea.address_id == address_id, RiskZoneArea.region_code.in_(regions)),
            RiskZone.starts_at <= at,
            or_(RiskZone.ends_at.is_(None), RiskZone.ends_at > at),
        )
    )
    levels = set(session.scalars(stmt))
    return min(levels, key=lambda lv: ZONE_RANK[lv]) if levels else None


@dataclass(frozen=True)
class ZoneCover:
    """Where zones of some levels are in force: region prefixes and single
    addresses, each with the strictest level laid on it."""

    prefixes: dict[str, str]
    addresses: dict[int, str]

    def level_of(self, region_code: str, address_id: int | None) -> str | None:
        levels = [lv for p, lv in self.prefixes.items() if region_code.startswith(p)]
        if address_id is not None and address_id in self.addresses:
            levels.append(self.addresses[address_id])
        return min(levels, key=lambda lv: ZONE_RANK[lv]) if levels else None


def zones_in_force(
    session: Session, levels: tuple[str, ...], at: datetime | None = None
) -> ZoneCover:
    """Every area under a zone of one of ``levels`` at ``at`` (now by default),
    for checks over many persons at once."""
    at = at or clock.now()
    stmt = (
        select(RiskZone.level, Region.prefix, RiskZoneArea.address_id)
        .join(RiskZoneArea, RiskZoneArea.zone_id == RiskZone.id)
        .outerjoin(Region, Region.code == RiskZoneArea.region_code)
        .where(
            RiskZone.level.in_(levels),
            RiskZone.starts_at <= at,
            or_(RiskZone.ends_at.is_(None), RiskZone.ends_at > at),
        )
    )
    prefixes: dict[str, str] = {}
    addresses: dict[int, str] = {}
    for level, prefix, address_id in session.execute(stmt):
        target: dict[Any, str] = prefixes if prefix is not None else addresses
        key = prefix if prefix is not None else address_id
        if key not in target or ZONE_RANK[level] < ZONE_RANK[target[key]]:
            target[key] = level
    return ZoneCover(prefixes, addresses)


def active_zones(session: Session, actor: Actor) -> list[RiskZone]:
    now = clock.now()
    stmt = select(RiskZone).where(or_(RiskZone.ends_at.is_(None), RiskZone.ends_at > now))
    return list(session.scalars(scope(stmt, RiskZone.region_code, actor).order_by(RiskZone.id)))


def common_prefix(codes: list[str]) -> str:
    first = codes[0]
    length = len(first)
    for code in codes[1:]:
        length = min(length, len(code))
        while not code.startswith(first[:length]):
            length -= 1
    for n in (12, 9, 6, 4, 2):
        if n <= length:
            return first[:n]
    return ""

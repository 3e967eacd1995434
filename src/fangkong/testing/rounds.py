"""Rounds, their areas and sampling policy, sampling sites, exemptions.

A round is visible to a user whose jurisdiction lies inside it (a county
worker sees the city's round, and only the county's part of its figures) or
who covers it (the city commander sees a county's round)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require, scope
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.regions.models import Region
from fangkong.regions.service import common_prefix
from fangkong.testing.models import Exemption, Round, RoundArea, SamplingSite
from fangkong.testing.rules import allowed_pool_sizes

DEFAULT_WINDOW = timedelta(hours=24)
EXEMPTION_REASONS = {
    "away": ("外出（有证明）", "away, with proof"),
    "hospital": ("已在定点医院", "already in a designated hospital"),
    "infant": ("婴幼儿", "infant"),
    "other": ("其他", "other"),
}


@dataclass(frozen=True)
class AreaPolicy:
    region_code: str
    pool_size: int


def round_visible(actor: Actor, testing_round: Round) -> bool:
    return covers(actor.jurisdiction, testing_round.region_code) or actor.jurisdiction.startswith(
        testing_round.region_code
    )


def get_round(session: Session, actor: Actor, round_id: int) -> Round:
    require(actor, Permission.TESTING_READ)
    testing_round = session.get(Round, round_id)
    if testing_round is None or not round_visible(actor, testing_round):
        raise NotFound(f"round {round_id} not found")
    return testing_round


def list_rounds(session: Session, actor: Actor) -> list[Round]:
    require(actor, Permission.TESTING_READ)
    stmt = select(Round).order_by(Round.starts_at.desc(), Round.id.desc())
    if actor.jurisdiction:
        prefixes = [
            actor.jurisdiction[:n] for n in (2, 4, 6, 9, 12) if n <= len(actor.jurisdiction)
        ]
        stmt = stmt.where(
            or_(
                Round.region_code.startswith(actor.jurisdiction, autoescape=True),
                Round.region_code.in_(prefixes),
            )
        )
    return list(session.scalars(stmt))


def round_areas(session: Session, round_id: int) -> list[tuple[str, int]]:
    """The round's ``(prefix, pool_size)`` areas."""
    stmt = select(RoundArea.prefix, RoundArea.pool_size).where(RoundArea.round_id == round_id)
    return [(p, s) for p, s in session.execute(stmt)]


def _check_pool_size(pool_size: int, field: str = "pool_size") -> None:
    allowed = allowed_pool_sizes(get_policy())
    if pool_size not in allowed:
        raise InvalidInput(
            field, f"must be one of {', '.join(map(str, allowed))} (1 = single tube)"
        )


def create_round(
    session: Session,
    actor: Actor,
    *,
    name: str,
    areas: list[AreaPolicy],
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Round:
    """Open a round over regions, each with its sampling policy."""
    require(actor, Permission.TESTING_MANAGE)
    name = name.strip()
    if not name:
        raise InvalidInput("name", "is empty")
    if not areas:
        raise InvalidInput("region", "a round covers at least one region")
    starts_at = starts_at or clock.now()
    ends_at = ends_at or starts_at + DEFAULT_WINDOW
    if ends_at <= starts_at:
        raise InvalidInput("ends_at", "must be after the start")
    prefixes = []
    for index, area in enumerate(areas):
        region = session.get(Region, area.region_code)
        if region is None:
            raise InvalidInput(f"areas[{index}].region_code", f"no region {area.region_code}")
        ensure_in_scope(actor, region.prefix, "region")
        _check_pool_size(area.pool_size, f"areas[{index}].pool_size")
        prefixes.append(region.prefix)
    if len(set(prefixes)) != len(prefixes):
        raise InvalidInput("areas", "a region is listed twice")
    testing_round = Round(
        name=name,
        region_code=common_prefix(prefixes),
        starts_at=starts_at,
        ends_at=ends_at,
        pool_size=areas[0].pool_size,
        status="open",
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    session.add(testing_round)
    session.flush()
    for area, prefix in zip(areas, prefixes, strict=True):
        session.add(
            RoundArea(
                round_id=testing_round.id,
                region_code=area.region_code,
                prefix=prefix,
                pool_size=area.pool_size,
            )
        )
    record_audit(
        session,
        actor,
        "round.create",
        "round",
        testing_round.id,
        testing_round.region_code,
        {
            "name": name,
            "areas": {a.region_code: a.pool_size for a in areas},
            "window": [starts_at.isoformat(), ends_at.isoformat()],
        },
    )
    session.commit()
    return testing_round


def close_round(session: Session, actor: Actor, round_id: int) -> Round:
    require(actor, Permission.TESTING_MANAGE)
    testing_round = get_round(session, actor, round_id)
    ensure_in_scope(actor, testing_round.region_code, "round")
    if testing_round.status != "closed":
        testing_round.status = "closed"
        record_audit(session, actor, "round.close", "round", round_id, testing_round.region_code)
        session.commit()
    return testing_round


def create_site(
    session: Session,
    actor: Actor,
    *,
    name: str,
    region_code: str,
    address: str = "",
    staff: list[str] | None = None,
) -> SamplingSite:
    require(actor, Permission.TESTING_MANAGE)
    if not name.strip():
        raise InvalidInput("name", "is empty")
    region = session.get(Region, region_code)
    if region is None:
        raise InvalidInput("region_code", f"no region {region_code}")
    ensure_in_scope(actor, region.prefix, "region")
    site = SamplingSite(
        name=name.strip(),
        region_code=region.prefix,
        address=address.strip(),
        staff=[s.strip() for s in staff or [] if s.strip()],
        active=True,
        created_at=clock.now(),
    )
    session.add(site)
    session.flush()
    record_audit(
        session, actor, "site.create", "sampling_site", site.id, site.region_code, {"name": name}
    )
    session.commit()
    return site


def list_sites(session: Session, actor: Actor) -> list[SamplingSite]:
    require(actor, Permission.TESTING_READ)
    stmt = select(SamplingSite).where(SamplingSite.active.is_(True)).order_by(SamplingSite.name)
    return list(session.scalars(scope(stmt, SamplingSite.region_code, actor)))


def get_site(session: Session, actor: Actor, site_id: int) -> SamplingSite:
    site = session.get(SamplingSite, site_id)
    if site is None:
        raise NotFound(f"sampling site {site_id} not found")
    ensure_in_scope(actor, site.region_code, "sampling site")
    return site


def record_exemption(
    session: Session,
    actor: Actor,
    round_id: int,
    person_id: int,
    *,
    reason: str,
    note: str = "",
) -> Exemption:
    """A person leaves the round's denominator, with the reason."""
    require(actor, Permission.TESTING_EXEMPT)
    testing_round = get_round(session, actor, round_id)
    if reason not in EXEMPTION_REASONS or reason == "infant":
        choices = ", ".join(r for r in EXEMPTION_REASONS if r != "infant")
        raise InvalidInput(
            "reason", f"must be one of {choices} (infants are exempt by rule, by age)"
        )
    if reason in ("away", "other") and not note.strip():
        raise InvalidInput("note", "say where the person is and what proof was seen")
    person = session.get(Person, person_id)
    if person is None or not covers(actor.jurisdiction, person.region_code):
        raise NotFound("person not found")
    if not any(person.region_code.startswith(p) for p, _ in round_areas(session, round_id)):
        raise InvalidInput("person_id", "this person lives outside the round's areas")
    existing = session.scalar(
        select(Exemption).where(Exemption.round_id == round_id, Exemption.person_id == person_id)
    )
    if existing is not None:
        if existing.reason == reason and existing.note == note.strip():
            return existing
        raise Conflict(f"this person is already exempt from round {testing_round.id}")
    exemption = Exemption(
        round_id=round_id,
        person_id=person_id,
        region_code=person.region_code,
        reason=reason,
        note=note.strip(),
        recorded_by=actor.user_id,
        recorded_at=clock.now(),
    )
    session.add(exemption)
    session.flush()
    record_audit(
        session,
        actor,
        "round.exempt",
        "person",
        person_id,
        person.region_code,
        {"round": round_id, "reason": reason, "note": note.strip()},
    )
    session.commit()
    return exemption


def infant_cutoff(testing_round: Round) -> date:
    """Persons born after this day are infants below the policy age on the
    round's first day (local time), exempt by rule."""
    years = get_policy().exempt_below_age_years
    start = testing_round.starts_at.astimezone(get_settings().zone).date()
    try:
        return start.replace(year=start.year - years)
    except ValueError:  # 29 February
        return start.replace(year=start.year - years, day=28)

"""The sampling flow at a site, one record at a time (API and the phone
page): open a tube by its barcode, add persons, close it. Batch files from
handhelds go through :mod:`fangkong.testing.sample_import`, with the same
rules and the same words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission, covers
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.regions.service import zones_in_force
from fangkong.testing.models import FollowUpTask, Round, Tube, TubeMember
from fangkong.testing.rounds import get_round, get_site, round_areas
from fangkong.testing.rules import (
    ZONE_NAMES,
    allowed_pool_sizes,
    area_pool_size,
    pooling_forbidden,
    reason,
)


def _refuse(field: str, key: str, detail: object = "") -> InvalidInput:
    zh, en = reason(key, detail)
    return InvalidInput(field, f"{zh} ({en})")


@dataclass(frozen=True)
class MemberView:
    person_id: int
    name: str
    id_number_masked: str
    sampled_at: datetime
    followup: bool


@dataclass(frozen=True)
class TubeView:
    id: int
    barcode: str
    round_id: int | None  # None: a single tube taken during a quarantine stay
    pool_size: int
    purpose: str
    state: str
    result: str | None
    conflict: bool
    members: list[MemberView]

    @property
    def room_left(self) -> int:
        return self.pool_size - len(self.members)


def _closed(testing_round: Round) -> bool:
    """A closed round takes only follow-up re-sampling (single tubes of
    persons with an open task), so no positive pool is left hanging."""
    return testing_round.status != "open"


def load_tube(session: Session, actor: Actor, barcode: str) -> Tube:
    tube = session.scalar(select(Tube).where(Tube.barcode == barcode.strip()))
    if tube is None:
        raise NotFound(f"tube {barcode} not found")
    ensure_in_scope(actor, tube.region_code, "tube")
    return tube


def tube_view(session: Session, tube: Tube) -> TubeView:
    rows = session.execute(
        select(TubeMember, Person)
        .join(Person, Person.id == TubeMember.person_id)
        .where(TubeMember.tube_id == tube.id)
        .order_by(TubeMember.sampled_at, TubeMember.person_id)
    )
    members = [
        MemberView(p.id, p.name, mask_identity(p.id_number), m.sampled_at, m.task_id is not None)
        for m, p in rows
    ]
    return TubeView(
        tube.id,
        tube.barcode,
        tube.round_id,
        tube.pool_size,
        tube.purpose,
        tube.state,
        tube.result,
        tube.conflict,
        members,
    )


def get_tube(session: Session, actor: Actor, barcode: str) -> TubeView:
    require(actor, Permission.TESTING_READ)
    return tube_view(session, load_tube(session, actor, barcode))


def open_tube(
    session: Session,
    actor: Actor,
    *,
    round_id: int,
    barcode: str,
    pool_size: int | None = None,
    site_id: int | None = None,
    client_uid: str | None = None,
) -> TubeView:
    """Start filling a tube. Sending the same request again (same barcode and
    ``client_uid``, as a handheld does after a lost answer) returns the tube
    as it is; any other use of a known barcode is refused."""
    require(actor, Permission.TESTING_SAMPLE)
    testing_round = get_round(session, actor, round_id)
    barcode = barcode.strip()
    if not barcode or len(barcode) > 40:
        raise InvalidInput("barcode", "a tube barcode has 1 to 40 characters")
    pool_size = testing_round.pool_size if pool_size is None else pool_size
    if pool_size not in allowed_pool_sizes(get_policy()):
        sizes = ", ".join(map(str, allowed_pool_sizes(get_policy())))
        raise _refuse("pool_size", "pool_size_not_allowed", sizes)
    if _closed(testing_round) and pool_size != 1:
        raise _refuse("round_id", "round_closed")
    existing = session.scalar(select(Tube).where(Tube.barcode == barcode))
    if existing is not None:
        same_request = client_uid is not None and existing.client_uid == client_uid
        if same_request and covers(actor.jurisdiction, existing.region_code):
            return tube_view(session, existing)
        raise _refuse("barcode", "barcode_used", barcode)
    region_code = actor.jurisdiction or testing_round.region_code
    if site_id is not None:
        region_code = get_site(session, actor, site_id).region_code
    if not (
        covers(testing_round.region_code, region_code)
        or covers(region_code, testing_round.region_code)
    ):
        raise InvalidInput("site_id", "the sampling site is outside this round's areas")
    tube = Tube(
        barcode=barcode,
        round_id=round_id,
        region_code=region_code,
        site_id=site_id,
        pool_size=pool_size,
        purpose="round",
        state="open",
        client_uid=client_uid,
        opened_at=clock.now(),
        lab="",
        conflict=False,
    )
    session.add(tube)
    session.flush()
    record_audit(
        session,
        actor,
        "tube.open",
        "tube",
        barcode,
        region_code,
        {"round": round_id, "pool_size": pool_size, "site": site_id},
    )
    session.commit()
    return tube_view(session, tube)


def add_to_tube(session: Session, actor: Actor, *, barcode: str, id_number: str) -> TubeView:
    """Put one person's swab in an open tube. Adding the same person to the
    same tube again changes nothing."""
    require(actor, Permission.TESTING_SAMPLE)
    tube = load_tube(session, actor, barcode)
    if tube.round_id is None:
        raise Conflict(f"tube {tube.barcode} was taken during a quarantine stay, not in a round")
    testing_round = get_round(session, actor, tube.round_id)
    person = session.scalar(
        select(Person).where(
            Person.id_number == id_number.strip().upper(), Person.merged_into_id.is_(None)
        )
    )
    if person is None or not covers(actor.jurisdiction, person.region_code):
        raise _refuse("id_number", "not_in_registry")
    members = session.execute(
        select(TubeMember.person_id, TubeMember.task_id).where(TubeMember.tube_id == tube.id)
    ).all()
    if any(pid == person.id for pid, _ in members):
        return tube_view(session, tube)
    if tube.state != "open":
        raise _refuse("barcode", "tube_closed")
    task = _check_person(session, testing_round, tube, person)
    if task is None and _closed(testing_round):
        raise _refuse("round_id", "round_closed")
    if len(members) >= tube.pool_size:
        raise _refuse("barcode", "tube_full", tube.pool_size)
    if tube.site_id is None and not members:
        tube.region_code = person.region_code  # a tube without a site belongs where its people live
    now = clock.now()
    session.add(
        TubeMember(
            tube_id=tube.id,
            round_id=tube.round_id,
            person_id=person.id,
            region_code=person.region_code,
            sampled_at=now,
            task_id=task.id if task else None,
        )
    )
    if task is not None:
        task.state, task.done_at = "done", now
        tube.purpose = "followup"
    record_audit(
        session,
        actor,
        "tube.add_person",
        "tube",
        tube.barcode,
        person.region_code,
        {"person": person.id, "followup_task": task.id if task else None},
    )
    session.commit()
    return tube_view(session, tube)


def _check_person(
    session: Session, testing_round: Round, tube: Tube, person: Person
) -> FollowUpTask | None:
    """Refuse a person who may not go into this tube; return their open
    follow-up task when this is their re-sampling."""
    areas = round_areas(session, testing_round.id)
    area_size = area_pool_size(person.region_code, areas)
    if area_size is None:
        raise _refuse("id_number", "outside_round", person.region_code)
    if tube.pool_size > area_size:
        raise _refuse("pool_size", "pool_exceeds_area", area_size)
    task = session.scalar(
        select(FollowUpTask).where(
            FollowUpTask.person_id == person.id,
            FollowUpTask.round_id == testing_round.id,
            FollowUpTask.state == "open",
        )
    )
    if task is not None:
        if tube.pool_size != 1:
            raise _refuse("barcode", "followup_single_tube")
        return task
    earlier = session.scalar(
        select(Tube.barcode)
        .join(TubeMember, TubeMember.tube_id == Tube.id)
        .where(
            TubeMember.round_id == testing_round.id,
            TubeMember.person_id == person.id,
            TubeMember.task_id.is_(None),
        )
    )
    if earlier is not None:
        raise _refuse("id_number", "already_sampled", earlier)
    if tube.pool_size > 1:
        policy = get_policy()
        level = zones_in_force(session, policy.single_tube_zone_levels).level_of(
            person.region_code, person.address_id
        )
        if pooling_forbidden(level, policy):
            assert level is not None
            raise _refuse("id_number", "single_tube_required", ZONE_NAMES[level])
    return None


def close_tube(session: Session, actor: Actor, *, barcode: str) -> TubeView:
    """Seal a tube for the lab (collected). Closing it again changes nothing."""
    require(actor, Permission.TESTING_SAMPLE)
    tube = load_tube(session, actor, barcode)
    if tube.state != "open":
        return tube_view(session, tube)
    count = session.scalar(select(func.count()).where(TubeMember.tube_id == tube.id))
    if not count:
        raise _refuse("barcode", "tube_empty")
    tube.state, tube.collected_at = "collected", clock.now()
    record_audit(
        session, actor, "tube.close", "tube", tube.barcode, tube.region_code, {"members": count}
    )
    session.commit()
    return tube_view(session, tube)

"""The positive board: every positive pool of a round with each member's
follow-up clock (controlled, re-sampled, resolved), and the positive
persons found (for the tracing capability to turn into cases)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require, scope
from fangkong.people.identity import mask_identity
from fangkong.people.models import Person
from fangkong.testing.models import (
    FollowUpTask,
    LabResult,
    PositivePerson,
    TemporaryControl,
    Tube,
    TubeMember,
)
from fangkong.testing.rounds import get_round
from fangkong.testing.rules import task_status


@dataclass(frozen=True)
class PoolMember:
    person_id: int
    name: str
    id_number: str
    region_code: str
    under_control: bool
    controlled_at: datetime | None
    task: str  # open, done, overdue, cancelled, or "" when there is none
    due_at: datetime | None
    resampled_at: datetime | None
    resolved_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class PositivePool:
    barcode: str
    pool_size: int
    result_at: datetime | None
    conflict: bool
    members: list[PoolMember]

    @property
    def controlled_within_seconds(self) -> float | None:
        """From the pooled result to the last member under control."""
        times = [m.controlled_at for m in self.members]
        if self.result_at is None or not times or any(t is None for t in times):
            return None
        return max((t - self.result_at).total_seconds() for t in times if t is not None)


@dataclass(frozen=True)
class PositivePersonView:
    id: int  # the positive person (tracing makes a case of it)
    person_id: int
    name: str
    id_number: str
    region_code: str
    barcode: str
    via_pool: str | None
    found_at: datetime


def positive_pools(session: Session, actor: Actor, round_id: int) -> list[PositivePool]:
    """Pooled tubes with a positive result (also a conflicting one), newest
    first, with their members as the actor's jurisdiction shows them."""
    require(actor, Permission.TESTING_READ)
    get_round(session, actor, round_id)
    positive = exists().where(and_(LabResult.tube_id == Tube.id, LabResult.result == "positive"))
    pools = select(Tube).where(Tube.round_id == round_id, Tube.pool_size > 1, positive)
    if actor.jurisdiction:
        # A pool is on the board of every jurisdiction one of its members
        # lives in: each member's task belongs to the member's community.
        resident = exists().where(
            TubeMember.tube_id == Tube.id,
            TubeMember.region_code.startswith(actor.jurisdiction, autoescape=True),
        )
        pools = pools.where(
            or_(Tube.region_code.startswith(actor.jurisdiction, autoescape=True), resident)
        )
    tubes = session.scalars(pools.order_by(Tube.result_at.desc(), Tube.id)).all()
    if not tubes:
        return []
    unmasked = actor.can(Permission.REGISTRY_READ_PERSONAL)
    now = clock.now()
    stmt = (
        select(TubeMember.tube_id, Person, TemporaryControl, FollowUpTask)
        .join(Person, Person.id == TubeMember.person_id)
        .outerjoin(
            TemporaryControl,
            and_(
                TemporaryControl.person_id == TubeMember.person_id,
                TemporaryControl.source_tube_id == TubeMember.tube_id,
            ),
        )
        .outerjoin(
            FollowUpTask,
            and_(
                FollowUpTask.person_id == TubeMember.person_id,
                FollowUpTask.source_tube_id == TubeMember.tube_id,
            ),
        )
        .where(TubeMember.tube_id.in_([t.id for t in tubes]))
        .order_by(TubeMember.sampled_at, TubeMember.person_id)
    )
    positives = set(
        session.scalars(select(PositivePerson.person_id).where(PositivePerson.round_id == round_id))
    )
    members: dict[int, list[PoolMember]] = {}
    for tube_id, person, control, task in session.execute(stmt):
        if not person.region_code.startswith(actor.jurisdiction):
            continue
        controlled = person.id in positives or (control is not None and control.ended_at is None)
        members.setdefault(tube_id, []).append(
            PoolMember(
                person_id=person.id,
                name=person.name,
                id_number=person.id_number if unmasked else mask_identity(person.id_number),
                region_code=person.region_code,
                under_control=controlled,
                controlled_at=control.started_at if control else None,
                task=task_status(task.state, task.due_at, now) if task else "",
                due_at=task.due_at if task else None,
                resampled_at=task.done_at if task else None,
                resolved_at=task.resolved_at if task else None,
                outcome=task.outcome if task else None,
            )
        )
    return [
        PositivePool(t.barcode, t.pool_size, t.result_at, t.conflict, members.get(t.id, []))
        for t in tubes
    ]


def positive_persons(session: Session, actor: Actor, round_id: int) -> list[PositivePersonView]:
    require(actor, Permission.TESTING_READ)
    get_round(session, actor, round_id)
    unmasked = actor.can(Permission.REGISTRY_READ_PERSONAL)
    pool = Tube.__table__.alias("pool")
    stmt = scope(
        select(PositivePerson, Person, Tube.barcode, pool.c.barcode)
        .join(Person, Person.id == PositivePerson.person_id)
        .join(Tube, Tube.id == PositivePerson.tube_id)
        .outerjoin(pool, pool.c.id == PositivePerson.via_pool_tube_id)
        .where(PositivePerson.round_id == round_id),
        PositivePerson.region_code,
        actor,
    ).order_by(PositivePerson.found_at.desc())
    return [
        PositivePersonView(
            found.id,
            person.id,
            person.name,
            person.id_number if unmasked else mask_identity(person.id_number),
            person.region_code,
            barcode,
            via,
            found.found_at,
        )
        for found, person, barcode, via in session.execute(stmt)
    ]

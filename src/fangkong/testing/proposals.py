"""The next round's pool size per community, from what a round found there:
persons sampled and positive persons per community, and the communities
under a sealed or controlled zone (single tubes whatever the figures). The
choice itself is :func:`fangkong.testing.planner.propose_pool_sizes`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require, scope
from fangkong.policy import get_policy
from fangkong.regions.service import zones_in_force
from fangkong.testing.models import PositivePerson, TubeMember
from fangkong.testing.planner import PoolProposal, propose_pool_sizes
from fangkong.testing.rounds import get_round


def next_round_pool_sizes(session: Session, actor: Actor, round_id: int) -> dict[str, PoolProposal]:
    """For every community of the actor's jurisdiction sampled in the round."""
    require(actor, Permission.TESTING_READ)
    get_round(session, actor, round_id)
    sampled = session.execute(
        scope(
            select(TubeMember.region_code, func.count())
            .where(TubeMember.round_id == round_id, TubeMember.task_id.is_(None))
            .group_by(TubeMember.region_code),
            TubeMember.region_code,
            actor,
        )
    )
    observed = {str(code): (0, int(count)) for code, count in sampled}
    positives = session.execute(
        scope(
            select(PositivePerson.region_code, func.count(func.distinct(PositivePerson.person_id)))
            .where(PositivePerson.round_id == round_id)
            .group_by(PositivePerson.region_code),
            PositivePerson.region_code,
            actor,
        )
    )
    for code, count in positives:
        _, persons = observed.get(str(code), (0, 0))
        observed[str(code)] = (int(count), max(persons, int(count)))
    zones = zones_in_force(session, get_policy().single_tube_zone_levels)
    sealed = {code for code in observed if zones.level_of(code, None) is not None}
    return propose_pool_sizes(observed, single_tube_communities=sealed)

"""A round's areas set the most swabs a tube may hold there; a closed round
still takes the follow-up re-sampling of its positive pools; a tube opened
without a site belongs to the community of the people in it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.errors import InvalidInput, NotFound
from fangkong.testing.models import (
    FollowUpTask,
    LabResult,
    PositivePerson,
    Round,
    TemporaryControl,
    Tube,
)
from fangkong.testing.positives import positive_pools
from fangkong.testing.proposals import next_round_pool_sizes
from fangkong.testing.results import record_lab_result, settle_conflict
from fangkong.testing.rounds import AreaPolicy, close_round
from fangkong.testing.rules import reason
from fangkong.testing.sample_import import import_samples
from fangkong.testing.sampling import add_to_tube, get_tube, open_tube
from tests.testing.conftest import (
    A1,
    ANCI,
    LAB_NAME,
    TOWNSHIP_A,
    TOWNSHIP_B,
    Registry,
    fill_tube,
    samples_file,
    says,
    swab,
)


def _positive(session: Session, lab: Actor, barcode: str) -> None:
    record_lab_result(
        session,
        lab,
        barcode=barcode,
        result="positive",
        tested_at=clock.now(),
        lab=LAB_NAME,
        ct_orf1ab=27.0,
        ct_n=28.0,
    )


def test_a_tube_larger_than_the_areas_policy_is_refused_online_and_by_file(
    session: Session,
    sampler: Actor,
    registry: Registry,
    make_round: Callable[..., Round],
) -> None:
    strict = make_round(areas=[AreaPolicy(ANCI, 10), AreaPolicy(TOWNSHIP_A, 5)])
    open_tube(session, sampler, round_id=strict.id, barcode="P0001", pool_size=10)

    with pytest.raises(InvalidInput, match=says("pool_exceeds_area", 5)):
        add_to_tube(session, sampler, barcode="P0001", id_number=registry.a1[0].id_number)
    allowed = add_to_tube(session, sampler, barcode="P0001", id_number=registry.b1[0].id_number)
    assert [m.person_id for m in allowed.members] == [registry.b1[0].id]

    result = import_samples(
        session,
        sampler,
        strict.id,
        samples_file(
            [swab("P0002", registry.a1[1], pool=10), swab("P0003", registry.a1[2], pool=5)]
        ),
        "samples.csv",
    )
    assert (result.accepted, result.rejected) == (1, 1)
    assert (result.rejects[0].reason_zh, result.rejects[0].reason_en) == reason(
        "pool_exceeds_area", 5
    )


def test_a_closed_round_takes_the_follow_up_of_its_positive_pools_and_nothing_else(
    session: Session,
    sampler: Actor,
    lab: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    fill_tube(session, sampler, anci_round.id, "C0001", registry.a1[:2])
    _positive(session, lab, "C0001")
    close_round(session, county_commander, anci_round.id)

    with pytest.raises(InvalidInput, match=says("round_closed")):
        open_tube(session, sampler, round_id=anci_round.id, barcode="C0002")
    open_tube(session, sampler, round_id=anci_round.id, barcode="C0003", pool_size=1)
    with pytest.raises(InvalidInput, match=says("round_closed")):
        add_to_tube(session, sampler, barcode="C0003", id_number=registry.a2[0].id_number)
    view = add_to_tube(session, sampler, barcode="C0003", id_number=registry.a1[0].id_number)
    assert view.purpose == "followup"

    result = import_samples(
        session,
        sampler,
        anci_round.id,
        samples_file(
            [swab("C0004", registry.a1[1], pool=1), swab("C0005", registry.a2[1], pool=1)]
        ),
        "samples.csv",
    )
    assert (result.accepted, result.followups, result.rejected) == (1, 1, 1)
    assert session.scalars(select(FollowUpTask.state)).all() == ["done", "done"]


def test_a_tube_opened_without_a_site_belongs_to_its_first_persons_community(
    session: Session,
    sampler: Actor,
    city_commander: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    open_tube(session, city_commander, round_id=anci_round.id, barcode="S0001")
    with pytest.raises(NotFound):
        get_tube(session, county_commander, "S0001")  # the city's, until someone is in it

    add_to_tube(session, city_commander, barcode="S0001", id_number=registry.a1[0].id_number)

    tube = session.scalars(select(Tube).where(Tube.barcode == "S0001")).one()
    assert tube.region_code == A1
    assert get_tube(session, county_commander, "S0001").barcode == "S0001"


def test_the_next_rounds_pool_sizes_follow_each_communitys_positivity(
    session: Session,
    sampler: Actor,
    lab: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    fill_tube(session, sampler, anci_round.id, "N0001", registry.a1[:3])
    fill_tube(session, sampler, anci_round.id, "N0002", registry.a2)
    _positive(session, lab, "N0001")
    fill_tube(session, sampler, anci_round.id, "N0003", registry.a1[:1], pool_size=1)
    _positive(session, lab, "N0003")

    proposals = next_round_pool_sizes(session, county_commander, anci_round.id)

    assert set(proposals) == {A1, registry.a2[0].region_code}
    found = proposals[A1]
    assert (found.positives, found.sampled) == (1, 3)
    assert found.pool_size == 1  # one in three: pooling would cost more than it saves
    clean = proposals[registry.a2[0].region_code]
    assert (clean.positives, clean.sampled) == (0, 4)
    assert clean.prevalence_estimate > 0  # four clean persons do not prove zero


def test_settling_a_follow_up_tube_positive_makes_its_task_positive_and_keeps_the_person_controlled(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    member = registry.a1[0]
    fill_tube(session, sampler, anci_round.id, "K0001", registry.a1[:2])
    _positive(session, lab, "K0001")
    fill_tube(session, sampler, anci_round.id, "K0002", [member], pool_size=1)
    record_lab_result(
        session, lab, barcode="K0002", result="negative", tested_at=clock.now(), lab=LAB_NAME
    )
    task = session.scalars(select(FollowUpTask).where(FollowUpTask.person_id == member.id)).one()
    assert task.outcome == "negative"
    _positive(session, lab, "K0002")  # a second lab disagrees: kept, flagged, followed up
    positive = session.scalars(
        select(LabResult).where(
            LabResult.result == "positive", LabResult.tube_id == task_tube(session)
        )
    ).one()

    settle_conflict(session, lab, barcode="K0002", result_id=positive.id)

    session.refresh(task)
    assert task.outcome == "positive"
    open_controls = session.scalars(
        select(TemporaryControl).where(
            TemporaryControl.person_id == member.id, TemporaryControl.ended_at.is_(None)
        )
    ).all()
    assert open_controls
    assert session.scalars(select(PositivePerson.person_id)).all() == [member.id]


def task_tube(session: Session) -> int:
    return session.scalars(select(Tube.id).where(Tube.barcode == "K0002")).one()


def test_a_positive_pool_is_on_the_board_of_every_community_its_members_live_in(
    session: Session,
    sampler: Actor,
    lab: Actor,
    make_actor: Callable[..., Actor],
    anci_round: Round,
    registry: Registry,
) -> None:
    fill_tube(session, sampler, anci_round.id, "M0001", [registry.a1[0], registry.b1[0]])
    _positive(session, lab, "M0001")
    worker_b = make_actor("community_worker", TOWNSHIP_B)

    pools = positive_pools(session, worker_b, anci_round.id)

    assert [p.barcode for p in pools] == ["M0001"]
    assert [m.person_id for m in pools[0].members] == [registry.b1[0].id]
    assert pools[0].members[0].task == "open"

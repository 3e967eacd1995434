"""What a positive pool sets in motion: every member under temporary control
with a single-tube re-sampling task in their community, due within the
policy's hours; a negative re-test lifts the control, a positive one makes a
positive person; the positive board shows each member's clock, overdue once
the deadline passes. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.policy import get_policy
from fangkong.testing.models import (
    FollowUpTask,
    LabResult,
    PositivePerson,
    Round,
    TemporaryControl,
    Tube,
)
from fangkong.testing.positives import positive_persons, positive_pools
from fangkong.testing.result_import import import_results
from fangkong.testing.results import ResultOutcome, record_lab_result
from fangkong.testing.sample_import import import_samples
from fangkong.testing.sampling import add_to_tube, close_tube, open_tube
from tests.testing.conftest import (
    LAB_NAME,
    FrozenClock,
    Registry,
    Resident,
    fill_tube,
    local,
    result_row,
    results_file,
    samples_file,
)


@pytest.fixture
def policy_from_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change policy numbers by environment, as a command centre does."""
    get_policy.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_policy.cache_clear()


def send(
    session: Session, lab: Actor, barcode: str, result: str, minutes_ago: float = 20
) -> ResultOutcome:
    return record_lab_result(
        session,
        lab,
        barcode=barcode,
        result=result,
        tested_at=clock.now() - timedelta(minutes=minutes_ago),
        lab=LAB_NAME,
        ct_orf1ab=27.0 if result == "positive" else None,
    )


def tube_id(session: Session, barcode: str) -> int:
    return session.scalars(select(Tube.id).where(Tube.barcode == barcode)).one()


def resample(session: Session, sampler: Actor, round_id: int, barcode: str, who: Resident) -> None:
    open_tube(session, sampler, round_id=round_id, barcode=barcode, pool_size=1)
    add_to_tube(session, sampler, barcode=barcode, id_number=who.id_number)
    close_tube(session, sampler, barcode=barcode)


@pytest.fixture
def positive_pool(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> list[Resident]:
    """Pool P0001 of four neighbours from two communities, sampled at 10:00,
    positive at 13:00 (local time)."""
    members = [*registry.a1[:2], *registry.a2[:2]]
    fill_tube(session, sampler, anci_round.id, "P0001", members)
    fill_tube(session, sampler, anci_round.id, "P0002", registry.b1)
    frozen.advance(hours=3)
    outcome = send(session, lab, "P0001", "positive")
    assert (outcome.positive_tubes, outcome.controlled) == (1, 4)
    return members


def test_a_positive_pool_puts_every_member_under_temporary_control(
    session: Session, positive_pool: list[Resident], anci_round: Round
) -> None:
    pool = tube_id(session, "P0001")
    controls = session.scalars(select(TemporaryControl).order_by(TemporaryControl.id)).all()

    assert [c.person_id for c in controls] == [m.id for m in positive_pool]
    assert {c.source_tube_id for c in controls} == {pool}
    assert {c.round_id for c in controls} == {anci_round.id}
    assert [c.region_code for c in controls] == [m.region_code for m in positive_pool]
    assert {(c.started_at, c.ended_at) for c in controls} == {(clock.now(), None)}


def test_each_member_gets_a_single_tube_task_in_their_community_due_within_the_policy_hours(
    session: Session, positive_pool: list[Resident]
) -> None:
    tasks = session.scalars(select(FollowUpTask).order_by(FollowUpTask.id)).all()
    due = clock.now() + timedelta(hours=get_policy().resample_deadline_hours)

    assert [t.person_id for t in tasks] == [m.id for m in positive_pool]
    assert [t.region_code for t in tasks] == [m.region_code for m in positive_pool]
    assert {(t.kind, t.state, t.created_at, t.due_at) for t in tasks} == {
        ("resample", "open", clock.now(), due)
    }
    assert {t.source_tube_id for t in tasks} == {tube_id(session, "P0001")}
    assert session.scalars(select(PositivePerson)).all() == []


def test_the_resampling_deadline_comes_from_the_policy_in_force(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    policy_from_env: pytest.MonkeyPatch,
) -> None:
    policy_from_env.setenv("FANGKONG_POLICY_RESAMPLE_DEADLINE_HOURS", "2.5")
    get_policy.cache_clear()
    fill_tube(session, sampler, anci_round.id, "P0003", registry.a1[:2])

    send(session, lab, "P0003", "positive")

    dues = set(session.scalars(select(FollowUpTask.due_at)))
    assert dues == {clock.now() + timedelta(hours=2.5)}


def test_a_negative_single_tube_resolves_the_task_and_ends_the_control(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
    frozen: FrozenClock,
) -> None:
    member = positive_pool[0]
    controlled_at = clock.now()
    resampled_at = frozen.advance(hours=1)
    resample(session, sampler, anci_round.id, "S0001", member)
    resolved_at = frozen.advance(hours=2)

    send(session, lab, "S0001", "negative")

    task = session.scalars(select(FollowUpTask).where(FollowUpTask.person_id == member.id)).one()
    assert (task.state, task.outcome) == ("done", "negative")
    assert (task.created_at, task.done_at, task.resolved_at) == (
        controlled_at,
        resampled_at,
        resolved_at,
    )
    control = session.scalars(
        select(TemporaryControl).where(TemporaryControl.person_id == member.id)
    ).one()
    assert (control.started_at, control.ended_at, control.end_reason) == (
        controlled_at,
        resolved_at,
        "negative_resample",
    )
    others = session.scalars(
        select(TemporaryControl.ended_at).where(TemporaryControl.person_id != member.id)
    ).all()
    assert others == [None, None, None]


def test_a_member_resampled_by_file_into_a_tube_opened_online_is_released_by_a_negative(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
    frozen: FrozenClock,
) -> None:
    member = positive_pool[0]
    open_tube(session, sampler, round_id=anci_round.id, barcode="S0010", pool_size=1)
    resampled_at = frozen.advance(hours=1)
    row = [["S0010", 1, member.id_number, local(resampled_at), ""]]
    batch = import_samples(session, sampler, anci_round.id, samples_file(row), "resample.csv")
    close_tube(session, sampler, barcode="S0010")
    released_at = frozen.advance(hours=2)

    send(session, lab, "S0010", "negative")

    assert (batch.accepted, batch.followups) == (1, 1)
    task = session.scalars(select(FollowUpTask).where(FollowUpTask.person_id == member.id)).one()
    assert (task.done_at, task.outcome, task.resolved_at) == (resampled_at, "negative", released_at)
    control = session.scalars(
        select(TemporaryControl).where(TemporaryControl.person_id == member.id)
    ).one()
    assert control.ended_at == released_at


def test_a_positive_single_tube_makes_a_positive_person_found_through_the_pool(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
    frozen: FrozenClock,
) -> None:
    member = positive_pool[2]
    frozen.advance(hours=1)
    resample(session, sampler, anci_round.id, "S0002", member)
    found_at = frozen.advance(hours=2)

    send(session, lab, "S0002", "positive")

    found = session.scalars(select(PositivePerson)).one()
    single = tube_id(session, "S0002")
    first_positive = session.scalars(
        select(LabResult.id).where(LabResult.tube_id == single, LabResult.result == "positive")
    ).one()
    assert (found.person_id, found.tube_id, found.via_pool_tube_id) == (
        member.id,
        single,
        tube_id(session, "P0001"),
    )
    assert (found.region_code, found.round_id) == (member.region_code, anci_round.id)
    assert (found.lab_result_id, found.found_at) == (first_positive, found_at)
    task = session.scalars(select(FollowUpTask).where(FollowUpTask.person_id == member.id)).one()
    assert (task.outcome, task.resolved_at) == ("positive", found_at)
    pool_control = session.scalars(
        select(TemporaryControl).where(
            TemporaryControl.person_id == member.id,
            TemporaryControl.source_tube_id == tube_id(session, "P0001"),
        )
    ).one()
    assert pool_control.ended_at is None


def test_an_invalid_single_tube_reopens_the_task_for_another_resampling(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
    frozen: FrozenClock,
) -> None:
    member = positive_pool[1]
    frozen.advance(hours=1)
    resample(session, sampler, anci_round.id, "S0003", member)
    frozen.advance(hours=1)
    send(session, lab, "S0003", "invalid")

    task = session.scalars(select(FollowUpTask).where(FollowUpTask.person_id == member.id)).one()
    assert (task.state, task.done_at, task.resolved_at) == ("open", None, None)

    frozen.advance(minutes=30)
    resample(session, sampler, anci_round.id, "S0004", member)
    resolved_at = frozen.advance(hours=1)
    send(session, lab, "S0004", "negative")

    session.refresh(task)
    assert (task.state, task.outcome, task.resolved_at) == ("done", "negative", resolved_at)


def test_a_positive_single_tube_of_the_round_makes_a_positive_person_without_a_pool(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    fill_tube(session, sampler, anci_round.id, "S0005", registry.b1[:1], pool_size=1)

    outcome = send(session, lab, "S0005", "positive")

    found = session.scalars(select(PositivePerson)).one()
    assert (found.person_id, found.via_pool_tube_id) == (registry.b1[0].id, None)
    assert outcome.controlled == 1
    assert session.scalars(select(FollowUpTask)).all() == []


def test_a_resent_positive_result_controls_and_tasks_no_one_twice(
    session: Session, lab: Actor, positive_pool: list[Resident], frozen: FrozenClock
) -> None:
    again = send(session, lab, "P0001", "positive")
    another_lab = record_lab_result(
        session,
        lab,
        barcode="P0001",
        result="positive",
        tested_at=clock.now() - timedelta(minutes=5),
        lab="另一家实验室",
    )

    assert (again.unchanged, again.controlled) == (1, 0)
    assert (another_lab.accepted, another_lab.controlled) == (1, 0)
    assert len(session.scalars(select(TemporaryControl)).all()) == 4
    assert len(session.scalars(select(FollowUpTask)).all()) == 4


def test_a_positive_pool_by_file_is_under_control_when_the_counts_are_printed(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    fill_tube(session, sampler, anci_round.id, "P0004", registry.a1[:3])
    fill_tube(session, sampler, anci_round.id, "P0005", registry.a2)

    result = import_results(
        session,
        lab,
        results_file([result_row("P0004", "positive", ct=("25", "26")), result_row("P0005")]),
        "results.csv",
    )

    assert (result.positive_tubes, result.controlled) == (1, 3)
    assert "positive tubes 1, newly controlled 3" in result.summary
    controlled = set(session.scalars(select(TemporaryControl.person_id)))
    assert controlled == {r.id for r in registry.a1[:3]}


# --- the positive board --------------------------------------------------------------


def test_the_positive_board_shows_each_members_control_and_task(
    session: Session,
    county_commander: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
    frozen: FrozenClock,
) -> None:
    result_at = clock.now()
    frozen.advance(hours=1)
    resample(session, sampler, anci_round.id, "S0006", positive_pool[0])
    frozen.advance(hours=1)
    send(session, lab, "S0006", "negative")
    resample(session, sampler, anci_round.id, "S0007", positive_pool[1])

    pools = positive_pools(session, county_commander, anci_round.id)

    assert [p.barcode for p in pools] == ["P0001"]
    pool = pools[0]
    assert (pool.pool_size, pool.result_at, pool.conflict) == (10, result_at, False)
    assert pool.controlled_within_seconds == 0
    board = [(m.id_number, m.under_control, m.task, m.outcome) for m in pool.members]
    assert board == [
        (positive_pool[0].id_number, False, "done", "negative"),
        (positive_pool[1].id_number, True, "done", None),
        (positive_pool[2].id_number, True, "open", None),
        (positive_pool[3].id_number, True, "open", None),
    ]
    assert {m.due_at for m in pool.members} == {
        result_at + timedelta(hours=get_policy().resample_deadline_hours)
    }


def test_an_open_task_shows_overdue_once_the_deadline_has_passed(
    session: Session,
    county_commander: Actor,
    sampler: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
    frozen: FrozenClock,
) -> None:
    hours = get_policy().resample_deadline_hours
    frozen.advance(hours=1)
    resample(session, sampler, anci_round.id, "S0008", positive_pool[0])

    frozen.advance(hours=hours - 1)  # exactly at the deadline: not yet overdue
    at_deadline = positive_pools(session, county_commander, anci_round.id)[0]
    frozen.advance(minutes=1)
    after = positive_pools(session, county_commander, anci_round.id)[0]

    assert [m.task for m in at_deadline.members] == ["done", "open", "open", "open"]
    assert [m.task for m in after.members] == ["done", "overdue", "overdue", "overdue"]


def test_the_positive_board_masks_identity_numbers_for_roles_without_personal_data(
    session: Session,
    sampler: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
) -> None:
    pool = positive_pools(session, sampler, anci_round.id)[0]

    shown = [m.id_number for m in pool.members]
    assert shown == [m.id_number[:4] + "*" * 10 + m.id_number[-4:] for m in positive_pool]


def test_positive_persons_are_listed_with_the_pool_that_led_to_them(
    session: Session,
    county_commander: Actor,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    positive_pool: list[Resident],
    frozen: FrozenClock,
) -> None:
    frozen.advance(hours=1)
    resample(session, sampler, anci_round.id, "S0009", positive_pool[3])
    found_at = frozen.advance(hours=2)
    send(session, lab, "S0009", "positive")

    listed = positive_persons(session, county_commander, anci_round.id)

    assert [(p.person_id, p.barcode, p.via_pool, p.found_at) for p in listed] == [
        (positive_pool[3].id, "S0009", "P0001", found_at)
    ]
    assert listed[0].id_number == positive_pool[3].id_number
    masked = positive_persons(session, sampler, anci_round.id)[0]
    assert masked.id_number != positive_pool[3].id_number
    assert "*" in masked.id_number

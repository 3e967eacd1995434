"""Coverage (应采尽采) and lab completeness (应检尽检): every person is
exactly one of sampled, exempt or missing, due = sampled + missing, and a
region's figures are the sum of its children's at every level; exemptions
and infants leave the denominator; the missing list holds exactly the
missing, masked for roles without personal data; tubes by state, overdue,
turnaround. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.policy import get_policy
from fangkong.testing.coverage import (
    coverage_by_community,
    coverage_report,
    lab_completeness,
    missing_persons,
    overdue_tubes,
    sampling_progress,
    site_throughput,
)
from fangkong.testing.models import Round, SamplingSite
from fangkong.testing.results import receive_tubes, record_lab_result
from fangkong.testing.rounds import record_exemption
from fangkong.testing.rules import Coverage
from fangkong.testing.sample_import import import_samples
from fangkong.testing.sampling import open_tube
from tests.testing.conftest import (
    A1,
    A2,
    B1,
    GY,
    LAB_NAME,
    TOWNSHIP_A,
    TOWNSHIP_B,
    FrozenClock,
    Registry,
    Resident,
    local,
    samples_file,
    swab,
)


def sample(
    session: Session, actor: Actor, round_id: int, tubes: dict[str, list[Resident]], pool: int = 10
) -> None:
    rows = [swab(barcode, r, pool=pool) for barcode, group in tubes.items() for r in group]
    result = import_samples(session, actor, round_id, samples_file(rows), "samples.csv")
    assert result.rejected == 0, result.rejects


@pytest.fixture
def covered(
    session: Session,
    sampler: Actor,
    community_worker: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> Round:
    """Anci's round with seven persons sampled and three exemptions (one of
    them sampled anyway)::

        A1  sampled a1[0-2]  exempt a1[3] (hospital), the infant  missing a1[4-5]
        A2  sampled a2[0]    exempt a2[3] (away)                  missing a2[1-2]
        B1  sampled b1[0-2]
    """
    sample(session, sampler, anci_round.id, {"C0001": [*registry.a1[:3], registry.a2[0]]})
    sample(session, sampler, anci_round.id, {"C0002": registry.b1}, pool=5)
    record_exemption(session, community_worker, anci_round.id, registry.a1[3].id, reason="hospital")
    record_exemption(
        session,
        community_worker,
        anci_round.id,
        registry.a2[3].id,
        reason="away",
        note="在北京出差，持行程卡",
    )
    record_exemption(
        session, county_commander, anci_round.id, registry.a1[0].id, reason="other", note="卧床"
    )
    return anci_round


def test_every_person_of_a_community_is_sampled_exempt_or_missing(
    session: Session, county_commander: Actor, covered: Round
) -> None:
    figures = coverage_by_community(session, county_commander, covered.id, "131002")

    assert figures == {
        A1: Coverage(sampled=3, exempt=2, missing=2, households_missing=1),
        A2: Coverage(sampled=1, exempt=1, missing=2, households_missing=2),
        B1: Coverage(sampled=3, exempt=0, missing=0, households_missing=0),
    }
    assert [figures[c].due for c in (A1, A2, B1)] == [5, 3, 3]
    assert figures[B1].rate == 1.0


def walk(session: Session, actor: Actor, round_id: int, code: str) -> list[str]:
    """Check that a region's figures are its children's sum, then each
    child's own report agrees, down to the communities; returns the codes
    visited."""
    report = coverage_report(session, actor, round_id, code)
    counts = report.region.counts
    assert counts.due == counts.sampled + counts.missing
    if len(code) == 12:
        assert report.children == []
        return [code]
    assert sum((c.counts for c in report.children), Coverage()) == counts, code
    visited = [code]
    for child in report.children:
        below = coverage_report(session, actor, round_id, child.code)
        assert below.region.counts == child.counts, child.code
        visited += walk(session, actor, round_id, child.code)
    return visited


def test_a_regions_figures_are_the_sum_of_its_childrens_down_to_the_community(
    session: Session, county_commander: Actor, covered: Round
) -> None:
    county = coverage_report(session, county_commander, covered.id, "131002")

    assert county.region.counts == Coverage(7, 3, 4, 3)
    assert county.region.counts.due == 11
    assert [c.code for c in county.children] == [TOWNSHIP_A, TOWNSHIP_B]
    visited = walk(session, county_commander, covered.id, "131002")
    assert visited == ["131002", TOWNSHIP_A, A1, A2, TOWNSHIP_B, B1]


def test_a_city_round_adds_up_from_communities_to_the_city(
    session: Session,
    city_commander: Actor,
    sampler: Actor,
    other_sampler: Actor,
    registry: Registry,
    make_round: Callable[..., Round],
) -> None:
    city_round = make_round(region="131000", actor=city_commander)
    sample(session, sampler, city_round.id, {"C0003": registry.a1[:2], "C0004": registry.b1[:1]})
    sample(session, other_sampler, city_round.id, {"C0005": registry.gy[:2]})

    city = coverage_report(session, city_commander, city_round.id, "131000")

    assert [(c.code, c.counts) for c in city.children] == [
        ("131002", Coverage(sampled=3, exempt=1, missing=10, households_missing=5)),
        ("131003", Coverage(sampled=2, exempt=0, missing=1, households_missing=1)),
    ]
    assert city.region.counts == Coverage(5, 1, 11, 6)
    assert city.region.counts.due == 16
    visited = walk(session, city_commander, city_round.id, "131000")
    assert visited == ["131000", "131002", TOWNSHIP_A, A1, A2, TOWNSHIP_B, B1, "131003", GY[:9], GY]


def test_a_person_sampled_though_exempt_counts_as_sampled_and_an_infant_too(
    session: Session, county_commander: Actor, sampler: Actor, covered: Round, registry: Registry
) -> None:
    sample(session, sampler, covered.id, {"C0006": [registry.infant, registry.a1[3]]})

    figures = coverage_by_community(session, county_commander, covered.id, A1)

    assert figures[A1] == Coverage(sampled=5, exempt=0, missing=2, households_missing=1)


def test_infants_are_exempt_by_the_policy_age(
    session: Session,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = coverage_by_community(session, county_commander, anci_round.id, A1)[A1]
    monkeypatch.setenv("FANGKONG_POLICY_EXEMPT_BELOW_AGE_YEARS", "1")
    get_policy.cache_clear()
    try:
        after = coverage_by_community(session, county_commander, anci_round.id, A1)[A1]
    finally:
        monkeypatch.undo()
        get_policy.cache_clear()

    assert (before.exempt, before.missing) == (1, 6)  # the infant is one year old
    assert (after.exempt, after.missing) == (0, 7)


def test_a_resampled_member_of_a_positive_pool_is_counted_once(
    session: Session,
    county_commander: Actor,
    sampler: Actor,
    lab: Actor,
    covered: Round,
    registry: Registry,
) -> None:
    before = coverage_report(session, county_commander, covered.id, "131002").region.counts
    record_lab_result(
        session, lab, barcode="C0002", result="positive", tested_at=clock.now(), lab=LAB_NAME
    )
    sample(session, sampler, covered.id, {"C0007": registry.b1[:1]}, pool=1)

    after = coverage_report(session, county_commander, covered.id, "131002").region.counts
    assert after == before
    assert sampling_progress(session, county_commander, covered.id) == [("2022-03-14 09:00", 7)]


# --- exemptions ----------------------------------------------------------------------


def test_an_exemption_needs_a_known_reason_and_a_note_where_the_reason_asks_for_one(
    session: Session, community_worker: Actor, anci_round: Round, registry: Registry
) -> None:
    person = registry.a1[4].id
    with pytest.raises(InvalidInput, match="note") as no_note:
        record_exemption(session, community_worker, anci_round.id, person, reason="away")
    with pytest.raises(InvalidInput, match="reason"):
        record_exemption(session, community_worker, anci_round.id, person, reason="infant")
    with pytest.raises(InvalidInput, match="reason"):
        record_exemption(session, community_worker, anci_round.id, person, reason="tired", note="x")
    assert no_note.value.field == "note"

    first = record_exemption(
        session, community_worker, anci_round.id, person, reason="other", note="长期卧床"
    )
    same = record_exemption(
        session, community_worker, anci_round.id, person, reason="other", note="长期卧床"
    )
    assert same.id == first.id
    assert (first.reason, first.note, first.region_code) == ("other", "长期卧床", A1)
    with pytest.raises(Conflict):
        record_exemption(session, community_worker, anci_round.id, person, reason="hospital")


def test_an_exemption_is_refused_for_a_person_outside_the_round_or_the_jurisdiction(
    session: Session,
    county_commander: Actor,
    registry: Registry,
    make_round: Callable[..., Round],
) -> None:
    township_round = make_round(region=TOWNSHIP_B)

    with pytest.raises(InvalidInput, match="outside the round"):
        record_exemption(
            session, county_commander, township_round.id, registry.a1[0].id, reason="hospital"
        )
    with pytest.raises(NotFound):
        record_exemption(
            session, county_commander, township_round.id, registry.gy[0].id, reason="hospital"
        )


# --- the missing list ----------------------------------------------------------------


def test_the_missing_list_holds_exactly_the_missing_in_door_to_door_order(
    session: Session, community_worker: Actor, covered: Round, registry: Registry
) -> None:
    listed = list(missing_persons(session, community_worker, covered.id, "131002"))

    expected = [registry.a1[4], registry.a1[5], registry.a2[1], registry.a2[2]]
    assert [m.person_id for m in listed] == [r.id for r in expected]
    assert [m.id_number for m in listed] == [r.id_number for r in expected]
    first = listed[0]
    assert (first.building, first.unit, first.household, first.region_code) == (
        "1号楼",
        "1单元",
        "A1-H2",
        A1,
    )
    assert first.phone.startswith("+86138")
    report = coverage_report(session, community_worker, covered.id, TOWNSHIP_A)
    assert len(listed) == report.region.counts.missing


def test_the_missing_list_is_masked_for_roles_without_personal_data(
    session: Session, sampler: Actor, covered: Round, registry: Registry
) -> None:
    listed = list(missing_persons(session, sampler, covered.id, A1))

    assert [m.person_id for m in listed] == [registry.a1[4].id, registry.a1[5].id]
    for shown, person in zip(listed, registry.a1[4:], strict=True):
        assert shown.id_number == person.id_number[:4] + "*" * 10 + person.id_number[-4:]
        assert "****" in shown.phone
        assert person.id_number not in shown.phone


def test_the_missing_list_narrows_to_a_building_and_a_limit(
    session: Session, community_worker: Actor, covered: Round, registry: Registry
) -> None:
    in_building = missing_persons(session, community_worker, covered.id, "131002", building="2号楼")
    first = missing_persons(session, community_worker, covered.id, "131002", limit=1)

    assert [m.person_id for m in in_building] == [registry.a2[1].id, registry.a2[2].id]
    assert [m.person_id for m in first] == [registry.a1[4].id]


# --- tubes in the labs ---------------------------------------------------------------


@pytest.fixture
def lab_day(
    session: Session,
    sampler: Actor,
    lab: Actor,
    anci_round: Round,
    registry: Registry,
    frozen: FrozenClock,
) -> datetime:
    """Six tubes collected at 10:00: one still open, one collected, one
    received, three tested 2, 4 and 6 hours later (one positive, one with a
    conflicting second result). Returns the collection time."""
    collected = clock.now()
    rows = [
        [barcode, 5, r.id_number, local(collected), ""]
        for barcode, r in zip(
            ["L0002", "L0003", "L0004", "L0005", "L0006"],
            [registry.a1[0], registry.a1[1], registry.a2[0], registry.a2[1], registry.b1[0]],
            strict=True,
        )
    ]
    import_samples(session, sampler, anci_round.id, samples_file(rows), "samples.csv")
    open_tube(session, sampler, round_id=anci_round.id, barcode="L0001")
    frozen.advance(hours=1)
    receive_tubes(session, lab, barcodes=["L0003"], lab=LAB_NAME)
    for hours, barcode, result in [(1, "L0004", "negative"), (2, "L0005", "positive")]:
        frozen.advance(hours=hours)
        record_lab_result(
            session, lab, barcode=barcode, result=result, tested_at=clock.now(), lab=LAB_NAME
        )
    frozen.advance(hours=2)
    for minutes, result in [(10, "negative"), (5, "positive")]:
        record_lab_result(
            session,
            lab,
            barcode="L0006",
            result=result,
            tested_at=clock.now() - timedelta(minutes=minutes),
            lab=LAB_NAME,
        )
    return collected


def test_lab_completeness_counts_tubes_by_state_with_turnaround(
    session: Session, county_commander: Actor, anci_round: Round, lab_day: datetime
) -> None:
    figures = lab_completeness(session, county_commander, anci_round.id)

    assert (figures.tubes, figures.open, figures.collected, figures.received, figures.tested) == (
        6,
        1,
        1,
        1,
        3,
    )
    assert (figures.conflicts, figures.positive, figures.overdue) == (1, 1, 0)
    assert figures.turnaround_median_hours == pytest.approx(4.0)
    assert figures.turnaround_p90_hours == pytest.approx(5.6)  # of 2, 4 and 6 hours


def test_tubes_without_a_result_become_overdue_after_the_policy_hours(
    session: Session,
    county_commander: Actor,
    anci_round: Round,
    lab_day: datetime,
    frozen: FrozenClock,
) -> None:
    hours = get_policy().result_overdue_hours
    frozen.now = lab_day + timedelta(hours=hours)
    assert lab_completeness(session, county_commander, anci_round.id).overdue == 0

    frozen.advance(minutes=1)

    assert lab_completeness(session, county_commander, anci_round.id).overdue == 2
    listed = overdue_tubes(session, county_commander, anci_round.id)
    assert [(b, state, at, lab) for b, state, at, lab in listed] == [
        ("L0002", "collected", lab_day, ""),
        ("L0003", "received", lab_day, LAB_NAME),
    ]
    assert lab_completeness(session, county_commander, anci_round.id, TOWNSHIP_B).tubes == 1


def test_an_empty_round_has_no_turnaround(
    session: Session, county_commander: Actor, anci_round: Round
) -> None:
    figures = lab_completeness(session, county_commander, anci_round.id)

    assert (figures.tubes, figures.tested, figures.overdue) == (0, 0, 0)
    assert figures.turnaround_median_hours is None
    assert figures.turnaround_p90_hours is None


# --- progress and sites -------------------------------------------------------------------


@pytest.fixture
def utc_elsewhere(session: Session) -> Iterator[None]:
    """On PostgreSQL, a server whose own time zone is not UTC (as one
    installed in Langfang would be)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TIME ZONE 'Asia/Shanghai'"))
    yield
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TIME ZONE 'UTC'"))


def test_sampling_progress_counts_swabs_per_local_hour_whatever_the_servers_zone(
    session: Session,
    sampler: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
    site: SamplingSite,
    utc_elsewhere: None,
) -> None:
    at = [
        datetime(2022, 3, 14, 0, 15, tzinfo=UTC),
        datetime(2022, 3, 14, 0, 40, tzinfo=UTC),
        datetime(2022, 3, 14, 1, 5, tzinfo=UTC),
    ]
    rows = [
        ["G0001", 10, r.id_number, local(t), site.name]
        for r, t in zip(registry.a1[:3], at, strict=True)
    ]
    import_samples(session, sampler, anci_round.id, samples_file(rows), "samples.csv")
    open_tube(session, sampler, round_id=anci_round.id, barcode="G0002")

    progress = sampling_progress(session, county_commander, anci_round.id)
    sites = site_throughput(session, county_commander, anci_round.id)

    assert progress == [("2022-03-14 08:00", 2), ("2022-03-14 09:00", 1)]
    assert sites == [(site.name, 1, 3), ("(无采样点 no site)", 1, 0)]

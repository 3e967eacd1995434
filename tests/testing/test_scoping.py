"""Jurisdiction and roles: a user of Guangyang (131003) can neither read,
list, count nor change anything of Anci's (131002) testing data, and learns
nothing of it (404, or "unknown" in a file); the city commander (1310) sees
both; each role does only its part. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.errors import InvalidInput, NotFound, PermissionDenied
from fangkong.testing.coverage import (
    coverage_by_community,
    coverage_report,
    lab_completeness,
    missing_persons,
    overdue_tubes,
    sampling_progress,
    site_throughput,
)
from fangkong.testing.models import LabResult, Round, SamplingSite
from fangkong.testing.positives import positive_persons, positive_pools
from fangkong.testing.result_import import import_results
from fangkong.testing.results import receive_tubes, record_lab_result, settle_conflict
from fangkong.testing.rounds import (
    AreaPolicy,
    close_round,
    create_round,
    create_site,
    get_round,
    get_site,
    list_rounds,
    list_sites,
    record_exemption,
)
from fangkong.testing.rules import reason
from fangkong.testing.sample_import import import_samples
from fangkong.testing.sampling import add_to_tube, close_tube, get_tube, open_tube
from tests.testing.conftest import (
    LAB_NAME,
    TOWNSHIP_A,
    Registry,
    fill_tube,
    result_row,
    results_file,
    samples_file,
    swab,
)


@pytest.fixture
def other_lab(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("lab", "131003")


@pytest.fixture
def anci_tube(session: Session, sampler: Actor, anci_round: Round, registry: Registry) -> str:
    fill_tube(session, sampler, anci_round.id, "A0001", registry.a1[:3])
    return "A0001"


@pytest.fixture
def city_round(
    session: Session,
    city_commander: Actor,
    sampler: Actor,
    other_sampler: Actor,
    lab: Actor,
    registry: Registry,
    make_round: Callable[..., Round],
) -> Round:
    """A round over the whole city with a positive pool in each county."""
    testing_round = make_round(region="131000", actor=city_commander)
    fill_tube(session, sampler, testing_round.id, "A0002", registry.a1[:2])
    fill_tube(session, other_sampler, testing_round.id, "G0001", registry.gy[:2])
    for barcode in ("A0002", "G0001"):
        record_lab_result(
            session, lab, barcode=barcode, result="positive", tested_at=clock.now(), lab=LAB_NAME
        )
    return testing_round


# --- another county sees nothing ------------------------------------------------------


def test_another_county_cannot_read_list_or_count_a_countys_round(
    session: Session, other_county_commander: Actor, anci_round: Round, anci_tube: str
) -> None:
    assert anci_round.id not in [r.id for r in list_rounds(session, other_county_commander)]
    for read in (
        get_round,
        lab_completeness,
        overdue_tubes,
        sampling_progress,
        site_throughput,
        positive_pools,
        positive_persons,
    ):
        with pytest.raises(NotFound):
            read(session, other_county_commander, anci_round.id)  # type: ignore[operator]
    with pytest.raises(NotFound):
        coverage_report(session, other_county_commander, anci_round.id, "131002")
    with pytest.raises(NotFound):
        coverage_by_community(session, other_county_commander, anci_round.id, "131002")
    with pytest.raises(NotFound):
        list(missing_persons(session, other_county_commander, anci_round.id, "131002"))


def test_another_county_cannot_read_or_change_a_countys_tubes(
    session: Session,
    other_county_commander: Actor,
    other_sampler: Actor,
    sampler: Actor,
    anci_round: Round,
    anci_tube: str,
    registry: Registry,
) -> None:
    with pytest.raises(NotFound):
        get_tube(session, other_county_commander, anci_tube)
    with pytest.raises(NotFound):
        close_tube(session, other_sampler, barcode=anci_tube)
    with pytest.raises(NotFound):
        add_to_tube(session, other_sampler, barcode=anci_tube, id_number=registry.gy[0].id_number)
    with pytest.raises(NotFound):
        open_tube(session, other_sampler, round_id=anci_round.id, barcode="G0002")
    with pytest.raises(NotFound):
        import_samples(
            session,
            other_sampler,
            anci_round.id,
            samples_file([swab("G0003", registry.gy[0])]),
            "samples.csv",
        )
    with pytest.raises(NotFound):
        close_round(session, other_county_commander, anci_round.id)
    with pytest.raises(NotFound):
        record_exemption(
            session, other_county_commander, anci_round.id, registry.a1[5].id, reason="hospital"
        )
    unchanged = get_tube(session, sampler, anci_tube)
    assert (unchanged.state, len(unchanged.members)) == ("collected", 3)
    assert anci_round.status == "open"


def test_results_for_another_countys_tubes_are_rejected_as_unknown_tubes(
    session: Session, other_lab: Actor, anci_tube: str
) -> None:
    with pytest.raises(NotFound):
        record_lab_result(
            session,
            other_lab,
            barcode=anci_tube,
            result="negative",
            tested_at=clock.now(),
            lab=LAB_NAME,
        )
    result = import_results(
        session, other_lab, results_file([result_row(anci_tube)]), "results.csv"
    )
    assert (result.accepted, result.rejected) == (0, 1)
    assert (result.rejects[0].reason_zh, result.rejects[0].reason_en) == reason("unknown_tube")
    with pytest.raises(InvalidInput, match="unknown tube"):
        receive_tubes(session, other_lab, barcodes=[anci_tube], lab=LAB_NAME)
    with pytest.raises(NotFound):
        settle_conflict(session, other_lab, barcode=anci_tube, result_id=1)
    assert session.scalar(select(func.count()).select_from(LabResult)) == 0


def test_a_county_cannot_open_a_round_or_a_site_in_another_county(
    session: Session, other_county_commander: Actor, county_commander: Actor
) -> None:
    with pytest.raises(NotFound):
        create_round(session, other_county_commander, name="越界", areas=[AreaPolicy("131002", 10)])
    with pytest.raises(NotFound):
        create_round(session, county_commander, name="全市", areas=[AreaPolicy("131000", 10)])
    with pytest.raises(NotFound):
        create_site(session, other_county_commander, name="越界点", region_code=TOWNSHIP_A)


def test_sites_are_listed_and_read_in_their_county_only(
    session: Session, other_county_commander: Actor, county_commander: Actor, site: SamplingSite
) -> None:
    assert [s.id for s in list_sites(session, county_commander)] == [site.id]
    assert list_sites(session, other_county_commander) == []
    with pytest.raises(NotFound):
        get_site(session, other_county_commander, site.id)


def test_the_positive_board_of_a_city_round_shows_a_county_only_its_own_pools(
    session: Session,
    other_county_commander: Actor,
    county_commander: Actor,
    city_commander: Actor,
    city_round: Round,
    registry: Registry,
) -> None:
    theirs = positive_pools(session, other_county_commander, city_round.id)
    ours = positive_pools(session, county_commander, city_round.id)
    everyone = positive_pools(session, city_commander, city_round.id)

    assert [p.barcode for p in theirs] == ["G0001"]
    assert [m.person_id for m in theirs[0].members] == [r.id for r in registry.gy[:2]]
    assert [p.barcode for p in ours] == ["A0002"]
    assert sorted(p.barcode for p in everyone) == ["A0002", "G0001"]


def test_a_county_sees_only_its_part_of_a_city_rounds_figures(
    session: Session,
    other_county_commander: Actor,
    city_commander: Actor,
    city_round: Round,
) -> None:
    theirs = coverage_report(session, other_county_commander, city_round.id, "131000")
    everyone = coverage_report(session, city_commander, city_round.id, "131000")

    assert [c.code for c in theirs.children] == ["131003"]
    assert (theirs.region.counts.sampled, theirs.region.counts.due) == (2, 3)
    assert (everyone.region.counts.sampled, everyone.region.counts.due) == (4, 16)
    with pytest.raises(NotFound):
        coverage_report(session, other_county_commander, city_round.id, "131002")
    with pytest.raises(NotFound):
        list(missing_persons(session, other_county_commander, city_round.id, TOWNSHIP_A))
    assert lab_completeness(session, other_county_commander, city_round.id).tubes == 1
    assert lab_completeness(session, city_commander, city_round.id).tubes == 2


def test_the_city_commander_sees_the_rounds_and_tubes_of_both_counties(
    session: Session,
    city_commander: Actor,
    other_county_commander: Actor,
    anci_round: Round,
    anci_tube: str,
    make_round: Callable[..., Round],
) -> None:
    guangyang = make_round(region="131003", actor=other_county_commander, name="广阳区第1轮")

    listed = [r.id for r in list_rounds(session, city_commander)]

    assert set(listed) == {anci_round.id, guangyang.id}
    assert get_tube(session, city_commander, anci_tube).barcode == anci_tube
    report = coverage_report(session, city_commander, anci_round.id, "131002")
    assert report.region.counts.sampled == 3


def test_a_community_worker_sees_only_their_townships_part_of_the_county_round(
    session: Session, community_worker: Actor, anci_round: Round, anci_tube: str
) -> None:
    report = coverage_report(session, community_worker, anci_round.id, "131002")

    assert [c.code for c in report.children] == [TOWNSHIP_A]
    assert report.region.counts.sampled == 3
    assert anci_round.id in [r.id for r in list_rounds(session, community_worker)]


# --- roles ----------------------------------------------------------------------------


def test_a_community_worker_cannot_open_rounds_or_sites(
    session: Session, community_worker: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        create_round(session, community_worker, name="第1轮", areas=[AreaPolicy(TOWNSHIP_A, 10)])
    with pytest.raises(PermissionDenied):
        create_site(session, community_worker, name="一街", region_code=TOWNSHIP_A)


def test_a_lab_cannot_sample(
    session: Session, lab: Actor, anci_round: Round, anci_tube: str, registry: Registry
) -> None:
    with pytest.raises(PermissionDenied):
        open_tube(session, lab, round_id=anci_round.id, barcode="A0003")
    with pytest.raises(PermissionDenied):
        add_to_tube(session, lab, barcode=anci_tube, id_number=registry.a1[4].id_number)
    with pytest.raises(PermissionDenied):
        import_samples(
            session, lab, anci_round.id, samples_file([swab("A0004", registry.a1[4])]), "s.csv"
        )
    with pytest.raises(PermissionDenied):
        record_exemption(session, lab, anci_round.id, registry.a1[4].id, reason="hospital")


def test_a_sampler_cannot_record_or_settle_results(
    session: Session, sampler: Actor, anci_tube: str
) -> None:
    with pytest.raises(PermissionDenied):
        record_lab_result(
            session, sampler, barcode=anci_tube, result="negative", tested_at=clock.now(), lab="x"
        )
    with pytest.raises(PermissionDenied):
        import_results(session, sampler, results_file([result_row(anci_tube)]), "results.csv")
    with pytest.raises(PermissionDenied):
        receive_tubes(session, sampler, barcodes=[anci_tube], lab="x")
    with pytest.raises(PermissionDenied):
        settle_conflict(session, sampler, barcode=anci_tube, result_id=1)
    assert session.scalar(select(func.count()).select_from(LabResult)) == 0

"""The one-by-one sampling flow at a site (open a tube, add persons, close
it): every refusal with its words, the idempotent re-send of a handheld, and
the follow-up re-sampling into single tubes. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import InvalidInput
from fangkong.regions.service import ZoneArea, designate_zone, lift_zone
from fangkong.testing.models import FollowUpTask, Round, Tube, TubeMember
from fangkong.testing.results import record_lab_result
from fangkong.testing.rounds import close_round
from fangkong.testing.sampling import add_to_tube, close_tube, get_tube, open_tube
from tests.testing.conftest import A1, B1, LAB_NAME, TOWNSHIP_B, Registry, fill_tube, says


def members_of(session: Session, barcode: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(TubeMember)
            .join(Tube, Tube.id == TubeMember.tube_id)
            .where(Tube.barcode == barcode)
        )
        or 0
    )


def test_a_tube_is_opened_filled_and_closed_with_members_masked_and_audited(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    view = open_tube(session, sampler, round_id=anci_round.id, barcode=" T0001 ")
    assert (view.barcode, view.state, view.pool_size, view.room_left) == ("T0001", "open", 10, 10)
    for resident in registry.a1[:3]:
        view = add_to_tube(session, sampler, barcode="T0001", id_number=resident.id_number.lower())
    closed = close_tube(session, sampler, barcode="T0001")

    assert closed.state == "collected"
    assert closed.room_left == 7
    assert [m.person_id for m in closed.members] == [r.id for r in registry.a1[:3]]
    first = closed.members[0]
    assert (
        first.id_number_masked
        == registry.a1[0].id_number[:4] + "*" * 10 + (registry.a1[0].id_number[-4:])
    )
    assert not first.followup
    tube = session.scalars(select(Tube).where(Tube.barcode == "T0001")).one()
    assert tube.collected_at == clock.now()
    assert tube.region_code == registry.a1[0].region_code  # no site: the first person's community
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == "T0001").order_by(AuditEvent.id)
    ).all()
    assert actions == ["tube.open", *["tube.add_person"] * 3, "tube.close"]


def test_the_same_open_request_with_the_same_client_uid_returns_the_tube_unchanged(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0002", client_uid="hand-7:1")
    add_to_tube(session, sampler, barcode="T0002", id_number=registry.a1[0].id_number)

    again = open_tube(
        session, sampler, round_id=anci_round.id, barcode="T0002", client_uid="hand-7:1"
    )

    assert [m.person_id for m in again.members] == [registry.a1[0].id]
    assert session.scalar(select(func.count()).select_from(Tube)) == 1


@pytest.mark.parametrize("client_uid", ["hand-8:1", None])
def test_a_barcode_already_used_is_refused_for_any_other_request(
    session: Session,
    sampler: Actor,
    anci_round: Round,
    registry: Registry,
    client_uid: str | None,
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0003", client_uid="hand-7:1")

    with pytest.raises(InvalidInput, match=says("barcode_used", "T0003")) as refused:
        open_tube(session, sampler, round_id=anci_round.id, barcode="T0003", client_uid=client_uid)
    assert refused.value.field == "barcode"
    assert "试管条码已被使用" in refused.value.message
    assert session.scalar(select(func.count()).select_from(Tube)) == 1


def test_a_barcode_of_another_round_is_refused(
    session: Session,
    sampler: Actor,
    anci_round: Round,
    registry: Registry,
    make_round: Callable[..., Round],
) -> None:
    fill_tube(session, sampler, anci_round.id, "T0004", registry.a1[:1])
    second = make_round(name="全员核酸第2轮")

    with pytest.raises(InvalidInput, match=says("barcode_used", "T0004")):
        open_tube(session, sampler, round_id=second.id, barcode="T0004", client_uid="x")


def test_a_tube_takes_no_more_persons_than_its_pool_size(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "T0005", registry.a1[:5], pool_size=5, close=False)

    with pytest.raises(InvalidInput, match=says("tube_full", 5)) as refused:
        add_to_tube(session, sampler, barcode="T0005", id_number=registry.a1[5].id_number)
    assert "试管已满：最多 5 人" in refused.value.message
    assert members_of(session, "T0005") == 5


def test_a_person_already_sampled_in_the_round_is_refused_naming_the_first_tube(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "T0006", registry.a1[:2])
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0007")

    with pytest.raises(InvalidInput, match=says("already_sampled", "T0006")) as refused:
        add_to_tube(session, sampler, barcode="T0007", id_number=registry.a1[1].id_number)
    assert refused.value.field == "id_number"
    assert members_of(session, "T0007") == 0


def test_adding_the_same_person_to_the_same_tube_again_changes_nothing(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "T0008", registry.a1[:1], close=False)

    view = add_to_tube(session, sampler, barcode="T0008", id_number=registry.a1[0].id_number)

    assert [m.person_id for m in view.members] == [registry.a1[0].id]
    assert members_of(session, "T0008") == 1


def test_a_person_living_outside_the_rounds_areas_is_refused(
    session: Session, sampler: Actor, registry: Registry, make_round: Callable[..., Round]
) -> None:
    township_round = make_round(region=TOWNSHIP_B)
    open_tube(session, sampler, round_id=township_round.id, barcode="T0009")
    add_to_tube(session, sampler, barcode="T0009", id_number=registry.b1[0].id_number)

    with pytest.raises(InvalidInput, match=says("outside_round", A1)) as refused:
        add_to_tube(session, sampler, barcode="T0009", id_number=registry.a1[0].id_number)
    assert "此人不在本轮检测范围内" in refused.value.message
    assert members_of(session, "T0009") == 1


def test_an_identity_number_not_in_the_registry_is_refused(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0010")

    with pytest.raises(InvalidInput, match=says("not_in_registry")) as refused:
        add_to_tube(session, sampler, barcode="T0010", id_number="131002199001010000")
    assert "在本辖区人口底数中找不到此证件号" in refused.value.message


def test_a_person_of_another_county_is_refused_as_unknown_revealing_nothing(
    session: Session,
    sampler: Actor,
    city_commander: Actor,
    registry: Registry,
    make_round: Callable[..., Round],
) -> None:
    city_round = make_round(region="131000", actor=city_commander)
    open_tube(session, sampler, round_id=city_round.id, barcode="T0011")

    with pytest.raises(InvalidInput) as theirs:
        add_to_tube(session, sampler, barcode="T0011", id_number=registry.gy[0].id_number)
    with pytest.raises(InvalidInput) as nobody:
        add_to_tube(session, sampler, barcode="T0011", id_number="131003199001010000")

    assert theirs.value.message == nobody.value.message
    assert "找不到此证件号" in theirs.value.message
    assert registry.gy[0].region_code not in theirs.value.message
    assert registry.gy[0].name not in theirs.value.message


@pytest.mark.parametrize(("level", "words"), [("sealed", "封控区"), ("controlled", "管控区")])
def test_a_person_in_a_sealed_or_controlled_community_is_sampled_only_into_a_single_tube(
    session: Session,
    sampler: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
    level: str,
    words: str,
) -> None:
    designate_zone(
        session,
        county_commander,
        name="一街小区",
        level=level,
        areas=[ZoneArea(region_code=A1)],
        starts_at=clock.now() - timedelta(hours=1),
    )
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0012")
    add_to_tube(session, sampler, barcode="T0012", id_number=registry.a2[0].id_number)

    with pytest.raises(InvalidInput, match=says("single_tube_required", (words, level))) as refused:
        add_to_tube(session, sampler, barcode="T0012", id_number=registry.a1[0].id_number)
    assert f"此人在{words}，必须单人单管" in refused.value.message

    open_tube(session, sampler, round_id=anci_round.id, barcode="T0013", pool_size=1)
    single = add_to_tube(session, sampler, barcode="T0013", id_number=registry.a1[0].id_number)
    assert [m.person_id for m in single.members] == [registry.a1[0].id]


def test_a_controlled_address_forbids_pooling_only_for_its_residents(
    session: Session,
    sampler: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    inside, neighbour = registry.a1[0], registry.a1[1]
    assert inside.address_id is not None
    designate_zone(
        session,
        county_commander,
        name="1号楼101",
        level="controlled",
        areas=[ZoneArea(address_id=inside.address_id)],
    )
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0014")
    add_to_tube(session, sampler, barcode="T0014", id_number=neighbour.id_number)

    with pytest.raises(InvalidInput, match=says("single_tube_required", ("管控区", "controlled"))):
        add_to_tube(session, sampler, barcode="T0014", id_number=inside.id_number)


def test_a_precaution_zone_or_a_lifted_one_does_not_forbid_pooling(
    session: Session,
    sampler: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    designate_zone(
        session, county_commander, name="防范区", level="precaution", areas=[ZoneArea(A1)]
    )
    lifted = designate_zone(
        session,
        county_commander,
        name="已解封",
        level="sealed",
        areas=[ZoneArea(B1)],
        starts_at=clock.now() - timedelta(days=14),
    )
    lift_zone(session, county_commander, lifted.id)
    fill_tube(session, sampler, anci_round.id, "T0015", [registry.a1[0], registry.b1[0]])

    assert members_of(session, "T0015") == 2


def test_a_closed_tube_takes_no_one(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "T0016", registry.a1[:1])

    with pytest.raises(InvalidInput, match=says("tube_closed")) as refused:
        add_to_tube(session, sampler, barcode="T0016", id_number=registry.a1[1].id_number)
    assert "试管已封管" in refused.value.message
    assert members_of(session, "T0016") == 1


def test_an_empty_tube_cannot_be_closed_and_closing_twice_changes_nothing(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0017")

    with pytest.raises(InvalidInput, match=says("tube_empty")):
        close_tube(session, sampler, barcode="T0017")
    assert get_tube(session, sampler, "T0017").state == "open"

    add_to_tube(session, sampler, barcode="T0017", id_number=registry.a1[0].id_number)
    first = close_tube(session, sampler, barcode="T0017")
    sealed_at = session.scalars(select(Tube.collected_at).where(Tube.barcode == "T0017")).one()
    clock.set_clock(lambda: sealed_at + timedelta(minutes=5))
    again = close_tube(session, sampler, barcode="T0017")
    assert first == again
    assert session.scalars(select(Tube.collected_at).where(Tube.barcode == "T0017")).one() == (
        sealed_at
    )


@pytest.mark.parametrize("pool_size", [0, 2, 3, 30])
def test_a_pool_size_the_policy_does_not_allow_is_refused(
    session: Session, sampler: Actor, anci_round: Round, pool_size: int
) -> None:
    with pytest.raises(InvalidInput, match=says("pool_size_not_allowed", "1, 5, 10, 20")):
        open_tube(session, sampler, round_id=anci_round.id, barcode="T0018", pool_size=pool_size)
    assert session.scalar(select(func.count()).select_from(Tube)) == 0


def test_a_closed_round_takes_no_more_tubes(
    session: Session,
    sampler: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0019")
    close_round(session, county_commander, anci_round.id)

    with pytest.raises(InvalidInput, match=says("round_closed")):
        open_tube(session, sampler, round_id=anci_round.id, barcode="T0020")
    with pytest.raises(InvalidInput, match=says("round_closed")):
        add_to_tube(session, sampler, barcode="T0019", id_number=registry.a1[0].id_number)


def test_a_member_of_a_positive_pool_is_resampled_into_a_single_tube_only(
    session: Session, sampler: Actor, lab: Actor, anci_round: Round, registry: Registry
) -> None:
    member = registry.a1[0]
    fill_tube(session, sampler, anci_round.id, "T0021", registry.a1[:3])
    record_lab_result(
        session,
        lab,
        barcode="T0021",
        result="positive",
        tested_at=clock.now(),
        lab=LAB_NAME,
        ct_orf1ab=28.5,
        ct_n=29.1,
    )
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0022")
    with pytest.raises(InvalidInput, match=says("followup_single_tube")) as refused:
        add_to_tube(session, sampler, barcode="T0022", id_number=member.id_number)
    assert "复核采样必须单人单管" in refused.value.message

    open_tube(session, sampler, round_id=anci_round.id, barcode="T0023", pool_size=1)
    view = add_to_tube(session, sampler, barcode="T0023", id_number=member.id_number)

    assert view.purpose == "followup"
    assert [(m.person_id, m.followup) for m in view.members] == [(member.id, True)]
    task = session.scalars(select(FollowUpTask).where(FollowUpTask.person_id == member.id)).one()
    assert (task.state, task.done_at) == ("done", clock.now())
    # the re-sampled person, now without an open task, is not sampled a third time
    open_tube(session, sampler, round_id=anci_round.id, barcode="T0024", pool_size=1)
    with pytest.raises(InvalidInput, match=says("already_sampled", "T0021")):
        add_to_tube(session, sampler, barcode="T0024", id_number=member.id_number)

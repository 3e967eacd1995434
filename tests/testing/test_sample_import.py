"""Sampling files from handhelds: the same refusals as the one-by-one flow,
by row number and reason; no valid row lost because a neighbour was bad; an
idempotent re-upload; offline tubes never opened online; headers in Chinese
or English. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import UnreadableFile
from fangkong.imports import ImportBatch, rejects_report
from fangkong.regions.service import ZoneArea, designate_zone
from fangkong.testing.models import FollowUpTask, Round, SamplingSite, Tube, TubeMember
from fangkong.testing.results import record_lab_result
from fangkong.testing.rounds import AreaPolicy, close_round
from fangkong.testing.rules import reason
from fangkong.testing.sample_import import SampleImportResult, import_samples
from fangkong.testing.sampling import open_tube
from tests.testing.conftest import (
    A1,
    LAB_NAME,
    SAMPLE_HEADER_ZH,
    TOWNSHIP_B,
    Registry,
    fill_tube,
    local,
    samples_file,
    swab,
)


def run(
    session: Session, actor: Actor, round_id: int, data: bytes, name: str = "samples.csv"
) -> SampleImportResult:
    return import_samples(session, actor, round_id, data, name)


def counts(result: SampleImportResult) -> tuple[int, int, int]:
    return result.accepted, result.unchanged, result.rejected


def reasons(result: SampleImportResult) -> dict[int, tuple[str, str, str, str]]:
    """Row number -> (column, value, Chinese reason, English reason)."""
    return {r.row_number: (r.column, r.value, r.reason_zh, r.reason_en) for r in result.rejects}


def words(key: str, detail: object = "") -> tuple[str, str]:
    return reason(key, detail)


def swabs(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(TubeMember)) or 0)


def tubes(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Tube)) or 0)


def test_a_batch_of_tubes_never_opened_online_is_recorded_as_collected_tubes(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    early = clock.now() - timedelta(hours=2)
    late = clock.now() - timedelta(hours=1)
    rows = [swab("F0001", r, at=early) for r in registry.a1[:3]]
    rows += [swab("F0001", registry.a1[3], at=late), swab("F0002", registry.b1[0], at=late)]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (5, 0, 0)
    assert (result.tubes, result.followups) == (2, 0)
    assert result.summary.startswith("accepted 5, unchanged 0, rejected 0")
    first = session.scalars(select(Tube).where(Tube.barcode == "F0001")).one()
    assert (first.state, first.pool_size, first.purpose) == ("collected", 10, "round")
    assert (first.opened_at, first.collected_at) == (early, late)
    assert first.region_code == A1  # the first member's community
    members = session.scalars(
        select(TubeMember.person_id)
        .where(TubeMember.tube_id == first.id)
        .order_by(TubeMember.sampled_at, TubeMember.person_id)
    ).all()
    assert members == [r.id for r in registry.a1[:4]]
    assert session.scalars(
        select(TubeMember.sampled_at).where(TubeMember.tube_id == first.id)
    ).all()
    batch = session.get(ImportBatch, result.batch_id)
    assert batch is not None
    assert (batch.kind, batch.status, batch.accepted, batch.rejected) == ("samples", "done", 5, 0)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "samples.import")).one()
    assert (event.changes["accepted"], event.changes["tubes"]) == (5, 2)


def test_reuploading_the_same_file_changes_nothing(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    rows = [swab("F0003", r) for r in registry.a1[:4]] + [swab("F0004", registry.a2[0])]
    data = samples_file(rows)
    run(session, sampler, anci_round.id, data)
    before = (tubes(session), swabs(session))

    again = run(session, sampler, anci_round.id, data)

    assert counts(again) == (0, 5, 0)
    assert again.summary.startswith("accepted 0, unchanged 5, rejected 0")
    assert again.tubes == 0
    assert (tubes(session), swabs(session)) == before


def test_a_file_adds_to_a_tube_opened_online_and_a_reupload_keeps_it_as_it_is(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "F0005", registry.a1[:2], close=False)
    data = samples_file([swab("F0005", r) for r in registry.a1[:4]])

    first = run(session, sampler, anci_round.id, data)
    again = run(session, sampler, anci_round.id, data)

    assert counts(first) == (2, 2, 0)
    assert first.tubes == 0
    assert counts(again) == (0, 4, 0)
    assert swabs(session) == 4


ANCI_NOBODY = "131002199001010000"


@pytest.mark.parametrize(
    ("change", "column", "key", "detail"),
    [
        ({"id_number": ANCI_NOBODY}, "id_number", "not_in_registry", ""),
        ({"id_number": "1" * 40}, "id_number", "not_in_registry", ""),
        ({"id_number": ""}, "id_number", "required", ""),
        ({"tube": ""}, "tube", "required", ""),
        ({"tube": "T" * 41}, "tube", "required", ""),
        ({"sampled_at": ""}, "sampled_at", "required", ""),
        ({"sampled_at": "昨天上午"}, "sampled_at", "bad_time", ""),
        ({"sampled_at": "2022-02-30 09:00"}, "sampled_at", "bad_time", ""),
        ({"sampled_at": "2022-03-15 09:00"}, "sampled_at", "future_time", ""),
        ({"pool_size": "3"}, "pool_size", "pool_size_not_allowed", "1, 5, 10, 20"),
        ({"pool_size": "十"}, "pool_size", "pool_size_not_allowed", "1, 5, 10, 20"),
        ({"site": "不存在的采样点"}, "site", "unknown_site", ""),
    ],
)
def test_each_bad_row_is_rejected_with_its_row_number_and_reason_and_good_rows_are_kept(
    session: Session,
    sampler: Actor,
    anci_round: Round,
    registry: Registry,
    change: dict[str, str],
    column: str,
    key: str,
    detail: str,
) -> None:
    columns = ["tube", "pool_size", "id_number", "sampled_at", "site"]
    bad = swab("F0006", registry.a1[1])
    for name, value in change.items():
        bad[columns.index(name)] = value
    rows = [swab("F0006", registry.a1[0]), bad, swab("F0006", registry.a1[2])]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (2, 0, 1)
    assert list(reasons(result)) == [3]  # the header is row 1
    got_column, value, zh, en = reasons(result)[3]
    assert (got_column, (zh, en)) == (column, words(key, detail))
    assert value == str(change.get(column, bad[columns.index(column)]))
    assert result.summary.startswith("accepted 2, unchanged 0, rejected 1")
    persons = set(session.scalars(select(TubeMember.person_id)))
    assert persons == {registry.a1[0].id, registry.a1[2].id}


def test_a_person_of_another_county_is_rejected_by_file_as_unknown(
    session: Session,
    sampler: Actor,
    city_commander: Actor,
    registry: Registry,
    make_round: Callable[..., Round],
) -> None:
    city_round = make_round(region="131000", actor=city_commander)
    rows = [swab("F0007", registry.gy[0]), swab("F0007", registry.a1[0])]

    result = run(session, sampler, city_round.id, samples_file(rows))

    assert counts(result) == (1, 0, 1)
    assert reasons(result)[2][2:] == words("not_in_registry")
    assert swabs(session) == 1


def test_a_person_outside_the_round_is_rejected_by_file(
    session: Session, sampler: Actor, registry: Registry, make_round: Callable[..., Round]
) -> None:
    township_round = make_round(region=TOWNSHIP_B)
    rows = [swab("F0008", registry.a1[0]), swab("F0008", registry.b1[0])]

    result = run(session, sampler, township_round.id, samples_file(rows))

    assert counts(result) == (1, 0, 1)
    assert reasons(result)[2] == ("id_number", registry.a1[0].id_number, *words("outside_round"))


def test_a_barcode_of_another_round_is_rejected_by_file(
    session: Session,
    sampler: Actor,
    anci_round: Round,
    registry: Registry,
    make_round: Callable[..., Round],
) -> None:
    fill_tube(session, sampler, anci_round.id, "F0009", registry.a1[:1])
    second = make_round(name="全员核酸第2轮")
    rows = [swab("F0009", registry.a1[1]), swab("F0010", registry.a1[2])]

    result = run(session, sampler, second.id, samples_file(rows))

    assert counts(result) == (1, 0, 1)
    column, value, zh, en = reasons(result)[2]
    assert (column, value) == ("tube", "F0009")
    assert (zh, en) == words("barcode_used", ("另一轮或另一辖区", "another round or jurisdiction"))


def test_a_file_that_mixes_pool_sizes_for_one_tube_rejects_all_that_tubes_rows(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    rows = [
        swab("F0011", registry.a1[0], pool=10),
        swab("F0011", registry.a1[1], pool=5),
        swab("F0012", registry.a2[0], pool=5),
    ]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (1, 0, 2)
    assert {n: r[0] for n, r in reasons(result).items()} == {2: "pool_size", 3: "pool_size"}
    assert reasons(result)[2][2:] == words("pool_size_differs")
    assert session.scalars(select(Tube.barcode)).all() == ["F0012"]


def test_a_row_whose_pool_size_differs_from_the_tube_opened_online_is_rejected(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "F0013", registry.a1[:1], pool_size=5, close=False)

    result = run(session, sampler, anci_round.id, samples_file([swab("F0013", registry.a1[1])]))

    assert counts(result) == (0, 0, 1)
    assert reasons(result)[2][0] == "pool_size"
    assert reasons(result)[2][2:] == words("pool_size_differs")


def test_an_empty_pool_size_cell_takes_the_rounds_policy_for_the_persons_area(
    session: Session, sampler: Actor, registry: Registry, make_round: Callable[..., Round]
) -> None:
    mixed = make_round(areas=[AreaPolicy("131002", 10), AreaPolicy(TOWNSHIP_B, 1)])
    rows = [swab("F0014", registry.a1[0], pool=""), swab("F0015", registry.b1[0], pool="")]

    result = run(session, sampler, mixed.id, samples_file(rows))

    assert counts(result) == (2, 0, 0)
    sizes = dict(session.execute(select(Tube.barcode, Tube.pool_size)).all())
    assert sizes == {"F0014": 10, "F0015": 1}


def test_a_person_twice_in_a_file_counts_once_in_the_same_tube_and_is_refused_in_another(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    person = registry.a1[0]
    rows = [
        swab("F0016", person),
        swab("F0016", person),
        swab("F0017", person),
        swab("F0017", registry.a1[1]),
    ]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (2, 1, 1)
    assert reasons(result)[4] == ("id_number", person.id_number, *words("already_sampled", "F0016"))
    assert swabs(session) == 2


def test_a_person_sampled_online_is_refused_in_a_file_tube_naming_the_first_tube(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "F0018", registry.a1[:1])

    result = run(session, sampler, anci_round.id, samples_file([swab("F0019", registry.a1[0])]))

    assert counts(result) == (0, 0, 1)
    assert reasons(result)[2][2:] == words("already_sampled", "F0018")
    assert tubes(session) == 1


def test_rows_beyond_a_tubes_room_are_rejected_counting_the_swabs_it_holds(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "F0020", registry.a1[:3], pool_size=5, close=False)
    rows = [swab("F0020", r, pool=5) for r in registry.a1[3:]]  # three rows, room for two
    rows += [swab("F0021", r, pool=5) for r in registry.a2]  # a new tube with room

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (6, 0, 1)
    assert reasons(result)[4] == ("tube", "F0020", *words("tube_full", 5))
    assert swabs(session) == 3 + 6


def test_a_row_for_a_tube_already_closed_is_rejected(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "F0022", registry.a1[:1])
    rows = [swab("F0022", registry.a1[0]), swab("F0022", registry.a1[1])]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (0, 1, 1)
    assert reasons(result)[3] == ("tube", "F0022", *words("tube_closed"))


def test_a_person_of_a_sealed_zone_is_rejected_from_a_pooled_tube_but_taken_in_a_single_one(
    session: Session,
    sampler: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    designate_zone(session, county_commander, name="封控小区", level="sealed", areas=[ZoneArea(A1)])
    rows = [
        swab("F0023", registry.a2[0]),
        swab("F0023", registry.a1[0]),
        swab("F0024", registry.a1[1], pool=1),
    ]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (2, 0, 1)
    expected = words("single_tube_required", ("封控区或管控区", "sealed or controlled"))
    assert reasons(result)[3] == ("id_number", registry.a1[0].id_number, *expected)


def test_follow_up_resampling_by_file_goes_into_single_tubes_only(
    session: Session, sampler: Actor, lab: Actor, anci_round: Round, registry: Registry
) -> None:
    fill_tube(session, sampler, anci_round.id, "F0025", registry.a1[:2])
    record_lab_result(
        session, lab, barcode="F0025", result="positive", tested_at=clock.now(), lab=LAB_NAME
    )
    clock.set_clock(lambda: datetime(2022, 3, 14, 4, 0, tzinfo=UTC))
    resampled = datetime(2022, 3, 14, 3, 30, tzinfo=UTC)
    rows = [
        swab("F0026", registry.a1[0], pool=1, at=resampled),
        swab("F0027", registry.a1[1], pool=10, at=resampled),
    ]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (1, 0, 1)
    assert result.followups == 1
    assert reasons(result)[3] == ("pool_size", "10", *words("followup_single_tube"))
    tube = session.scalars(select(Tube).where(Tube.barcode == "F0026")).one()
    assert (tube.purpose, tube.pool_size, tube.state) == ("followup", 1, "collected")
    task = session.scalars(
        select(FollowUpTask).where(FollowUpTask.person_id == registry.a1[0].id)
    ).one()
    assert (task.state, task.done_at) == ("done", resampled)
    member = session.scalars(select(TubeMember).where(TubeMember.tube_id == tube.id)).one()
    assert member.task_id == task.id
    again = run(session, sampler, anci_round.id, samples_file(rows[:1]))
    assert counts(again) == (0, 1, 0)


def test_chinese_headers_and_a_site_named_in_the_file_are_read(
    session: Session,
    sampler: Actor,
    anci_round: Round,
    registry: Registry,
    site: SamplingSite,
) -> None:
    rows = [
        ["F0028", "10", registry.a1[0].id_number, "2022/3/14 9:05", site.name],
        ["F0028", "10", registry.a1[1].id_number, "2022-03-14T09:06:30+08:00", str(site.id)],
    ]

    result = run(session, sampler, anci_round.id, samples_file(rows, SAMPLE_HEADER_ZH))

    assert counts(result) == (2, 0, 0)
    assert result.notices == []
    tube = session.scalars(select(Tube).where(Tube.barcode == "F0028")).one()
    assert tube.site_id == site.id
    times = session.scalars(
        select(TubeMember.sampled_at).order_by(TubeMember.sampled_at, TubeMember.person_id)
    ).all()
    assert times == [
        datetime(2022, 3, 14, 1, 5, tzinfo=UTC),
        datetime(2022, 3, 14, 1, 6, 30, tzinfo=UTC),
    ]


def test_an_xlsx_file_with_time_and_number_cells_is_read(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(SAMPLE_HEADER_ZH)
    for minute, person in enumerate(registry.a2):
        sheet.append(["F0034", 5, person.id_number, datetime(2022, 3, 14, 9, minute, 30), ""])
    out = io.BytesIO()
    workbook.save(out)

    result = run(session, sampler, anci_round.id, out.getvalue(), "samples.xlsx")

    assert counts(result) == (4, 0, 0)
    times = session.scalars(
        select(TubeMember.sampled_at).order_by(TubeMember.sampled_at, TubeMember.person_id)
    ).all()
    assert times[-1] == datetime(2022, 3, 14, 1, 3, 30, tzinfo=UTC)


def test_a_truncated_file_keeps_every_complete_row(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    data = samples_file([swab("F0035", r) for r in registry.a1[:3]])
    cut = data[: data.rindex(b"\r\n", 0, len(data) - 2) + 12]  # mid-way through the last row

    result = run(session, sampler, anci_round.id, cut)

    assert counts(result) == (2, 0, 1)
    assert reasons(result)[4][0] == "(整行 whole row)"
    assert swabs(session) == 2


def test_a_file_missing_a_required_column_is_unreadable_and_records_nothing(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    data = samples_file([["F0029", registry.a1[0].id_number]], header=["试管条码", "身份证号"])

    with pytest.raises(UnreadableFile, match="采样时间 \\(sampled_at\\)"):
        run(session, sampler, anci_round.id, data)
    assert tubes(session) == 0
    batches = select(func.count()).select_from(ImportBatch).where(ImportBatch.kind == "samples")
    assert session.scalar(batches) == 0


def test_a_file_with_only_headers_is_unreadable(
    session: Session, sampler: Actor, anci_round: Round
) -> None:
    with pytest.raises(UnreadableFile, match="no rows"):
        run(session, sampler, anci_round.id, samples_file([]))


def test_a_file_in_an_unreadable_encoding_is_unreadable(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    text = "试管条码,身份证号,采样时间\r\nF0030,{},2022-03-14 09:00\r\n"
    data = text.format(registry.a1[0].id_number).encode("utf-16")

    with pytest.raises(UnreadableFile, match="UTF-16"):
        run(session, sampler, anci_round.id, data)
    assert swabs(session) == 0


def test_the_rejects_report_holds_the_original_columns_row_and_reason(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    bad = swab("F0031", registry.a1[1], pool=3)
    rows = [swab("F0031", registry.a1[0]), bad]
    result = run(session, sampler, anci_round.id, samples_file(rows))
    batch = session.get(ImportBatch, result.batch_id)
    assert batch is not None

    header, report = rejects_report(session, batch)

    assert header[:5] == ["tube", "pool_size", "id_number", "sampled_at", "site"]
    assert header[5:] == ["原行号 row", "错误列 column", "错误原因", "reason"]
    assert report == [
        [
            *[str(v) for v in bad],
            "3",
            "pool_size",
            words("pool_size_not_allowed", "1, 5, 10, 20")[0],
            words("pool_size_not_allowed", "1, 5, 10, 20")[1],
        ]
    ]


def test_a_closed_round_refuses_every_row_but_follow_up_re_sampling(
    session: Session,
    sampler: Actor,
    county_commander: Actor,
    anci_round: Round,
    registry: Registry,
) -> None:
    close_round(session, county_commander, anci_round.id)

    result = run(session, sampler, anci_round.id, samples_file([swab("F0032", registry.a1[0])]))

    assert counts(result) == (0, 0, 1)
    assert reasons(result)[2][2:] == reason("round_closed")
    assert swabs(session) == 0


def test_a_tube_opened_online_and_still_empty_is_filled_by_file(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="F0033", pool_size=5)
    rows = [swab("F0033", r, pool=5) for r in registry.a2]

    result = run(session, sampler, anci_round.id, samples_file(rows))

    assert counts(result) == (4, 0, 0)
    assert result.tubes == 0
    tube = session.scalars(select(Tube).where(Tube.barcode == "F0033")).one()
    assert tube.state == "open"
    assert local(tube.opened_at) == "2022-03-14 10:00"

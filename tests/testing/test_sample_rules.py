"""The pure rules of mass testing, on plain arrays, with no database: the
decision for every row of a sampling file (each refusal, in the order a
sampler fixes them, and the room left in a tube), the rule helpers, and the
parsing of local times in files."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from fangkong.imports import parse_local_times
from fangkong.policy import Policy
from fangkong.testing.rules import (
    REASONS,
    Coverage,
    allowed_pool_sizes,
    area_pool_size,
    normalize_result,
    percentile,
    pooling_forbidden,
    reason,
    roll_up,
    task_status,
)
from fangkong.testing.sample_rules import (
    NEW,
    REJECTED,
    UNCHANGED,
    Decisions,
    KnownMembers,
    KnownTubes,
    SampleRows,
    area_pool_sizes,
    decide_samples,
    in_zones,
)

A1, A2, B1, GY = "131002001001", "131002001002", "131002002001", "131003001001"
ROUND = 7
ALLOWED = (1, 5, 10, 20)
AREAS = [("131002", 10)]

Row = tuple[str, int, int, str | None]  # barcode, pool size given (0 = empty), person, community


def sample_rows(rows: list[Row], addresses: list[int] | None = None) -> SampleRows:
    return SampleRows(
        barcode=pa.array([r[0] for r in rows], pa.string()),
        pool_given=np.array([r[1] for r in rows], dtype=np.int64),
        person_id=np.array([r[2] for r in rows], dtype=np.int64),
        region_code=pa.array([r[3] for r in rows], pa.string()),
        address_id=np.array(addresses or [-1] * len(rows), dtype=np.int64),
    )


def known_tubes(*tubes: tuple[str, int, int, str, int, bool]) -> KnownTubes:
    """(barcode, round, pool size, state, members, in scope) each."""
    return KnownTubes(
        id=np.arange(1, len(tubes) + 1, dtype=np.int64),
        barcode=pa.array([t[0] for t in tubes], pa.string()),
        round_id=np.array([t[1] for t in tubes], dtype=np.int64),
        pool_size=np.array([t[2] for t in tubes], dtype=np.int64),
        state=[t[3] for t in tubes],
        members=np.array([t[4] for t in tubes], dtype=np.int64),
        in_scope=np.array([t[5] for t in tubes], dtype=bool),
    )


def known_members(*swabs: tuple[int, str, bool]) -> KnownMembers:
    """(person, barcode, follow-up) each."""
    return KnownMembers(
        person_id=np.array([s[0] for s in swabs], dtype=np.int64),
        barcode=pa.array([s[1] for s in swabs], pa.string()),
        followup=np.array([s[2] for s in swabs], dtype=bool),
    )


def decide(
    rows: list[Row],
    *,
    tubes: KnownTubes | None = None,
    members: KnownMembers | None = None,
    open_tasks: dict[int, int] | None = None,
    single_tube_only: list[bool] | None = None,
    already_rejected: list[bool] | None = None,
    areas: list[tuple[str, int]] | None = None,
) -> Decisions:
    table = sample_rows(rows)
    n = len(rows)
    return decide_samples(
        table,
        round_id=ROUND,
        area_sizes=area_pool_sizes(table.region_code, areas or AREAS),
        allowed_sizes=ALLOWED,
        tubes=tubes or known_tubes(),
        members=members or known_members(),
        open_tasks=open_tasks or {},
        single_tube_only=np.array(single_tube_only or [False] * n, dtype=bool),
        already_rejected=np.array(already_rejected or [False] * n, dtype=bool),
    )


def outcome(decisions: Decisions) -> list[str]:
    """Each row as 'new', 'unchanged' or the key of its refusal."""
    names = {NEW: "new", UNCHANGED: "unchanged"}
    return [
        decisions.reasons.get(i, ("", "rejected"))[1] if status == REJECTED else names[int(status)]
        for i, status in enumerate(decisions.status)
    ]


# --- decide_samples ------------------------------------------------------------------


def test_rows_for_a_new_tube_are_new_with_the_areas_pool_size() -> None:
    decisions = decide([("T1", 0, 1, A1), ("T1", 0, 2, A1), ("T2", 5, 3, B1)])

    assert outcome(decisions) == ["new", "new", "new"]
    assert decisions.pool_size.tolist() == [10, 10, 5]
    assert decisions.task_id.tolist() == [-1, -1, -1]
    assert decisions.reasons == {}


def test_a_person_not_found_is_refused_before_anything_else() -> None:
    decisions = decide(
        [("T1", 3, -1, None)], tubes=known_tubes(("T1", 99, 10, "tested", 10, False))
    )

    assert outcome(decisions) == ["not_in_registry"]
    assert decisions.reasons[0] == (("id_number", "not_in_registry", ""))


def test_a_person_outside_the_rounds_areas_is_refused() -> None:
    decisions = decide([("T1", 0, 1, A1), ("T1", 0, 2, GY)])

    assert outcome(decisions) == ["new", "outside_round"]


def test_a_pool_size_the_policy_does_not_allow_is_refused_with_the_allowed_ones() -> None:
    decisions = decide([("T1", 3, 1, A1), ("T2", 20, 2, A1)], areas=[("131002", 20)])

    assert outcome(decisions) == ["pool_size_not_allowed", "new"]
    assert decisions.reasons[0] == ("pool_size", "pool_size_not_allowed", "1, 5, 10, 20")


def test_a_tube_larger_than_the_areas_policy_is_refused() -> None:
    decisions = decide([("T1", 20, 1, A1), ("T2", 5, 2, A1)])

    assert outcome(decisions) == ["pool_exceeds_area", "new"]
    assert decisions.reasons[0] == ("pool_size", "pool_exceeds_area", 10)


def test_the_most_specific_area_sets_the_pool_size() -> None:
    areas = [("131002", 10), ("131002001", 5), (A2, 1)]
    table = sample_rows([("T", 0, 1, A1), ("T", 0, 2, A2), ("T", 0, 3, B1), ("T", 0, 4, GY)])

    assert area_pool_sizes(table.region_code, areas).tolist() == [5, 1, 10, 0]
    assert area_pool_sizes(pa.array([None], pa.string()), areas).tolist() == [0]


def test_a_barcode_of_another_round_or_jurisdiction_is_used() -> None:
    tubes = known_tubes(
        ("OLD", ROUND - 1, 10, "tested", 4, True), ("THEIRS", ROUND, 10, "open", 1, False)
    )

    decisions = decide([("OLD", 0, 1, A1), ("THEIRS", 0, 2, A1)], tubes=tubes)

    assert outcome(decisions) == ["barcode_used", "barcode_used"]
    assert decisions.reasons[0][0] == "tube"
    assert decisions.reasons[0][2] == ("另一轮或另一辖区", "another round or jurisdiction")


def test_a_row_whose_pool_size_differs_from_the_known_tube_is_refused() -> None:
    tubes = known_tubes(("T1", ROUND, 5, "open", 1, True))

    decisions = decide([("T1", 10, 1, A1), ("T1", 0, 2, A1), ("T1", 5, 3, A1)], tubes=tubes)

    assert outcome(decisions) == ["pool_size_differs", "pool_size_differs", "new"]


def test_a_file_mixing_pool_sizes_for_one_tube_refuses_every_row_of_that_tube() -> None:
    decisions = decide([("T1", 10, 1, A1), ("T2", 5, 2, A1), ("T1", 5, 3, A1), ("T1", 0, 4, A1)])

    assert outcome(decisions) == [
        "pool_size_differs",
        "new",
        "pool_size_differs",
        "pool_size_differs",
    ]


def test_rows_already_refused_for_their_cells_do_not_count_as_a_mixed_pool_size() -> None:
    decisions = decide([("T1", 10, 1, A1), ("T1", 5, 2, A1)], already_rejected=[False, True])

    assert outcome(decisions) == ["new", "rejected"]
    assert 1 not in decisions.reasons  # its reason was given for its cells


def test_a_person_with_an_open_task_is_resampled_into_a_single_tube_only() -> None:
    members = known_members((1, "POOL", False), (2, "POOL", False))

    decisions = decide(
        [("S1", 1, 1, A1), ("T2", 10, 2, A1)], members=members, open_tasks={1: 41, 2: 42}
    )

    assert outcome(decisions) == ["new", "followup_single_tube"]
    assert decisions.task_id.tolist() == [41, -1]


def test_a_swab_already_recorded_in_the_same_tube_is_unchanged() -> None:
    members = known_members((1, "T1", False), (2, "S1", True))
    tubes = known_tubes(
        ("T1", ROUND, 10, "collected", 1, True), ("S1", ROUND, 1, "collected", 1, True)
    )

    decisions = decide([("T1", 10, 1, A1), ("S1", 1, 2, A1)], tubes=tubes, members=members)

    assert outcome(decisions) == ["unchanged", "unchanged"]
    assert decisions.task_id.tolist() == [-1, -1]


def test_a_person_sampled_in_another_tube_of_the_round_is_refused_naming_it() -> None:
    members = known_members((1, "EARLIER", False))

    decisions = decide([("T1", 0, 1, A1), ("T1", 0, 2, A1)], members=members)

    assert outcome(decisions) == ["already_sampled", "new"]
    assert decisions.reasons[0] == ("id_number", "already_sampled", "EARLIER")


def test_a_follow_up_swab_does_not_count_as_the_rounds_sampling() -> None:
    members = known_members((1, "S1", True))

    decisions = decide([("T1", 0, 1, A1)], members=members)

    assert outcome(decisions) == ["new"]


def test_a_person_twice_in_a_file_is_unchanged_in_the_same_tube_and_refused_in_another() -> None:
    rows: list[Row] = [("T2", 0, 1, A1), ("T1", 0, 1, A1), ("T2", 0, 1, A1), ("T3", 0, 2, A1)]

    decisions = decide(rows)

    assert outcome(decisions) == ["new", "already_sampled", "unchanged", "new"]
    assert decisions.reasons[1][2] == "T2"


def test_a_person_where_pooling_is_forbidden_goes_into_a_single_tube() -> None:
    decisions = decide(
        [("T1", 10, 1, A1), ("S1", 1, 2, A1), ("T1", 10, 3, A2)],
        single_tube_only=[True, True, False],
    )

    assert outcome(decisions) == ["single_tube_required", "new", "new"]
    assert decisions.reasons[0][2] == ("封控区或管控区", "sealed or controlled")


def test_a_row_for_a_closed_tube_is_refused() -> None:
    tubes = known_tubes(("T1", ROUND, 10, "collected", 2, True))

    decisions = decide([("T1", 10, 3, A1)], tubes=tubes)

    assert outcome(decisions) == ["tube_closed"]


def test_rows_beyond_a_tubes_room_are_refused_counting_its_members_in_file_order() -> None:
    tubes = known_tubes(("T1", ROUND, 5, "open", 3, True))
    rows: list[Row] = [
        ("T1", 5, 11, A1),
        ("T2", 5, 21, A1),
        ("T1", 5, 12, A1),
        ("T2", 5, 22, A1),
        ("T1", 5, 13, A1),
        ("T1", 5, 14, A1),
    ]

    decisions = decide(rows, tubes=tubes)

    assert outcome(decisions) == ["new", "new", "new", "new", "tube_full", "tube_full"]
    assert decisions.reasons[4] == ("tube", "tube_full", 5)


def test_refused_and_unchanged_rows_take_no_room_in_a_tube() -> None:
    members = known_members((1, "T1", False))
    tubes = known_tubes(("T1", ROUND, 5, "open", 1, True))
    rows: list[Row] = [("T1", 5, 1, A1), ("T1", 5, -1, None)] + [
        ("T1", 5, p, A1) for p in (2, 3, 4, 5)
    ]

    decisions = decide(rows, tubes=tubes, members=members)

    assert outcome(decisions) == ["unchanged", "not_in_registry", "new", "new", "new", "new"]


def test_a_tube_of_one_takes_one_person() -> None:
    decisions = decide([("S1", 1, 1, A1), ("S1", 1, 2, A1)])

    assert outcome(decisions) == ["new", "tube_full"]


def test_zones_are_matched_by_community_prefix_and_by_address() -> None:
    table = sample_rows(
        [("T", 0, 1, A1), ("T", 0, 2, A2), ("T", 0, 3, B1), ("T", 0, -1, None)],
        addresses=[10, 20, 30, -1],
    )

    hit = in_zones(table, ["131002001001"], [30])

    assert hit.tolist() == [True, False, True, False]
    assert in_zones(table, [], []).tolist() == [False] * 4


# --- the rule helpers ---------------------------------------------------------------


def test_every_reason_has_chinese_and_english_words_and_takes_a_detail() -> None:
    for key, (zh, en) in REASONS.items():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), key
        assert en.isascii(), key
    assert reason("tube_full", 10) == ("试管已满：最多 10 人", "tube is full: at most 10 persons")
    assert reason("single_tube_required", ("封控区", "sealed")) == (
        "此人在封控区，必须单人单管",
        "this person lives in a sealed zone and must be sampled in a single tube",
    )


@pytest.mark.parametrize(
    ("word", "verdict"),
    [
        ("阴性", "negative"),
        ("阳性", "positive"),
        ("无效", "invalid"),
        (" Positive ", "positive"),
        ("NEG", "negative"),
        ("+", "positive"),
        ("复检", "invalid"),
        ("弱阳性", None),
        ("", None),
    ],
)
def test_result_words_in_chinese_and_english_are_understood(word: str, verdict: str | None) -> None:
    assert normalize_result(word) == verdict


def test_the_pool_sizes_a_round_may_use_come_from_the_policy() -> None:
    assert allowed_pool_sizes(Policy()) == (1, 5, 10, 20)
    assert allowed_pool_sizes(Policy(swab_pool_sizes=(20, 10, 10))) == (1, 10, 20)
    with pytest.raises(ValueError, match="at least 2"):
        Policy(swab_pool_sizes=(1, 10))


def test_a_persons_area_is_the_most_specific_and_none_outside_the_round() -> None:
    areas = [("131002", 10), ("131002001", 5)]

    assert area_pool_size(A1, areas) == 5
    assert area_pool_size(B1, areas) == 10
    assert area_pool_size(GY, areas) is None


def test_pooling_is_forbidden_in_sealed_and_controlled_zones_only() -> None:
    policy = Policy()

    assert [pooling_forbidden(z, policy) for z in ("sealed", "controlled", "precaution", None)] == [
        True,
        True,
        False,
        False,
    ]


def test_an_open_task_is_overdue_only_after_its_deadline() -> None:
    due = datetime(2022, 3, 14, 8, 0, tzinfo=UTC)
    after = datetime(2022, 3, 14, 8, 1, tzinfo=UTC)

    assert task_status("open", due, due) == "open"
    assert task_status("open", due, after) == "overdue"
    assert task_status("done", due, after) == "done"
    assert task_status("cancelled", due, after) == "cancelled"


def test_coverage_figures_add_up_and_roll_up_to_parent_regions() -> None:
    by_community = {
        A1: Coverage(sampled=3, exempt=2, missing=2, households_missing=1),
        A2: Coverage(sampled=1, exempt=1, missing=2, households_missing=2),
        B1: Coverage(sampled=3),
        GY: Coverage(missing=4, households_missing=2),
    }

    townships = roll_up(by_community, 9)
    counties = roll_up(by_community, 6)

    assert townships["131002001"] == Coverage(4, 3, 4, 3)
    assert counties == {"131002": Coverage(7, 3, 4, 3), "131003": Coverage(0, 0, 4, 2)}
    assert roll_up(counties, 4) == roll_up(by_community, 4) == {"1310": Coverage(7, 3, 8, 5)}
    assert counties["131002"].due == 11
    assert counties["131002"].rate == pytest.approx(7 / 11)
    assert Coverage(exempt=3).rate is None


def test_percentiles_interpolate_and_are_none_for_nothing() -> None:
    assert percentile([2.0, 4.0, 6.0], 50) == 4.0
    assert percentile([2.0, 4.0, 6.0], 90) == pytest.approx(5.6)
    assert percentile([], 90) is None


# --- times in files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "utc"),
    [
        ("2022-03-14 08:30", datetime(2022, 3, 14, 0, 30, tzinfo=UTC)),
        ("2022-03-14 08:30:05", datetime(2022, 3, 14, 0, 30, 5, tzinfo=UTC)),
        (" 2022/3/4 8:30 ", datetime(2022, 3, 4, 0, 30, tzinfo=UTC)),
        ("2022.03.14 8:30:05", datetime(2022, 3, 14, 0, 30, 5, tzinfo=UTC)),
        ("2022-03-14T08:30:00", datetime(2022, 3, 14, 0, 30, tzinfo=UTC)),
        ("2022-03-14T08:30:00+08:00", datetime(2022, 3, 14, 0, 30, tzinfo=UTC)),
        ("2022-03-14T08:30:00+0900", datetime(2022, 3, 13, 23, 30, tzinfo=UTC)),
        ("2022-03-14T08:30:00Z", datetime(2022, 3, 14, 8, 30, tzinfo=UTC)),
        ("2022-03-14 08:30-05:00", datetime(2022, 3, 14, 13, 30, tzinfo=UTC)),
        ("2024-02-29 08:00", datetime(2024, 2, 29, 0, 0, tzinfo=UTC)),
    ],
)
def test_local_times_are_read_in_the_command_centres_zone_or_with_their_offset(
    cell: str, utc: datetime
) -> None:
    parsed = parse_local_times(pa.array([cell]), "Asia/Shanghai")

    assert parsed.type == pa.timestamp("us", "UTC")
    assert parsed.to_pylist() == [utc]


@pytest.mark.parametrize(
    "cell",
    [
        "",
        "昨天上午",
        "2022-03-14",
        "14/03/2022 08:30",
        "2022-03-14 25:00",
        "2022-03-14 08:61",
        "2022-02-30 08:00",
        "2022-02-29 08:00:00",
        "2022-2-30 8:00",
        "2022-02-30T08:00:00+08:00",
        "2022-13-01 08:00",
    ],
)
def test_a_cell_that_is_not_a_time_is_null(cell: str) -> None:
    assert parse_local_times(pa.array([cell]), "Asia/Shanghai").to_pylist() == [None]


def test_times_are_read_for_a_whole_column_at_once_keeping_nulls() -> None:
    cells = pa.array(["2022-03-14 08:30:00", None, "bad", "2022-03-14T08:30:00Z"], pa.string())

    parsed = parse_local_times(cells, "Asia/Shanghai").to_pylist()

    assert parsed == [
        datetime(2022, 3, 14, 0, 30, tzinfo=UTC),
        None,
        None,
        datetime(2022, 3, 14, 8, 30, tzinfo=UTC),
    ]


def test_a_local_time_repeated_at_a_daylight_saving_change_is_read_as_the_earlier() -> None:
    parsed = parse_local_times(pa.array(["2022-10-30 02:30"]), "Europe/Berlin").to_pylist()

    assert parsed == [datetime(2022, 10, 30, 0, 30, tzinfo=UTC)]

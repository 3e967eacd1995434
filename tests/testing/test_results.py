"""Lab results by API and by file: a re-sent result changes nothing; a
conflicting one never overwrites the first (both kept, the tube flagged and
counted) until a person settles it; unknown and still-open tubes, bad Ct
values and words are refused with their reasons; an invalid result is
followed by a re-test. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, UnreadableFile
from fangkong.imports import ImportBatch, rejects_report
from fangkong.testing.models import LabResult, Round, TemporaryControl, Tube
from fangkong.testing.result_import import ResultImportResult, import_results
from fangkong.testing.results import (
    ResultOutcome,
    receive_tubes,
    record_lab_result,
    settle_conflict,
)
from fangkong.testing.rules import reason
from fangkong.testing.sampling import open_tube
from tests.testing.conftest import (
    LAB_NAME,
    RESULT_HEADER_ZH,
    FrozenClock,
    Registry,
    fill_tube,
    local,
    result_row,
    results_file,
    says,
)


@pytest.fixture
def tubes(
    session: Session, sampler: Actor, anci_round: Round, registry: Registry, frozen: FrozenClock
) -> list[str]:
    """Three sealed tubes (two pools and a single tube), three hours before now."""
    fill_tube(session, sampler, anci_round.id, "R0001", registry.a1[:3])
    fill_tube(session, sampler, anci_round.id, "R0002", registry.a2)
    fill_tube(session, sampler, anci_round.id, "R0003", registry.b1[:1], pool_size=1)
    frozen.advance(hours=3)
    return ["R0001", "R0002", "R0003"]


def send(
    session: Session,
    lab: Actor,
    barcode: str,
    result: str,
    *,
    minutes_ago: float = 30,
    ct: tuple[float | None, float | None] = (None, None),
) -> ResultOutcome:
    return record_lab_result(
        session,
        lab,
        barcode=barcode,
        result=result,
        tested_at=clock.now() - timedelta(minutes=minutes_ago),
        lab=LAB_NAME,
        ct_orf1ab=ct[0],
        ct_n=ct[1],
    )


def tube(session: Session, barcode: str) -> Tube:
    return session.scalars(select(Tube).where(Tube.barcode == barcode)).one()


def lab_results(session: Session, barcode: str) -> list[str]:
    return list(
        session.scalars(
            select(LabResult.result)
            .join(Tube, Tube.id == LabResult.tube_id)
            .where(Tube.barcode == barcode)
            .order_by(LabResult.id)
        )
    )


def run(session: Session, lab: Actor, data: bytes, name: str = "results.csv") -> ResultImportResult:
    return import_results(session, lab, data, name)


def reasons(result: ResultImportResult) -> dict[int, tuple[str, str, str, str]]:
    return {r.row_number: (r.column, r.value, r.reason_zh, r.reason_en) for r in result.rejects}


# --- by API ------------------------------------------------------------------------


def test_a_negative_result_by_api_is_the_tubes_result_and_is_audited(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    outcome = send(session, lab, "R0001", "negative")

    assert (outcome.accepted, outcome.unchanged, outcome.conflicts) == (1, 0, 0)
    sealed = tube(session, "R0001")
    assert (sealed.state, sealed.result, sealed.conflict, sealed.lab) == (
        "tested",
        "negative",
        False,
        LAB_NAME,
    )
    assert sealed.tested_at == clock.now() - timedelta(minutes=30)
    assert sealed.result_at == sealed.received_at == clock.now()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "tube.result")).one()
    assert (event.object_id, event.region_code, event.changes["result"]) == (
        "R0001",
        sealed.region_code,
        "negative",
    )


def test_resending_the_same_result_changes_nothing(
    session: Session, lab: Actor, tubes: list[str], frozen: FrozenClock
) -> None:
    send(session, lab, "R0001", "positive", ct=(27.5, 28.0))
    before = tube(session, "R0001").result_at
    frozen.advance(minutes=10)

    again = send(session, lab, "R0001", "positive", minutes_ago=40, ct=(27.5, 28.0))

    assert (again.accepted, again.unchanged, again.conflicts, again.controlled) == (0, 1, 0, 0)
    assert lab_results(session, "R0001") == ["positive"]
    assert tube(session, "R0001").result_at == before
    audits = select(func.count()).where(AuditEvent.action == "tube.result")
    assert session.scalar(audits) == 1


def test_the_result_words_of_a_result_file_are_taken_by_api_too(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    send(session, lab, "R0001", "阴性")
    send(session, lab, "R0003", "阳性", ct=(30.0, 31.5))

    assert tube(session, "R0001").result == "negative"
    assert tube(session, "R0003").result == "positive"


def test_a_conflicting_second_result_is_kept_beside_the_first_and_flags_the_tube(
    session: Session, lab: Actor, tubes: list[str], registry: Registry
) -> None:
    send(session, lab, "R0001", "negative", minutes_ago=60)

    outcome = send(session, lab, "R0001", "positive", minutes_ago=20, ct=(33.0, 34.0))

    assert (outcome.accepted, outcome.conflicts) == (1, 1)
    flagged = tube(session, "R0001")
    assert (flagged.result, flagged.conflict) == ("negative", True)
    assert flagged.tested_at == clock.now() - timedelta(minutes=60)
    assert lab_results(session, "R0001") == ["negative", "positive"]
    # a positive, even a conflicting one, starts the follow-up at once
    assert outcome.controlled == 3
    controlled = session.scalars(select(TemporaryControl.person_id).order_by(TemporaryControl.id))
    assert list(controlled) == [r.id for r in registry.a1[:3]]


def test_settling_a_conflict_makes_the_chosen_result_stand(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    send(session, lab, "R0002", "positive", minutes_ago=60, ct=(25.0, 26.0))
    send(session, lab, "R0002", "negative", minutes_ago=20)
    negative = session.scalars(select(LabResult).where(LabResult.result == "negative")).one()

    settle_conflict(session, lab, barcode="R0002", result_id=negative.id)

    settled = tube(session, "R0002")
    assert (settled.result, settled.conflict, settled.tested_at) == (
        "negative",
        False,
        negative.tested_at,
    )
    assert lab_results(session, "R0002") == ["positive", "negative"]
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "tube.settle_conflict")
    ).one()
    assert event.changes["result"] == ["positive", "negative"]
    with pytest.raises(Conflict, match="no conflicting results"):
        settle_conflict(session, lab, barcode="R0002", result_id=negative.id)


def test_settling_a_conflict_with_a_result_of_another_tube_is_refused(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    send(session, lab, "R0001", "negative", minutes_ago=60)
    send(session, lab, "R0001", "positive", minutes_ago=20)
    send(session, lab, "R0002", "negative")
    other = session.scalars(
        select(LabResult.id).join(Tube, Tube.id == LabResult.tube_id).where(Tube.barcode == "R0002")
    ).one()

    with pytest.raises(InvalidInput, match="not a result of this tube"):
        settle_conflict(session, lab, barcode="R0001", result_id=other)
    with pytest.raises(NotFound):
        settle_conflict(session, lab, barcode="R9999", result_id=other)
    assert tube(session, "R0001").conflict


def test_settling_a_conflict_to_positive_starts_the_follow_up_once(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    send(session, lab, "R0001", "negative", minutes_ago=60)
    send(session, lab, "R0001", "positive", minutes_ago=20)
    positive = session.scalars(select(LabResult).where(LabResult.result == "positive")).one()

    settle_conflict(session, lab, barcode="R0001", result_id=positive.id)

    assert tube(session, "R0001").result == "positive"
    assert session.scalar(select(func.count()).select_from(TemporaryControl)) == 3


def test_an_invalid_result_is_followed_by_the_retest_result_without_a_conflict(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    first = send(session, lab, "R0001", "invalid", minutes_ago=90)
    assert tube(session, "R0001").result == "invalid"

    retest = send(session, lab, "R0001", "negative", minutes_ago=10)

    assert (first.accepted, retest.accepted, retest.conflicts) == (1, 1, 0)
    retested = tube(session, "R0001")
    assert (retested.result, retested.conflict) == ("negative", False)
    assert retested.tested_at == clock.now() - timedelta(minutes=10)
    assert lab_results(session, "R0001") == ["invalid", "negative"]


def test_an_invalid_rerun_after_a_verdict_is_kept_without_a_conflict(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    send(session, lab, "R0001", "negative", minutes_ago=60)

    rerun = send(session, lab, "R0001", "invalid", minutes_ago=10)

    assert (rerun.accepted, rerun.conflicts) == (1, 0)
    kept = tube(session, "R0001")
    assert (kept.result, kept.conflict) == ("negative", False)
    assert lab_results(session, "R0001") == ["negative", "invalid"]


def test_a_result_sent_by_api_and_again_in_a_file_is_recorded_once(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    tested_at = clock.now().replace(minute=0) - timedelta(hours=1)
    send(session, lab, "R0002", "positive", minutes_ago=60, ct=(28.1, 29.0))
    assert tube(session, "R0002").tested_at == tested_at

    again = run(
        session, lab, results_file([result_row("R0002", "阳性", at=tested_at, ct=("28.10", "29"))])
    )

    assert (again.accepted, again.unchanged, again.conflicts) == (0, 1, 0)
    assert lab_results(session, "R0002") == ["positive"]


def test_a_result_for_an_unknown_tube_is_refused_as_not_found(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    with pytest.raises(NotFound, match="R9999"):
        send(session, lab, "R9999", "negative")
    assert session.scalar(select(func.count()).select_from(LabResult)) == 0


def test_a_result_for_a_tube_still_open_is_refused(
    session: Session, lab: Actor, sampler: Actor, anci_round: Round, tubes: list[str]
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="R0004")

    with pytest.raises(Conflict, match=says("tube_not_closed")):
        send(session, lab, "R0004", "negative")
    assert tube(session, "R0004").result is None


@pytest.mark.parametrize(("orf1ab", "n"), [(51.0, None), (None, -0.5), (float("nan"), None)])
def test_a_ct_value_out_of_range_is_refused_by_api(
    session: Session, lab: Actor, tubes: list[str], orf1ab: float | None, n: float | None
) -> None:
    with pytest.raises(InvalidInput, match=says("bad_ct")) as refused:
        send(session, lab, "R0003", "positive", ct=(orf1ab, n))
    assert refused.value.field == ("ct_orf1ab" if orf1ab is not None else "ct_n")
    assert tube(session, "R0003").result is None


def test_a_bad_result_word_a_future_time_and_a_naive_time_are_refused_by_api(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    with pytest.raises(InvalidInput, match=says("bad_result")):
        send(session, lab, "R0001", "weakly positive")
    with pytest.raises(InvalidInput, match=says("future_time")):
        send(session, lab, "R0001", "negative", minutes_ago=-5)
    with pytest.raises(InvalidInput, match="time zone"):
        record_lab_result(
            session,
            lab,
            barcode="R0001",
            result="negative",
            tested_at=datetime(2022, 3, 14, 12, 0),
            lab=LAB_NAME,
        )
    assert session.scalar(select(func.count()).select_from(LabResult)) == 0


# --- by file -----------------------------------------------------------------------


def test_a_result_file_records_every_tube_and_a_reupload_changes_nothing(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    data = results_file(
        [
            result_row("R0001"),
            result_row("R0002", "positive", ct=("28.1", "29.4")),
            result_row("R0003"),
        ]
    )

    first = run(session, lab, data)
    again = run(session, lab, data)

    assert (first.accepted, first.unchanged, first.rejected) == (3, 0, 0)
    assert (first.positive_tubes, first.controlled, first.conflicts) == (1, 4, 0)
    assert first.summary.startswith("accepted 3, unchanged 0, rejected 0")
    assert (again.accepted, again.unchanged, again.rejected, again.controlled) == (0, 3, 0, 0)
    assert again.summary.startswith("accepted 0, unchanged 3, rejected 0")
    assert session.scalar(select(func.count()).select_from(LabResult)) == 3
    positive = session.scalars(select(LabResult).where(LabResult.result == "positive")).one()
    assert (positive.ct_orf1ab, positive.ct_n, positive.lab) == (28.1, 29.4, LAB_NAME)


def test_a_conflicting_result_by_file_is_kept_flagged_and_counted(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    run(session, lab, results_file([result_row("R0001"), result_row("R0002")]))
    later = clock.now() - timedelta(minutes=5)

    result = run(session, lab, results_file([result_row("R0001", "positive", at=later)]))

    assert (result.accepted, result.conflicts, result.rejected) == (1, 1, 0)
    assert "conflicts 1" in result.summary
    assert (tube(session, "R0001").result, tube(session, "R0001").conflict) == ("negative", True)
    assert lab_results(session, "R0001") == ["negative", "positive"]
    assert not tube(session, "R0002").conflict


def test_two_different_verdicts_for_one_tube_in_one_file_keep_the_earlier_and_flag_the_tube(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    early = clock.now() - timedelta(hours=1)
    late = clock.now() - timedelta(minutes=10)
    data = results_file([result_row("R0002", "positive", at=late), result_row("R0002", at=early)])

    result = run(session, lab, data)

    assert (result.accepted, result.conflicts) == (2, 1)
    assert (tube(session, "R0002").result, tube(session, "R0002").conflict) == ("negative", True)


def test_results_for_unknown_tubes_are_rejected_and_kept_in_the_rejects_report(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    unknown = result_row("R9999")
    data = results_file([result_row("R0001"), unknown, result_row("R0002")])

    result = run(session, lab, data)

    assert (result.accepted, result.rejected) == (2, 1)
    assert reasons(result) == {3: ("tube", "R9999", *reason("unknown_tube"))}
    batch = session.get(ImportBatch, result.batch_id)
    assert batch is not None
    header, rows = rejects_report(session, batch)
    assert header[:6] == ["tube", "result", "ct_orf1ab", "ct_n", "lab", "tested_at"]
    assert header[6:] == ["原行号 row", "错误列 column", "错误原因", "reason"]
    assert rows == [[*[str(v) for v in unknown], "3", "tube", *reason("unknown_tube")]]


def test_a_result_row_for_a_tube_still_open_is_rejected(
    session: Session, lab: Actor, sampler: Actor, anci_round: Round, tubes: list[str]
) -> None:
    open_tube(session, sampler, round_id=anci_round.id, barcode="R0005")

    result = run(session, lab, results_file([result_row("R0005"), result_row("R0001")]))

    assert (result.accepted, result.rejected) == (1, 1)
    assert reasons(result)[2] == ("tube", "R0005", *reason("tube_not_closed"))


@pytest.mark.parametrize(
    ("cells", "column", "key"),
    [
        ({1: "弱阳性"}, "result", "bad_result"),
        ({1: ""}, "result", "bad_result"),
        ({2: "55"}, "ct_orf1ab", "bad_ct"),
        ({3: "-1"}, "ct_n", "bad_ct"),
        ({3: "未检出?"}, "ct_n", "bad_ct"),
        ({0: ""}, "tube", "required"),
        ({0: "R" * 41}, "tube", "unknown_tube"),
        ({5: ""}, "tested_at", "required"),
        ({5: "14/03/2022"}, "tested_at", "bad_time"),
        ({5: "2022-03-15 09:00:00"}, "tested_at", "future_time"),
    ],
)
def test_each_bad_result_row_is_rejected_with_its_reason_and_good_rows_are_kept(
    session: Session, lab: Actor, tubes: list[str], cells: dict[int, str], column: str, key: str
) -> None:
    bad = result_row("R0002", "positive", ct=("30.2", "31.0"))
    for index, value in cells.items():
        bad[index] = value

    result = run(session, lab, results_file([result_row("R0001"), bad, result_row("R0003")]))

    assert (result.accepted, result.rejected) == (2, 1)
    assert list(reasons(result)) == [3]
    got_column, value, zh, en = reasons(result)[3]
    assert (got_column, value, (zh, en)) == (column, next(iter(cells.values())), reason(key))
    assert tube(session, "R0002").result is None


def test_chinese_headers_and_result_words_are_read(
    session: Session, lab: Actor, tubes: list[str], frozen: FrozenClock
) -> None:
    at = local(clock.now() - timedelta(hours=1), "%Y-%m-%d %H:%M:%S")
    rows = [
        ["R0001", "阴性", "", "", LAB_NAME, at],
        ["R0002", "无效", "", "", LAB_NAME, at],
        ["R0003", "阳性", "26.4", "27.9", LAB_NAME, at],
    ]

    result = run(session, lab, results_file(rows, RESULT_HEADER_ZH))

    assert (result.accepted, result.rejected, result.positive_tubes) == (3, 0, 1)
    assert [tube(session, b).result for b in tubes] == ["negative", "invalid", "positive"]
    assert tube(session, "R0001").tested_at == clock.now() - timedelta(hours=1)

    retest_at = local(clock.now() - timedelta(minutes=5), "%Y-%m-%d %H:%M:%S")
    retest = run(session, lab, results_file([["R0002", "阴性", "", "", LAB_NAME, retest_at]]))
    assert (retest.accepted, retest.conflicts) == (1, 0)
    assert tube(session, "R0002").result == "negative"


def test_a_result_file_missing_a_required_column_is_unreadable(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    data = results_file([["R0001", "negative"]], header=["tube", "result"])

    with pytest.raises(UnreadableFile, match="tested_at"):
        run(session, lab, data)
    assert session.scalar(select(func.count()).select_from(LabResult)) == 0


# --- receiving tubes ---------------------------------------------------------------------


def test_a_lab_receives_collected_tubes_once_and_the_result_keeps_the_reception_time(
    session: Session, lab: Actor, tubes: list[str], frozen: FrozenClock
) -> None:
    received_at = clock.now()

    assert receive_tubes(session, lab, barcodes=["R0001", " R0002 ", "R0001"], lab=LAB_NAME) == 2
    assert receive_tubes(session, lab, barcodes=["R0001"], lab=LAB_NAME) == 0
    assert tube(session, "R0001").state == "received"

    frozen.advance(hours=2)
    send(session, lab, "R0001", "negative")
    assert tube(session, "R0001").received_at == received_at
    assert tube(session, "R0003").state == "collected"


def test_receiving_an_unknown_tube_changes_nothing_and_names_it(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    with pytest.raises(InvalidInput, match="R9999"):
        receive_tubes(session, lab, barcodes=["R0001", "R9999"], lab=LAB_NAME)
    assert tube(session, "R0001").state == "collected"
    with pytest.raises(InvalidInput, match="no barcode"):
        receive_tubes(session, lab, barcodes=[" "], lab=LAB_NAME)


def test_results_are_stored_in_utc_from_local_lab_times(
    session: Session, lab: Actor, tubes: list[str]
) -> None:
    run(session, lab, results_file([["R0001", "neg", "", "", LAB_NAME, "2022-03-14 12:15:00"]]))

    assert tube(session, "R0001").tested_at == datetime(2022, 3, 14, 4, 15, tzinfo=UTC)

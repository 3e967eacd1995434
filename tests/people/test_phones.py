"""Phone checks: rules, bulk == single, and phonenumbers as oracle."""

from __future__ import annotations

import time

import numpy as np
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fangkong.people.identity import Problem
from fangkong.people.phones import check_phone, check_phones_bulk, mask_phone


def test_a_mobile_in_any_usual_writing_becomes_e164() -> None:
    for value in (
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+86-13812345678",
        "0086 13812345678",
        "8613812345678",
        "(+86) 138 1234 5678",
        "１３８１２３４５６７８",
    ):
        assert check_phone(value) == check_phone("13812345678"), value
    assert check_phone("13812345678").normalized == "+8613812345678"


def test_a_landline_with_its_area_code_becomes_e164_without_the_trunk_zero() -> None:
    for value in ("010-12345678", "(010) 1234 5678", "+86 10 1234 5678", "+86 (0)10 12345678"):
        assert check_phone(value).normalized == "+861012345678", value


def test_an_empty_phone_is_allowed_and_has_no_normalized_form() -> None:
    for value in ("", "  ", None, "--"):
        assert check_phone(value).problem is Problem.OK
        assert check_phone(value).normalized is None


def test_bad_phones_are_rejected() -> None:
    for value in ("12345", "1381234567", "138123456789", "23812345678", "138abc45678", "无"):
        assert check_phone(value).problem is Problem.BAD_PHONE, value


def test_a_valid_foreign_number_is_accepted_in_e164() -> None:
    assert check_phone("+852 9123 4567").normalized == "+85291234567"
    assert check_phone("00852 9123 4567").normalized == "+85291234567"


def test_bulk_phones_equal_single_phones_on_every_kind_of_input() -> None:
    values = [
        "13812345678",
        "+86 138 1234 5678",
        "0086-138-1234-5678",
        "8613812345678",
        "010-12345678",
        "+852 9123 4567",
        "12345",
        "",
        None,
        "abc",
        "++8613812345678",
        "+0138 1234 5678",
        "17951 00 86 138 1234 5678",
        "4001234567",
    ]
    result = check_phones_bulk(values)
    for i, value in enumerate(values):
        single = check_phone(value)
        assert (Problem(int(result.problem[i])), result.normalized[i].as_py()) == (
            single.problem,
            single.normalized,
        ), value


def test_bulk_phone_check_handles_100000_values(capsys: pytest.CaptureFixture[str]) -> None:
    """Throughput sanity: prints the time (run with -s), asserts only correctness."""
    rng = np.random.default_rng(20250601)
    phones = [f"13{int(i):09d}" for i in rng.integers(0, 10**9, 100_000)]
    started = time.perf_counter()
    checked_phones = check_phones_bulk(phones)
    ended = time.perf_counter()
    with capsys.disabled():
        print(f"\n100,000 phones: {ended - started:.3f}s")
    assert (checked_phones.problem == Problem.OK).all()


# --------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------


def test_a_phone_is_masked_in_national_form_keeping_its_length() -> None:
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+861012345678") == "010****5678"
    assert mask_phone("+85291234567") == "+852****4567"
    assert "*" in mask_phone("12")


# --------------------------------------------------------------------------
# Properties: phonenumbers as oracle, bulk == single
# --------------------------------------------------------------------------

DIGITS = "0123456789"


def _digits(draw: st.DrawFn, size: int) -> str:
    return draw(st.text(DIGITS, min_size=size, max_size=size))


PHONE_PREFIXES = (
    *("", "", "0", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "(+86)"),
    *("+", "00", "+852 ", "+1 ", "001", "+0", "17951", "12593", "8", "+8"),
)


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    """Mobile- or landline-like numbers written the many ways people write them."""
    kind = draw(st.sampled_from(["mobile", "landline", "service", "digits"]))
    if kind == "mobile":
        national = "1" + _digits(draw, 10)
    elif kind == "landline":
        area = draw(st.sampled_from(["10", "21", "311", "755", "851", "433", "978", "29", "571"]))
        national = area + _digits(draw, draw(st.integers(5, 9)))
    elif kind == "service":
        national = draw(st.sampled_from(["400", "800", "95", "1010", "106", "16"])) + _digits(
            draw, draw(st.integers(3, 9))
        )
    else:
        national = _digits(draw, draw(st.integers(1, 16)))
    prefix = draw(st.sampled_from(PHONE_PREFIXES))
    if kind == "landline" and prefix == "" and draw(st.booleans()):
        prefix = "0"
    separator = draw(st.sampled_from(["", " ", "-", " - "]))
    if separator:
        cut = draw(st.integers(1, max(1, len(national) - 1)))
        national = national[:cut] + separator + national[cut:]
    if kind == "landline" and draw(st.booleans()):
        national = f"({national[:3]}) {national[3:]}"
    return prefix + national


def phonenumbers_verdict(value: str) -> tuple[bool, str | None]:
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return False, None
    if not phonenumbers.is_valid_number(number):
        return False, None
    return True, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(phone_like(), min_size=1, max_size=40))
def test_bulk_phone_verdict_equals_phonenumbers_and_single(values: list[str]) -> None:
    result = check_phones_bulk(values)
    for i, value in enumerate(values):
        valid, e164 = phonenumbers_verdict(value)
        bulk = (result.problem[i] == Problem.OK, result.normalized[i].as_py())
        assert bulk == (valid, e164), value
        single = check_phone(value)
        assert (single.problem is Problem.OK, single.normalized) == bulk, value


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(phone_like(), st.text(max_size=20), st.none())))
def test_bulk_phone_check_equals_single_for_every_input(values: list[str | None]) -> None:
    result = check_phones_bulk(values)
    for i, value in enumerate(values):
        single = check_phone(value)
        assert (Problem(int(result.problem[i])), result.normalized[i].as_py()) == (
            single.problem,
            single.normalized,
        ), repr(value)

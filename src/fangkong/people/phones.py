"""Phone checks for the population registry.

Pure functions, no database and no web. :func:`check_phone` checks one
value (for forms and the API), :func:`check_phones_bulk` a whole column
(for file imports of a million rows); both follow the same rule and are
property-tested against each other and against phonenumbers. A bad phone is
``Problem.BAD_PHONE`` of :mod:`fangkong.people.identity`.

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

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from fangkong.people.identity import Problem, mask_middle
from fangkong.people.strings import (
    UNICODE_SPACE,
    Values,
    as_string_array,
    clean_bulk,
    full_match,
    np_bool,
    np_bytes,
    offsets_and_data,
    replace_rows,
    starts,
    subset,
)

__all__ = ["BulkPhones", "PhoneCheck", "check_phone", "check_phones_bulk", "mask_phone"]


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


_ASCII_PHONE_SEP = r"[\t\n\v\f\r ().-]"
_UNICODE_PHONE_SEP = UNICODE_SPACE[:-1] + r"().\-\u2010-\u2015\u2212]"

_ASCII_PHONE_SEP_RE = re.compile(_ASCII_PHONE_SEP)
_UNICODE_PHONE_SEP_RE = re.compile(_UNICODE_PHONE_SEP)


def _clean_phone(value: str | None) -> str:
    """Like :func:`~fangkong.people.strings.clean`, and also remove dashes, dots and parentheses."""
    if not value:
        return ""
    if value.isascii():
        return _ASCII_PHONE_SEP_RE.sub("", value)
    return _UNICODE_PHONE_SEP_RE.sub("", unicodedata.normalize("NFKC", value))


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
        # A guard, not a stub: the bulk path mirrors the rules phonenumbers has today.
        raise RuntimeError(
            "phonenumbers' CN national prefix rules changed; check_phones_bulk must follow them"
        )
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


def _strip_national_prefix(plan: _Plan, arr: Any) -> Any:
    """phonenumbers' _maybe_strip_national_prefix_carrier_code, vectorized."""
    prefix = f"^(?:{plan.national_prefix_for_parsing})"
    has_prefix = starts(arr, prefix)
    if not has_prefix.any():
        return arr
    candidates = subset(arr, has_prefix)
    stripped = pc.replace_substring_regex(
        candidates, pattern=prefix, replacement="", max_replacements=1
    )
    # phonenumbers keeps the prefix when only the number with it is viable
    general = plan.general.pattern
    keep = full_match(candidates, general) & ~full_match(stripped, general)
    return replace_rows(arr, has_prefix, pc.if_else(pa.array(keep), candidates, stripped))


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
    arr = pc.fill_null(as_string_array(values), "")
    n = len(arr)

    # Cleaning: only rows that are not plain digits need the regex.
    plain = np_bool(pc.ascii_is_decimal(arr))
    messy = ~plain & (np.diff(offsets_and_data(arr)[0]) > 0)
    shaped = plain.copy()
    s = arr
    if messy.any():
        cleaned = clean_bulk(subset(arr, messy), _ASCII_PHONE_SEP, _clean_phone)
        shaped[messy] = full_match(cleaned, _PHONE_SHAPE)
        s = replace_rows(arr, messy, cleaned)
    length = np_bytes(s)
    shaped &= length > 0

    # International prefix: '+', or an IDD ('00', ...) not followed by '0'.
    plus = shaped & np_bool(pc.starts_with(s, "+"))
    idd = f"^(?:{plan.international_prefix})"
    has_idd = shaped & ~plus & starts(s, idd)
    if has_idd.any():
        after = pc.replace_substring_regex(
            subset(s, has_idd), pattern=idd, replacement="", max_replacements=1
        )
        has_idd[has_idd] = ~np_bool(pc.starts_with(after, "0"))
    international = plus | has_idd
    national = s
    foreign = np.zeros(n, dtype=np.bool_)
    if international.any():
        rest = pc.replace_substring_regex(
            subset(s, international),
            pattern=rf"^(?:\+|{plan.international_prefix})",
            replacement="",
            max_replacements=1,
        )
        ours = (np_bytes(rest) > 2) & np_bool(pc.starts_with(rest, cc))
        foreign[international] = ~ours  # left to phonenumbers, row by row
        national = replace_rows(national, international, pc.utf8_slice_codeunits(rest, len(cc)))

    # A domestic number starting with '86': phonenumbers drops the '86' when
    # the number is not viable with it but is without, or is too long with it.
    domestic_cc = shaped & ~international & np_bool(pc.starts_with(s, cc))
    if domestic_cc.any():
        full = subset(s, domestic_cc)
        potential = _strip_national_prefix(plan, pc.utf8_slice_codeunits(full, len(cc)))
        better = (
            ~full_match(full, plan.general.pattern) & full_match(potential, plan.general.pattern)
        ) | _phone_lengths(plan, np_bytes(full))[1]
        national = replace_rows(
            national, domestic_cc, pc.if_else(pa.array(better), potential, full)
        )

    # The national prefix ('0' of landlines, carrier codes) is dropped when
    # what remains has a possible length (or is too long).
    candidate = shaped & ~foreign & (np_bytes(national) >= _MIN_NSN)
    national = pc.if_else(pa.array(candidate), national, "")
    stripped = _strip_national_prefix(plan, national)
    possible, too_long = _phone_lengths(plan, np_bytes(stripped))
    national = pc.if_else(pa.array(possible | too_long), stripped, national)

    # Valid: the general pattern and the pattern of some number type.
    nat_len = np_bytes(national)
    valid = np.zeros(n, dtype=np.bool_)
    for size in plan.general.lengths:
        rows = candidate & (nat_len == size)
        if size <= _MAX_NSN and rows.any():
            numbers = subset(national, rows)
            valid[rows] = full_match(numbers, plan.general.pattern) & full_match(
                numbers, plan.types_of_length(size)
            )

    problem = np.where(valid | (length == 0), Problem.OK, Problem.BAD_PHONE).astype(np.uint8)
    normalized = pc.if_else(
        pa.array(valid),
        pc.utf8_replace_slice(national, 0, 0, "+" + cc),
        pa.scalar(None, pa.string()),
    )
    if foreign.any():
        checks = [_phone_from_clean(v) for v in subset(s, foreign).to_pylist()]
        problem[foreign] = [c.problem for c in checks]
        normalized = replace_rows(
            normalized, foreign, pa.array([c.normalized for c in checks], pa.string())
        )
    return BulkPhones(problem=problem, normalized=normalized)


# --------------------------------------------------------------------------
# Masking for lists (DESIGN.md §4: 138****5678)
# --------------------------------------------------------------------------


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
        return mask_middle(national if mobile else "0" + national, 3, 4)
    if v.startswith("+"):
        return "+" + mask_middle(v[1:], 3, 4)
    return mask_middle(v, 3, 4)

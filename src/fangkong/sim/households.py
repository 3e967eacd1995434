"""Households of the synthetic population: how many members, who they are
(head, spouse, children, parents, grandchildren, ...), their ages and sexes.

Household sizes are drawn from the 2020 census distribution
(``HOUSEHOLD_SIZE_SHARES``). Each household gets a composition template
chosen by its size, with a head age drawn from the template's age bands;
the other members' ages follow from the head's (spouse of similar age,
children 21-33+ years younger, parents 20-34 years older). The templates
are tuned so that the resulting age structure is close to
``AGE_STRUCTURE_2020``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

# A member's relation to the household head, as the registry file names it
# (RELATIONS) and as the arrays code it (HEAD ... OTHER: indexes of RELATIONS).
RELATIONS: Final = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")
HEAD, SPOUSE, CHILD, PARENT, GRANDCHILD, SIBLING, OTHER = range(7)
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
MAX_AGE: Final = 104.9
_QUANTILES: Final = 1024


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
class Members:
    """The members of a batch of households, one entry per person, each
    household's head first."""

    household: Ints  # index of the household in the batch
    relation: NDArray[np.int8]
    age: Floats
    male: Bools


def draw_household_sizes(rng: np.random.Generator, persons: int) -> Ints:
    """Sizes of households holding ``persons`` in all (the last one cut to fit)."""
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


def draw_members(rng: np.random.Generator, sizes: Ints) -> Members:
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
    return Members(hh, rel, np.clip(age, 0, MAX_AGE), male)

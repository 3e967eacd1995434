"""Names for synthetic persons: the material and how it is drawn.

Surnames are the common Han surnames with rough relative frequencies
(per mille, northern China weighted; after the Ministry of Public Security's
2020 national name report, which ranks 王, 李, 张, 刘, 陈 first). Given names
are one or two characters drawn from pools that shift with the birth cohort,
as naming fashions did. The names are synthetic: any likeness to a real
person is the coincidence of common names.
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np
from numpy.typing import NDArray

from fangkong.sim.households import (
    CHILD,
    GRANDCHILD,
    HEAD,
    PARENT,
    SIBLING,
    SPOUSE,
    Floats,
    Ints,
    Members,
)

SURNAMES: Final[tuple[tuple[str, float], ...]] = (
    ("王", 73),
    ("李", 72),
    ("张", 70),
    ("刘", 56),
    ("陈", 38),
    ("杨", 31),
    ("赵", 27),
    ("黄", 18),
    ("周", 18),
    ("吴", 16),
    ("徐", 15),
    ("孙", 16),
    ("胡", 12),
    ("朱", 12),
    ("高", 14),
    ("林", 9),
    ("何", 9),
    ("郭", 12),
    ("马", 13),
    ("罗", 7),
    ("梁", 8),
    ("宋", 9),
    ("郑", 8),
    ("谢", 6),
    ("韩", 9),
    ("唐", 6),
    ("冯", 7),
    ("于", 8),
    ("董", 8),
    ("萧", 3),
    ("程", 5),
    ("曹", 6),
    ("袁", 5),
    ("邓", 4),
    ("许", 5),
    ("傅", 3),
    ("沈", 3),
    ("曾", 3),
    ("彭", 3),
    ("吕", 5),
    ("苏", 4),
    ("卢", 4),
    ("蒋", 3),
    ("蔡", 3),
    ("贾", 6),
    ("丁", 5),
    ("魏", 6),
    ("薛", 4),
    ("叶", 3),
    ("阎", 4),
    ("余", 3),
    ("潘", 3),
    ("杜", 5),
    ("戴", 3),
    ("夏", 3),
    ("钟", 2),
    ("汪", 2),
    ("田", 6),
    ("任", 5),
    ("姜", 4),
    ("范", 4),
    ("方", 3),
    ("石", 5),
    ("姚", 3),
    ("谭", 2),
    ("廖", 2),
    ("邹", 2),
    ("熊", 2),
    ("金", 3),
    ("陆", 2),
    ("郝", 5),
    ("孔", 3),
    ("白", 4),
    ("崔", 5),
    ("康", 3),
    ("毛", 2),
    ("邱", 2),
    ("秦", 3),
    ("江", 2),
    ("史", 4),
    ("顾", 2),
    ("侯", 4),
    ("邵", 2),
    ("孟", 5),
    ("龙", 1),
    ("万", 2),
    ("段", 3),
    ("雷", 2),
    ("钱", 2),
    ("汤", 2),
    ("尹", 3),
    ("易", 1),
    ("常", 4),
    ("武", 4),
    ("乔", 3),
    ("贺", 2),
    ("赖", 1),
    ("龚", 1),
    ("文", 2),
    ("齐", 3),
    ("边", 2),
    ("靳", 2),
    ("牛", 3),
    ("耿", 3),
    ("庞", 2),
    ("商", 1),
    ("申", 2),
    ("司", 1),
    ("霍", 2),
    ("纪", 2),
    ("甄", 1),
    ("欧阳", 1),
    ("司马", 0.3),
)

# Given-name characters by cohort: born before 1970, 1970-1994, from 1995.
COHORT_BOUNDS: Final[tuple[int, int]] = (1970, 1995)

GIVEN_MALE: Final[tuple[str, str, str]] = (
    "国建军志明德文华永福春海庆保贵忠义学成立东振金山宝喜",
    "伟强磊军勇杰涛超刚平辉鹏华飞斌波宁亮峰龙健俊林东海宏",
    "浩宇轩子博泽睿晨然铭凯鑫旭航阳帆梓豪哲瑞一嘉俊宸昊",
)
GIVEN_FEMALE: Final[tuple[str, str, str]] = (
    "秀淑桂英兰凤玉珍芳华梅荣素翠霞琴云敏丽芬菊香巧彩凤",
    "丽娟静敏燕艳芳玲婷娜霞红琳莉洁颖雪倩慧晶丹萍蕾薇佳",
    "欣怡涵诗雨梓萱可馨彤悦琪思佳一嘉晨语若雅依妍梦瑶婉",
)
# Share of one-character given names by cohort.
SINGLE_SHARE: Final[tuple[float, float, float]] = (0.30, 0.45, 0.15)


def given_names(pool: str) -> tuple[str, ...]:
    """Every one- and two-character given name from a pool of characters:
    the singles first, then the pairs of two different characters."""
    chars = tuple(dict.fromkeys(pool))
    return chars + tuple(a + b for a in chars for b in chars if a != b)


@functools.cache
def _name_tables() -> tuple[NDArray[np.object_], Floats, NDArray[np.object_], Ints, Ints, Ints]:
    surnames = np.array([s for s, _ in SURNAMES], dtype=object)
    weights = np.array([w for _, w in SURNAMES])
    pools = [
        given_names(p) for cohort in range(3) for p in (GIVEN_FEMALE[cohort], GIVEN_MALE[cohort])
    ]
    singles = np.array(
        [len(dict.fromkeys(p)) for c in range(3) for p in (GIVEN_FEMALE[c], GIVEN_MALE[c])],
        np.int64,
    )
    sizes = np.array([len(p) for p in pools], np.int64)
    offsets = np.cumsum(sizes) - sizes
    given = np.array([g for p in pools for g in p], dtype=object)
    return surnames, np.cumsum(weights) / weights.sum(), given, offsets, singles, sizes


def draw_names(rng: np.random.Generator, m: Members, year: Ints) -> list[str]:
    """Full names of household members born in ``year``: children,
    grandchildren and a male spouse carry the family surname, the head with
    siblings and father the head's (the family's when the head is a man),
    the others their own; given names follow the birth cohort."""
    surnames, cum, given, offsets, singles, sizes = _name_tables()
    n_hh = int(m.household.max()) + 1 if len(m.household) else 0

    def draw(count: int) -> Ints:
        return np.minimum(np.searchsorted(cum, rng.random(count)), len(cum) - 1)

    family, other_head = draw(n_hh)[m.household], draw(n_hh)[m.household]
    own = draw(len(m.male))
    head = m.relation == HEAD
    head_male = np.zeros(n_hh, bool)
    head_male[m.household[head]] = m.male[head]
    head_surname = np.where(head_male[m.household], family, other_head)
    rel = m.relation
    surname = np.where(
        (rel == HEAD) | (rel == SIBLING) | ((rel == PARENT) & m.male), head_surname, own
    )
    surname = np.where(
        (rel == CHILD) | (rel == GRANDCHILD) | ((rel == SPOUSE) & m.male), family, surname
    )
    cohort = np.searchsorted(np.array(COHORT_BOUNDS), year, "right")
    pool = cohort * 2 + m.male
    single = rng.random(len(pool)) < np.array(SINGLE_SHARE)[cohort]
    u = rng.random(len(pool))
    pick = np.where(
        single,
        (u * singles[pool]).astype(np.int64),
        singles[pool] + (u * (sizes[pool] - singles[pool])).astype(np.int64),
    )
    return (surnames[surname] + given[offsets[pool] + pick]).tolist()  # type: ignore[no-any-return]

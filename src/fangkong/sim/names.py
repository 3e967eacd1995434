"""Name material for synthetic persons.

Surnames are the common Han surnames with rough relative frequencies
(per mille, northern China weighted; after the Ministry of Public Security's
2020 national name report, which ranks 王, 李, 张, 刘, 陈 first). Given names
are one or two characters drawn from pools that shift with the birth cohort,
as naming fashions did. The names are synthetic: any likeness to a real
person is the coincidence of common names.
"""

from __future__ import annotations

from typing import Final

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

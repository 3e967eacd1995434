"""Mass-testing rules as pure functions over plain data: which sampling policy
applies where, what a lab's result says, when a follow-up is overdue, and
the words every rejection uses (the same for the web flow, the API and the
batch files)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from fangkong.policy import Policy

# Why a sampling or result record was refused: key -> (Chinese, English).
REASONS: dict[str, tuple[str, str]] = {
    "barcode_used": (
        "试管条码已被使用（{detail}），请换一支新管",
        "tube barcode already used ({detail}); take a new tube",
    ),
    "tube_full": (
        "试管已满：最多 {detail} 人",
        "tube is full: at most {detail} persons",
    ),
    "tube_closed": ("试管已封管，不能再加人", "tube is closed; no one can be added"),
    "pool_size_differs": (
        "同一试管的混采人数不一致（{detail}）",
        "the tube's pool size differs between records ({detail})",
    ),
    "pool_size_not_allowed": (
        "混采人数只能是 {detail}",
        "pool size must be one of {detail}",
    ),
    "pool_exceeds_area": (
        "本区域规定每管最多 {detail} 人",
        "this area's sampling policy allows at most {detail} swabs per tube",
    ),
    "already_sampled": (
        "此人本轮已采样（试管 {detail}）",
        "this person was already sampled in this round (tube {detail})",
    ),
    "not_in_registry": (
        "在本辖区人口底数中找不到此证件号，请先登记",
        "no person with this identity number in your jurisdiction's registry; register them first",
    ),
    "outside_round": (
        "此人不在本轮检测范围内（{detail}）",
        "this person lives outside this round's areas ({detail})",
    ),
    "single_tube_required": (
        "此人在{detail}，必须单人单管",
        "this person lives in a {detail} zone and must be sampled in a single tube",
    ),
    "followup_single_tube": (
        "复核采样必须单人单管",
        "follow-up re-sampling must use a single tube",
    ),
    "required": ("必填项为空", "required field is empty"),
    "bad_time": (
        "时间格式不对，应为 2022-03-14 08:30",
        "not a time; write it like 2022-03-14 08:30",
    ),
    "future_time": ("时间晚于现在", "time is in the future"),
    "unknown_site": ("找不到此采样点", "no such sampling site in your jurisdiction"),
    "unknown_tube": (
        "找不到此试管条码，结果未录入",
        "no tube with this barcode; the result was not recorded",
    ),
    "bad_result": (
        "检测结果只能是 阴性/阳性/无效 (negative/positive/invalid)",
        "result must be negative, positive or invalid",
    ),
    "bad_ct": ("Ct 值应为 0 到 50 之间的数", "Ct value must be a number from 0 to 50"),
    "tube_not_closed": (
        "试管尚未封管，不能录入结果",
        "the tube is still open for sampling; close it before results",
    ),
    "tube_empty": ("试管里没有人，不能封管", "the tube holds no one; nothing to close"),
    "round_closed": ("本轮检测已结束", "this round is closed"),
}


def reason(key: str, detail: object = "") -> tuple[str, str]:
    """The words for a refusal; ``detail`` may be a (Chinese, English) pair."""
    zh, en = REASONS[key]
    zh_detail, en_detail = detail if isinstance(detail, tuple) else (detail, detail)
    return zh.format(detail=zh_detail), en.format(detail=en_detail)


RESULT_ALIASES = {
    "negative": "negative",
    "neg": "negative",
    "阴性": "negative",
    "-": "negative",
    "positive": "positive",
    "pos": "positive",
    "阳性": "positive",
    "+": "positive",
    "invalid": "invalid",
    "无效": "invalid",
    "retest": "invalid",
    "复检": "invalid",
}
CT_RANGE = (0.0, 50.0)
ZONE_NAMES = {"sealed": ("封控区", "sealed"), "controlled": ("管控区", "controlled")}


def normalize_result(value: str) -> str | None:
    return RESULT_ALIASES.get(value.strip().lower())


def allowed_pool_sizes(policy: Policy) -> tuple[int, ...]:
    """1 (single tube) and the swab pool sizes the policy allows."""
    return (1, *policy.swab_pool_sizes)


def area_pool_size(region_code: str, areas: Sequence[tuple[str, int]]) -> int | None:
    """The sampling policy (swabs per tube) for a person's community among a
    round's ``(prefix, pool_size)`` areas: the most specific area wins;
    None when the community is outside the round."""
    best: tuple[int, int] | None = None
    for prefix, pool_size in areas:
        if region_code.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), pool_size)
    return None if best is None else best[1]


def pooling_forbidden(zone_level: str | None, policy: Policy) -> bool:
    """Sealed and controlled zones are sampled one person per tube."""
    return zone_level in policy.single_tube_zone_levels


def task_status(state: str, due_at: datetime, now: datetime) -> str:
    """'done', 'overdue' or 'open', as the positive board and CLI show it."""
    if state == "done":
        return "done"
    if state == "open" and due_at < now:
        return "overdue"
    return state


@dataclass(frozen=True)
class Coverage:
    """Persons of a region in a round: every person is exactly one of
    sampled, exempt or missing; ``due`` = sampled + missing."""

    sampled: int = 0
    exempt: int = 0
    missing: int = 0
    households_missing: int = 0

    @property
    def due(self) -> int:
        return self.sampled + self.missing

    @property
    def rate(self) -> float | None:
        return None if self.due == 0 else self.sampled / self.due

    def __add__(self, other: Coverage) -> Coverage:
        return Coverage(
            self.sampled + other.sampled,
            self.exempt + other.exempt,
            self.missing + other.missing,
            self.households_missing + other.households_missing,
        )


def roll_up(by_community: dict[str, Coverage], length: int) -> dict[str, Coverage]:
    """Sum community figures to the regions whose codes are the first
    ``length`` digits (2 province, 4 city, 6 county, 9 township, 12 community)."""
    totals: dict[str, Coverage] = {}
    for code, counts in by_community.items():
        key = code[:length]
        totals[key] = totals.get(key, Coverage()) + counts
    return totals


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation), None if empty."""
    return float(np.percentile(values, q)) if len(values) else None

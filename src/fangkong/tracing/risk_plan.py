"""The plan of a risk-person import's merge, pure: from the matched reports
(in file order) and the risk persons already held, what each person's risk
record becomes — new, raised to a more serious category, reopened after a
release, or unchanged — by the one-record rule of
:func:`fangkong.tracing.risk.note_risk_person` applied over arrays (a
property test holds the import equal to calling it row by row). Also the
changes of existing records, for the audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangkong.policy import Policy
from fangkong.tracing.rules import CATEGORY_RANK

NO_TIME = np.iinfo(np.int64).min  # a missing time, in microseconds
NEVER = np.iinfo(np.int64).max  # no deadline yet
NONE_RANK = len(CATEGORY_RANK)  # below every category
Changes = list[tuple[int, str, dict[str, list[object]]]]

CATEGORY_OF_RANK = np.array(sorted(CATEGORY_RANK, key=CATEGORY_RANK.__getitem__), dtype=object)
RISK_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("person_id", pa.int64()),
        ("region_code", pa.string()),
        ("category", pa.string()),
        ("measure", pa.string()),
        ("status", pa.string()),
        ("identified_at", pa.timestamp("us", "UTC")),
        ("deadline_at", pa.timestamp("us", "UTC")),
        ("last_exposure_at", pa.timestamp("us", "UTC")),
        ("controlled_at", pa.timestamp("us", "UTC")),
        ("released_at", pa.timestamp("us", "UTC")),
        ("release_reason", pa.string()),
    ]
)
CHANGED = (
    "category",
    "measure",
    "status",
    "identified_at",
    "deadline_at",
    "last_exposure_at",
    "controlled_at",
    "released_at",
    "release_reason",
)
TIMES = ("identified_at", "deadline_at", "last_exposure_at", "controlled_at", "released_at")


def np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def micros(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """UTC timestamps as microseconds, ``NO_TIME`` for null."""
    as_int = pc.fill_null(pc.cast(values, pa.int64()), NO_TIME)
    return np.asarray(as_int.to_numpy(zero_copy_only=False), np.int64)


def timestamps(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.timestamp("us", "UTC"), mask=values == NO_TIME)


def _hours(hours: float) -> int:
    return int(timedelta(hours=hours) / timedelta(microseconds=1))


@dataclass
class RiskPlan:
    """Each person's risk row after the file (a "group" is a person), and
    which group each record (in file order) belongs to. ``old`` holds the
    existing row's values per group (``exists`` false: none)."""

    record_group: np.ndarray
    person: np.ndarray
    exists: np.ndarray
    changed: np.ndarray
    new: dict[str, np.ndarray]  # CHANGED columns and id, region_code, as after the file
    old: dict[str, np.ndarray]


def plan_risks(
    person: np.ndarray,
    rank: np.ndarray,
    reported: np.ndarray,
    exposure: np.ndarray,
    existing: pa.Table,
    now: datetime,
    policy: Policy,
) -> RiskPlan:
    """What :func:`~fangkong.tracing.risk.note_risk_person` leaves after
    each record in file order, for all records at once (pure). Within a
    person the records are a sequence: a released person is reopened by the
    first record reported after the release (that record's category starts
    afresh); otherwise each record more serious than everything before it
    (and than the existing category) raises the category and may bring the
    deadline forward. So each person's records split into at most two
    "segments" — before and from the reopening — and the category is a
    running minimum of ranks within a segment."""
    n = len(person)
    order = np.argsort(person, kind="stable")
    sorted_person = person[order]
    starts = np.r_[True, sorted_person[1:] != sorted_person[:-1]] if n else np.zeros(0, bool)
    group = np.cumsum(starts) - 1
    group_person = sorted_person[starts]
    size = len(group_person)
    record_group = np.empty(n, np.int64)
    record_group[order] = group
    old = _old_rows(existing, group_person)
    exists = old["id"] > 0
    old_rank = np.array([CATEGORY_RANK.get(c, NONE_RANK) for c in old["category"]], np.int64)

    r, at = rank[order].astype(np.int64), reported[order]
    position = np.arange(n) - np.flatnonzero(starts)[group]
    released = exists & (old["status"] == "released")
    after = released[group] & (at > old["released_at"][group])
    reopen_at = np.full(size, n, np.int64)
    np.minimum.at(reopen_at, group[after], position[after])
    reopened = reopen_at < n
    phase = position >= reopen_at[group]
    segment = 2 * group + phase
    start_rank = np.where(phase, NONE_RANK, old_rank[group])
    offset = (2 * size - 1 - segment) * (NONE_RANK + 1)
    running = np.minimum(np.minimum.accumulate(offset + r) - offset, start_rank)
    before = start_rank.copy()
    if n:
        same = segment[1:] == segment[:-1]
        before[1:] = np.where(same, running[:-1], start_rank[1:])
    breaking = r < before

    hours = np.array([_hours(policy.deadline_hours_for(c)) for c in CATEGORY_OF_RANK], np.int64)
    now_us = int((now - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    segment_deadline = np.full(2 * size, NEVER, np.int64)
    segment_deadline[0::2] = np.where(exists, old["deadline_at"], NEVER)
    np.minimum.at(segment_deadline, segment[breaking], now_us + hours[r[breaking]])
    segment_rank = np.full(2 * size, NONE_RANK, np.int64)
    segment_rank[0::2] = old_rank
    np.minimum.at(segment_rank, segment, running)
    raised = np.zeros(2 * size, bool)
    raised[segment[breaking]] = True

    final = 2 * np.arange(size) + reopened
    fresh = ~exists | reopened
    category = CATEGORY_OF_RANK[np.minimum(segment_rank[final], NONE_RANK - 1)]
    measures = np.array([policy.measure_for(c) for c in category], dtype=object)
    latest = old["last_exposure_at"].copy()
    np.maximum.at(latest, group, exposure[order])
    new = {
        "id": old["id"].copy(),
        "region_code": old["region_code"].copy(),
        "category": category,
        "measure": np.where(fresh | raised[final], measures, old["measure"]),
        "status": np.where(fresh, "to_find", old["status"]),
        "identified_at": np.where(fresh, now_us, old["identified_at"]),
        "deadline_at": segment_deadline[final],
        "last_exposure_at": latest,
        "controlled_at": np.where(fresh, NO_TIME, old["controlled_at"]),
        "released_at": np.where(fresh, NO_TIME, old["released_at"]),
        "release_reason": np.where(fresh, "", old["release_reason"]),
    }
    changed = exists & np.any([new[c] != old[c] for c in CHANGED], axis=0)
    return RiskPlan(record_group, group_person, exists, changed, new, old)


def _old_rows(existing: pa.Table, persons: np.ndarray) -> dict[str, np.ndarray]:
    """The existing risk row of each person, column by column (id 0: none)."""
    at = pc.index_in(pa.array(persons, pa.int64()), value_set=existing.column("person_id"))
    rows = existing.take(at)
    old: dict[str, np.ndarray] = {"id": np.array(pc.fill_null(rows.column("id"), 0), np.int64)}
    for name in RISK_SCHEMA.names[2:]:
        column = rows.column(name)
        if name in TIMES:
            old[name] = micros(column)
        else:
            old[name] = np.asarray(pc.fill_null(column, "").to_numpy(zero_copy_only=False), object)
    return old


def record_changes(plan: RiskPlan) -> Changes:
    """Field -> [before, after] of each existing risk person the file changed."""
    rows = np.flatnonzero(plan.changed)
    before = {name: plan.old[name][rows].tolist() for name in CHANGED}
    after = {name: plan.new[name][rows].tolist() for name in CHANGED}
    changes: Changes = []
    for k, (risk_id, region) in enumerate(
        zip(plan.new["id"][rows].tolist(), plan.new["region_code"][rows].tolist(), strict=True)
    ):
        diff: dict[str, list[object]] = {}
        for name in CHANGED:
            old, new = before[name][k], after[name][k]
            if old != new:
                diff[name] = [_iso(old), _iso(new)] if name in TIMES else [old, new]
        changes.append((int(risk_id), str(region), diff))
    return changes


def _iso(value: int) -> str | None:
    if value == NO_TIME:
        return None
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)).isoformat()

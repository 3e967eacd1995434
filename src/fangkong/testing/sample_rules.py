"""The decision for every row of a sampling file, vectorized over whole
columns. Pure: the caller looks up what the database knows (persons,
tubes, memberships, open follow-up tasks, zones) and passes it in.

Each row ends up new (a swab to record), unchanged (already recorded: a
re-uploaded batch changes nothing) or rejected with a reason from
:data:`fangkong.testing.rules.REASONS`. Checks run in the order a sampler
would fix them: the person, the round, the tube, then the tube's room."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NEW, UNCHANGED, REJECTED = 0, 1, 2


@dataclass
class SampleRows:
    """One entry per file row, in file order."""

    barcode: pa.Array  # string
    pool_given: np.ndarray  # int, 0 where the cell was empty
    person_id: np.ndarray  # int, -1 where no person was found
    region_code: pa.Array  # string (null where no person)
    address_id: np.ndarray  # int, -1 where none


@dataclass
class KnownTubes:
    """Tubes that already exist with the file's barcodes."""

    id: np.ndarray
    barcode: pa.Array
    round_id: np.ndarray
    pool_size: np.ndarray
    state: list[str]
    members: np.ndarray
    in_scope: np.ndarray  # bool: in the uploader's jurisdiction


@dataclass
class KnownMembers:
    """This round's swabs of the file's persons already recorded."""

    person_id: np.ndarray
    barcode: pa.Array
    followup: np.ndarray  # bool


@dataclass
class Decisions:
    status: np.ndarray
    pool_size: np.ndarray
    task_id: np.ndarray  # -1 unless the row is a follow-up re-sampling
    reasons: dict[int, tuple[str, str, object]] = field(default_factory=dict)
    # row index -> (column, reason key, detail)

    def reject(self, mask: np.ndarray, column: str, key: str, detail: object = "") -> None:
        for i in np.flatnonzero(mask & (self.status != REJECTED)):
            self.reasons[int(i)] = (column, key, detail)
        self.status[mask] = REJECTED

    def reject_one(self, i: int, column: str, key: str, detail: object = "") -> None:
        if self.status[i] != REJECTED:
            self.reasons[i] = (column, key, detail)
            self.status[i] = REJECTED

    @property
    def open(self) -> np.ndarray:
        pending: np.ndarray = self.status == NEW
        return pending


def _bools(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    values: np.ndarray = np.asarray(
        pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool
    )
    return values


def area_pool_sizes(region_code: pa.Array, areas: list[tuple[str, int]]) -> np.ndarray:
    """The round's sampling policy for each person's community (0 = outside
    the round); the most specific area wins."""
    sizes = np.zeros(len(region_code), dtype=np.int64)
    filled = pc.fill_null(region_code, "")
    for prefix, size in sorted(areas, key=lambda a: len(a[0])):
        sizes[_bools(pc.starts_with(filled, prefix))] = size
    return sizes


def in_zones(rows: SampleRows, prefixes: list[str], address_ids: list[int]) -> np.ndarray:
    hit = np.zeros(len(rows.person_id), dtype=bool)
    filled = pc.fill_null(rows.region_code, "")
    for prefix in prefixes:
        hit |= _bools(pc.starts_with(filled, prefix))
    if address_ids:
        hit |= np.isin(rows.address_id, np.asarray(address_ids, dtype=np.int64))
    return hit


def decide_samples(
    rows: SampleRows,
    *,
    round_id: int,
    area_sizes: np.ndarray,
    allowed_sizes: tuple[int, ...],
    tubes: KnownTubes,
    members: KnownMembers,
    open_tasks: dict[int, int],
    single_tube_only: np.ndarray,
    already_rejected: np.ndarray,
    round_open: bool = True,
) -> Decisions:
    """``open_tasks``: person id -> their open follow-up task in this round;
    ``single_tube_only``: the row's person lives where pooling is forbidden;
    ``already_rejected``: rows whose cells were bad; a closed round
    (``round_open`` false) takes only follow-up re-sampling."""
    n = len(rows.person_id)
    pool = np.where(rows.pool_given > 0, rows.pool_given, area_sizes)
    decisions = Decisions(
        status=np.where(already_rejected, REJECTED, NEW).astype(np.int8),
        pool_size=pool,
        task_id=np.full(n, -1, dtype=np.int64),
    )
    decisions.reject(rows.person_id < 0, "id_number", "not_in_registry")
    decisions.reject(area_sizes == 0, "id_number", "outside_round")
    sizes = ", ".join(map(str, allowed_sizes))
    decisions.reject(~np.isin(pool, allowed_sizes), "pool_size", "pool_size_not_allowed", sizes)
    over = (area_sizes > 0) & (pool > area_sizes)
    for size in np.unique(area_sizes[over]):
        decisions.reject(over & (area_sizes == size), "pool_size", "pool_exceeds_area", int(size))

    # The tube: a barcode of another round or jurisdiction is taken.
    at = pc.index_in(rows.barcode, value_set=tubes.barcode)
    exists = _bools(pc.is_valid(at))
    index = np.asarray(pc.fill_null(at, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if len(tubes.round_id) == 0:
        index = np.zeros(n, dtype=np.int64)
        exists[:] = False

    def known(values: np.ndarray, fill: int | bool) -> np.ndarray:
        if len(values) == 0:
            return np.full(n, fill)
        return np.where(exists, values[index], fill)

    tube_round = known(tubes.round_id, -1)
    tube_scope = known(tubes.in_scope, False).astype(bool)
    decisions.reject(
        exists & ((tube_round != round_id) | ~tube_scope),
        "tube",
        "barcode_used",
        ("另一轮或另一辖区", "another round or jurisdiction"),
    )
    tube_pool = known(tubes.pool_size, 0)
    decisions.reject(exists & (tube_pool != pool), "pool_size", "pool_size_differs", "")
    _reject_mixed_pool_sizes(rows, decisions)

    # Follow-up re-sampling goes into single tubes.
    task = _task_of(rows.person_id, open_tasks)
    decisions.reject((task >= 0) & (pool != 1), "pool_size", "followup_single_tube")
    if not round_open:
        decisions.reject(task < 0, "id_number", "round_closed")
    decisions.task_id = np.where(decisions.status != REJECTED, task, -1)

    _mark_known_swabs(rows, members, decisions)
    _first_swab_per_person(rows, decisions)
    decisions.reject(
        single_tube_only & (pool > 1),
        "id_number",
        "single_tube_required",
        ("封控区或管控区", "sealed or controlled"),
    )
    closed = np.array([state != "open" for state in tubes.state], dtype=bool)
    decisions.reject(decisions.open & known(closed, False).astype(bool), "tube", "tube_closed")
    _check_room(rows, decisions, known(tubes.members, 0))
    return decisions


def _task_of(person_id: np.ndarray, open_tasks: dict[int, int]) -> np.ndarray:
    """Each row's person's open follow-up task, -1 where there is none."""
    task = np.full(len(person_id), -1, dtype=np.int64)
    if not open_tasks:
        return task
    persons = np.fromiter(open_tasks.keys(), dtype=np.int64, count=len(open_tasks))
    tasks = np.fromiter(open_tasks.values(), dtype=np.int64, count=len(open_tasks))
    order = np.argsort(persons)
    persons, tasks = persons[order], tasks[order]
    at = np.clip(np.searchsorted(persons, person_id), 0, len(persons) - 1)
    hit = persons[at] == person_id
    task[hit] = tasks[at[hit]]
    return task


def _reject_mixed_pool_sizes(rows: SampleRows, decisions: Decisions) -> None:
    live = decisions.status != REJECTED
    if not live.any():
        return
    table = pa.table({"barcode": rows.barcode, "pool": decisions.pool_size}).filter(pa.array(live))
    counts = table.group_by("barcode").aggregate([("pool", "count_distinct")])
    mixed = pc.filter(counts.column("barcode"), pc.greater(counts.column("pool_count_distinct"), 1))
    if len(mixed):
        decisions.reject(
            _bools(pc.is_in(rows.barcode, value_set=mixed)), "pool_size", "pool_size_differs", ""
        )


def _mark_known_swabs(rows: SampleRows, members: KnownMembers, decisions: Decisions) -> None:
    """A swab already recorded in the same tube is unchanged; a person already
    sampled in this round in another tube is refused (unless re-sampled)."""
    if len(members.person_id) == 0:
        return
    keys = pc.binary_join_element_wise(
        pc.cast(pa.array(rows.person_id), pa.string()), rows.barcode, "|"
    )
    known_keys = pc.binary_join_element_wise(
        pc.cast(pa.array(members.person_id), pa.string()), members.barcode, "|"
    )
    same_tube = _bools(pc.is_in(keys, value_set=known_keys)) & decisions.open
    decisions.status[same_tube] = UNCHANGED
    decisions.task_id[same_tube] = -1
    regular = ~members.followup
    sampled = members.person_id[regular]
    clash = decisions.open & (decisions.task_id < 0) & np.isin(rows.person_id, sampled)
    if clash.any():
        tube_of = dict(
            zip(
                sampled.tolist(),
                pc.filter(members.barcode, pa.array(regular)).to_pylist(),
                strict=True,
            )
        )
        for i in np.flatnonzero(clash):
            earlier = tube_of[int(rows.person_id[i])]
            decisions.reject_one(int(i), "id_number", "already_sampled", earlier)


def _first_swab_per_person(rows: SampleRows, decisions: Decisions) -> None:
    """Inside the file a person's first swab counts; a repeat in the same tube
    is unchanged, in another tube refused."""
    live = np.flatnonzero(decisions.open)
    if len(live) == 0:
        return
    order = live[np.argsort(rows.person_id[live], kind="stable")]
    persons = rows.person_id[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = persons[1:] == persons[:-1]
    if not repeat.any():
        return
    barcodes = rows.barcode.to_pylist()
    first_of: dict[int, str] = {}
    for position, i in enumerate(order):
        person = int(persons[position])
        if not repeat[position]:
            first_of[person] = barcodes[i]
            continue
        if barcodes[i] == first_of[person]:
            decisions.status[i] = UNCHANGED
            decisions.task_id[i] = -1
        else:
            decisions.reject_one(int(i), "id_number", "already_sampled", first_of[person])


def _check_room(rows: SampleRows, decisions: Decisions, already_in: np.ndarray) -> None:
    """No more swabs in a tube than its pool size, counting those it holds."""
    live = np.flatnonzero(decisions.open)
    if len(live) == 0:
        return
    codes = pc.dictionary_encode(pc.take(rows.barcode, pa.array(live))).indices.to_numpy()
    order = np.lexsort((live, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.arange(len(order)) - group_start
    rows_in_order = live[order]
    room = decisions.pool_size[rows_in_order] - already_in[rows_in_order]
    full = np.zeros(len(rows.person_id), dtype=bool)
    full[rows_in_order[rank >= room]] = True
    for i in np.flatnonzero(full):
        decisions.reject_one(int(i), "tube", "tube_full", int(decisions.pool_size[i]))

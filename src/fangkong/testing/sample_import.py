"""``import_samples``: a sampling file from handhelds (one row per person in a
tube), into a round. Same rules and words as the one-by-one flow
(:mod:`fangkong.testing.sampling`), decided for the whole file at once
(:mod:`fangkong.testing.sample_rules`) and written with COPY; one
transaction, so the printed counts are saved counts. A re-uploaded batch
changes nothing: a swab is identified by its tube and person."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.bulkio import (
    analyze_after_bulk,
    bulk_cache,
    copy_in,
    copy_out,
    db_time,
    key_text,
    lock_for_append,
    reserve_ids,
    staged,
)
from fangkong.config import get_settings
from fangkong.imports import (
    CellCheck,
    ImportCounts,
    Reject,
    broken_rejects,
    empty_cells,
    finish_import,
    map_columns,
    open_batch,
    parse_local_times,
    true_where,
)
from fangkong.policy import get_policy
from fangkong.regions.service import zones_in_force
from fangkong.tabular import StringTable, read_table
from fangkong.testing.models import FollowUpTask, Round, SamplingSite
from fangkong.testing.rounds import get_round, round_areas
from fangkong.testing.rules import allowed_pool_sizes, reason
from fangkong.testing.sample_rules import (
    NEW,
    Decisions,
    KnownMembers,
    KnownTubes,
    SampleRows,
    area_pool_sizes,
    decide_samples,
    in_zones,
)

SAMPLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "tube": ("试管条码", "tube", "管码", "条码", "试管编号", "barcode", "tube_barcode"),
    "pool_size": ("混采人数", "pool_size", "管容量", "混管人数", "pool"),
    "id_number": ("身份证号", "id_number", "证件号码", "证件号", "公民身份号码", "identity_number"),
    "sampled_at": ("采样时间", "sampled_at", "sampling_time", "time"),
    "site": ("采样点", "site", "采样点名称", "site_name", "site_id"),
}
REQUIRED = ("tube", "id_number", "sampled_at")
CLOCK_SKEW_MINUTES = 10  # a handheld's clock may run a little ahead


@dataclass
class SampleImportResult(ImportCounts):
    tubes: int = 0
    followups: int = 0

    def more_counts(self) -> dict[str, int]:
        return {"tubes": self.tubes, "follow-ups": self.followups}


@dataclass
class _Cells:
    barcode: pa.Array
    id_number: pa.Array
    pool_given: np.ndarray
    sampled_at: pa.Array
    site_id: np.ndarray
    bad: np.ndarray
    rejects: list[Reject]


def _read_cells(
    session: Session, actor: Actor, table: StringTable, positions: dict[str, int]
) -> _Cells:
    check = CellCheck(table, positions)

    def refuse(
        mask: np.ndarray, column: str, values: pa.Array, key: str, detail: object = ""
    ) -> None:
        check.refuse(mask, column, values, reason(key, detail))

    barcode = check.text("tube")
    id_number = pc.utf8_upper(check.text("id_number"))
    refuse(empty_cells(barcode), "tube", barcode, "required")
    refuse(true_where(pc.greater(pc.utf8_length(barcode), 40)), "tube", barcode, "required")
    refuse(empty_cells(id_number), "id_number", id_number, "required")

    pool_text = check.text("pool_size")
    not_number = ~true_where(pc.match_substring_regex(pool_text, r"^\d{0,3}$"))
    digits = pc.if_else(pa.array(not_number | empty_cells(pool_text)), "0", pool_text)
    sizes = ", ".join(map(str, allowed_pool_sizes(get_policy())))
    refuse(not_number, "pool_size", pool_text, "pool_size_not_allowed", sizes)
    pool_given = np.asarray(pc.cast(digits, pa.int64()))

    time_text = check.text("sampled_at")
    sampled_at = parse_local_times(time_text, get_settings().timezone)
    refuse(empty_cells(time_text), "sampled_at", time_text, "required")
    refuse(true_where(pc.is_null(sampled_at)), "sampled_at", time_text, "bad_time")
    latest = (
        pa.scalar(clock.now(), pa.timestamp("us", "UTC")).value + CLOCK_SKEW_MINUTES * 60_000_000
    )
    future = pc.greater(pc.cast(sampled_at, pa.int64()), latest)
    refuse(true_where(future), "sampled_at", time_text, "future_time")

    site_text = check.text("site")
    site_id = np.full(table.num_rows, -1, dtype=np.int64)
    given = ~empty_cells(site_text)
    if given.any():
        sites = _sites_by_key(session, actor)
        keys = site_text.to_pylist()
        for i in np.flatnonzero(given):
            site_id[i] = sites.get(keys[i], -2)
        refuse(site_id == -2, "site", site_text, "unknown_site")
    return _Cells(barcode, id_number, pool_given, sampled_at, site_id, check.bad, check.rejects)


def _sites_by_key(session: Session, actor: Actor) -> dict[str, int]:
    stmt = select(SamplingSite.id, SamplingSite.name).where(
        SamplingSite.region_code.startswith(actor.jurisdiction, autoescape=True)
    )
    keys: dict[str, int] = {}
    for site_id, name in session.execute(stmt):
        keys[str(site_id)] = site_id
        keys.setdefault(name, site_id)
    return keys


def import_samples(
    session: Session, actor: Actor, round_id: int, data: bytes, filename: str
) -> SampleImportResult:
    """Import a sampling file into a round. Raises ``UnreadableFile`` when
    nothing can be read."""
    require(actor, Permission.TESTING_SAMPLE)
    testing_round = get_round(session, actor, round_id)
    table = read_table(data, filename)
    columns = map_columns(table.headers, SAMPLE_COLUMNS, REQUIRED)
    batch = open_batch(
        session,
        actor.user_id,
        actor.jurisdiction,
        kind="samples",
        data=data,
        filename=filename,
        table=table,
        columns=columns,
    )
    result = SampleImportResult(batch_id=batch.id, notices=list(batch.notices))
    cells = _read_cells(session, actor, table, columns.positions)
    conn = session.connection()
    with bulk_cache(conn):
        lock_for_append(conn, ("tube", "tube_member"))
        decisions, rows, tubes = _decide(session, conn, actor, testing_round, cells)
        _write(conn, round_id, cells, rows, decisions, tubes, result)
        analyze_after_bulk(conn, ("tube", "tube_member"), result.accepted)
    rejects = broken_rejects(table) + cells.rejects + _decision_rejects(table, cells, decisions)
    result.rejects = sorted(rejects, key=lambda r: r.row_number)
    result.unchanged = int((decisions.status == 1).sum())
    finish_import(session, actor, batch, table, result, "samples.import", round=round_id)
    session.commit()
    return result


def _decide(
    session: Session, conn: Connection, actor: Actor, testing_round: Round, cells: _Cells
) -> tuple[Decisions, SampleRows, KnownTubes]:
    round_id = testing_round.id
    rows, members = _lookup_persons(conn, cells, round_id, actor.jurisdiction)
    tubes = _known_tubes(conn, cells.barcode, actor.jurisdiction)
    policy = get_policy()
    zones = zones_in_force(session, policy.single_tube_zone_levels)
    decisions = decide_samples(
        rows,
        round_id=round_id,
        area_sizes=area_pool_sizes(rows.region_code, round_areas(session, round_id)),
        allowed_sizes=allowed_pool_sizes(policy),
        tubes=tubes,
        members=members,
        open_tasks=_open_tasks(session, round_id),
        single_tube_only=in_zones(rows, list(zones.prefixes), list(zones.addresses)),
        already_rejected=cells.bad,
        round_open=testing_round.status == "open",
    )
    return decisions, rows, tubes


def _open_tasks(session: Session, round_id: int) -> dict[int, int]:
    stmt = select(FollowUpTask.person_id, FollowUpTask.id).where(
        FollowUpTask.round_id == round_id, FollowUpTask.state == "open"
    )
    return {int(person): int(task) for person, task in session.execute(stmt)}


PERSON_LOOKUP = pa.schema(
    [
        ("ordinal", pa.int64()),
        ("person_id", pa.int64()),
        ("region_code", pa.string()),
        ("address_id", pa.int64()),
        ("barcode", pa.string()),
        ("followup", pa.int64()),
    ]
)
TUBE_LOOKUP = pa.schema(
    [
        ("id", pa.int64()),
        ("barcode", pa.string()),
        ("round_id", pa.int64()),
        ("pool_size", pa.int64()),
        ("state", pa.string()),
        ("region_code", pa.string()),
        ("members", pa.int64()),
    ]
)


def _lookup_persons(
    conn: Connection, cells: _Cells, round_id: int, jurisdiction: str
) -> tuple[SampleRows, KnownMembers]:
    """In one staged join: each row's person (registered, not merged, in the
    uploader's jurisdiction — others are simply not found, so a person of
    another county looks like no person at all) and the swabs this round
    already holds of them. The database answers with the position of each
    distinct identity number, not the number itself, which halves what
    comes back."""
    if jurisdiction and not jurisdiction.isdigit():
        raise ValueError(f"not a jurisdiction: {jurisdiction!r}")
    numbers = pc.unique(cells.id_number)
    # TEXT: the file's cells, too long ones included (refused, but looked up)
    stage = pa.table({"ordinal": pa.array(range(len(numbers)), pa.int64()), "id_number": numbers})
    with staged(conn, "stage_id_number", f"ordinal BIGINT, id_number {key_text(conn)}", stage):
        found = copy_out(
            conn,
            f"""SELECT s.ordinal, p.id, p.region_code, p.address_id, t.barcode,
                CASE WHEN m.task_id IS NULL THEN 0 ELSE 1 END
            FROM stage_id_number s
            JOIN person p ON p.id_number = s.id_number AND p.merged_into_id IS NULL
                AND p.region_code LIKE '{jurisdiction}%'
            LEFT JOIN tube_member m ON m.person_id = p.id AND m.round_id = {int(round_id)}
            LEFT JOIN tube t ON t.id = m.tube_id""",
            PERSON_LOOKUP,
        )
    n = len(numbers)
    ordinal = found.column("ordinal").to_numpy()
    person_of = np.full(n, -1, dtype=np.int64)
    address_of = np.full(n, -1, dtype=np.int64)
    region_at = np.full(n, -1, dtype=np.int64)
    person_of[ordinal] = found.column("person_id").to_numpy()
    address_of[ordinal] = pc.fill_null(found.column("address_id"), -1).to_numpy()
    region_at[ordinal] = np.arange(found.num_rows)
    row_ordinal = np.asarray(pc.index_in(cells.id_number, value_set=numbers).to_numpy())
    at = region_at[row_ordinal]
    regions = found.column("region_code").combine_chunks()
    region = (
        pc.if_else(pa.array(at >= 0), regions.take(pa.array(np.maximum(at, 0))), None)
        if found.num_rows
        else pa.nulls(len(at), pa.string())
    )
    rows = SampleRows(
        barcode=cells.barcode,
        pool_given=cells.pool_given,
        person_id=person_of[row_ordinal],
        region_code=region,
        address_id=address_of[row_ordinal],
    )
    swabs = found.filter(pc.is_valid(found.column("barcode")))
    members = KnownMembers(
        person_id=swabs.column("person_id").to_numpy(),
        barcode=swabs.column("barcode").combine_chunks(),
        followup=np.asarray(swabs.column("followup").to_numpy(), dtype=bool),
    )
    return rows, members


def _known_tubes(conn: Connection, barcodes: pa.Array, jurisdiction: str) -> KnownTubes:
    stage = pa.table({"barcode": pc.unique(barcodes)})
    with staged(conn, "stage_barcode", f"barcode {key_text(conn)}", stage):
        tubes = copy_out(
            conn,
            """SELECT t.id, t.barcode, t.round_id, t.pool_size, t.state, t.region_code,
                (SELECT COUNT(*) FROM tube_member m WHERE m.tube_id = t.id)
            FROM stage_barcode s JOIN tube t ON t.barcode = s.barcode""",
            TUBE_LOOKUP,
        )
    return KnownTubes(
        id=tubes.column("id").to_numpy(),
        barcode=tubes.column("barcode").combine_chunks(),
        round_id=tubes.column("round_id").to_numpy(),
        pool_size=tubes.column("pool_size").to_numpy(),
        state=tubes.column("state").to_pylist(),
        members=tubes.column("members").to_numpy(),
        in_scope=np.asarray(pc.starts_with(tubes.column("region_code"), jurisdiction)),
    )


def _write(
    conn: Connection,
    round_id: int,
    cells: _Cells,
    rows: SampleRows,
    decisions: Decisions,
    tubes: KnownTubes,
    result: SampleImportResult,
) -> None:
    accepted = np.flatnonzero(decisions.status == NEW)
    result.accepted = len(accepted)
    if not len(accepted):
        return
    take = pa.array(accepted, pa.int64())
    swabs = pa.table(
        {
            "barcode": cells.barcode.take(take),
            "person_id": pa.array(rows.person_id[accepted], pa.int64()),
            "region_code": rows.region_code.take(take),
            "sampled_at": cells.sampled_at.take(take),
            "pool_size": pa.array(decisions.pool_size[accepted], pa.int64()),
            "site_id": pa.array(cells.site_id[accepted], pa.int64()),
            "task_id": pa.array(decisions.task_id[accepted], pa.int64()),
        }
    )
    tube_ids = _create_tubes(conn, round_id, swabs, tubes, result)
    task = swabs.column("task_id")
    no_task = pc.equal(task, -1)
    copy_in(
        conn,
        "tube_member",
        pa.table(
            {
                "tube_id": tube_ids,
                "person_id": swabs.column("person_id"),
                "region_code": swabs.column("region_code"),
                "sampled_at": swabs.column("sampled_at"),
                "task_id": pc.if_else(no_task, pa.scalar(None, pa.int64()), task),
            }
        ),
        {"round_id": round_id},
    )
    followups = swabs.filter(pc.invert(no_task))
    result.followups = followups.num_rows
    if followups.num_rows:
        conn.execute(
            text("UPDATE follow_up_task SET state = 'done', done_at = :at WHERE id = :id"),
            [
                {"id": t, "at": db_time(conn, at)}
                for t, at in zip(
                    followups.column("task_id").to_pylist(),
                    followups.column("sampled_at").to_pylist(),
                    strict=True,
                )
            ],
        )
        # a tube opened online before the batch came is a follow-up tube now,
        # so that its result resolves the task (new tubes are made so)
        followup_tubes = pc.unique(pc.filter(tube_ids, pc.invert(no_task))).to_pylist()
        conn.execute(
            text("UPDATE tube SET purpose = 'followup' WHERE id = :id"),
            [{"id": t} for t in followup_tubes],
        )


def _create_tubes(
    conn: Connection,
    round_id: int,
    swabs: pa.Table,
    known: KnownTubes,
    result: SampleImportResult,
) -> pa.Array:
    """Tubes for barcodes not yet known (collected: a file lists sealed
    tubes); returns each swab's tube id."""
    existing = pa.table({"barcode": known.barcode, "id": pa.array(known.id, pa.int64())})
    fresh = swabs.filter(
        pc.invert(pc.is_in(swabs.column("barcode"), value_set=existing.column("barcode")))
    )
    grouped = fresh.group_by("barcode", use_threads=False).aggregate(
        [
            ("sampled_at", "min"),
            ("sampled_at", "max"),
            ("region_code", "first"),
            ("pool_size", "first"),
            ("site_id", "max"),
            ("task_id", "max"),
        ]
    )
    count = grouped.num_rows
    result.tubes = count
    ids = reserve_ids(conn, "tube", count)
    if count:
        site = grouped.column("site_id_max")
        copy_in(
            conn,
            "tube",
            pa.table(
                {
                    "id": ids,
                    "barcode": grouped.column("barcode"),
                    "region_code": grouped.column("region_code_first"),
                    "site_id": pc.if_else(pc.less(site, 0), pa.scalar(None, pa.int64()), site),
                    "pool_size": grouped.column("pool_size_first"),
                    "purpose": pc.if_else(
                        pc.greater_equal(grouped.column("task_id_max"), 0), "followup", "round"
                    ),
                    "opened_at": grouped.column("sampled_at_min"),
                    "collected_at": grouped.column("sampled_at_max"),
                }
            ),
            {"round_id": round_id, "state": "collected", "lab": "", "conflict": False},
        )
    barcodes = pa.concat_arrays(
        [existing.column("barcode").combine_chunks(), grouped.column("barcode").combine_chunks()]
    )
    all_ids = pa.concat_arrays([existing.column("id").combine_chunks(), ids])
    return all_ids.take(pc.index_in(swabs.column("barcode"), value_set=barcodes))


def _decision_rejects(table: StringTable, cells: _Cells, decisions: Decisions) -> list[Reject]:
    values = {"tube": cells.barcode, "id_number": cells.id_number}
    rejects = []
    for i, (column, key, detail) in decisions.reasons.items():
        if cells.bad[i]:
            continue
        zh, en = reason(key, detail)
        shown = values.get(column)
        value = str(shown[i].as_py()) if shown is not None else str(decisions.pool_size[i])
        rejects.append(Reject(int(table.row_numbers[i]), column, value, zh, en))
    return rejects

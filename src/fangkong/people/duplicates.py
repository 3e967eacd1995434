"""Duplicate suspects: pairs of persons with different identity numbers who
may be one person. Flagged for a person to decide (people/service.py
``resolve_duplicate_suspect``); never merged here."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, bindparam, text

from fangkong.bulkio import db_time

DUPLICATE_RULES: dict[str, tuple[str, ...]] = {
    # reason: the fields two persons with different identity numbers share
    "same_name_phone": ("name", "phone"),
    "same_name_birth_date_community": ("name", "birth_date", "region_code"),
}
PAIRS_PER_GROUP = 45  # a group of up to 10 gets every pair; larger ones pair with the first


Pair = tuple[str, str, str]  # identity number, identity number, reason


def flag_duplicate_suspects(
    conn: Connection, batch_id: int, now: datetime, *, pairs_in_file: list[Pair] | None
) -> int:
    """Flag pairs of persons who may be one; never merges. After a first load
    the pairs can only lie inside the file: :func:`find_pairs_in_file` found
    them in Arrow. Otherwise SQL pairs the persons this import created or
    changed with everyone."""
    if pairs_in_file is not None:
        return _flag_pairs(conn, pairs_in_file, now)
    return _flag_pairs_in_registry(conn, batch_id, now)


def find_pairs_in_file(rows: pa.Table) -> list[Pair]:
    """Pure: the pairs of a file's rows that share the fields of a rule."""
    pairs: list[Pair] = []
    for reason, fields in DUPLICATE_RULES.items():
        for ids in _groups_sharing(rows, fields):
            if len(ids) * (len(ids) - 1) // 2 <= PAIRS_PER_GROUP:
                pairs += [(a, b, reason) for i, a in enumerate(ids) for b in ids[i + 1 :]]
            else:
                pairs += [(ids[0], b, reason) for b in ids[1:]]
    return pairs


def _flag_pairs(conn: Connection, pairs: list[Pair], now: datetime) -> int:
    if not pairs:
        return 0
    numbers = sorted({n for a, b, _ in pairs for n in (a, b)})
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(numbers), 1000):
        piece = numbers[start : start + 1000]
        for pid, number, region in conn.execute(
            text(
                "SELECT id, id_number, region_code FROM person WHERE id_number IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": piece},
        ):
            found[number] = (int(pid), str(region))
    stamp = db_time(conn, now)
    records = []
    for a, b, reason in pairs:
        (id_a, region_a), (id_b, _) = found[a], found[b]
        low, high = sorted((id_a, id_b))
        records.append({"a": low, "b": high, "reason": reason, "region": region_a, "now": stamp})
    conn.execute(
        text(
            """INSERT INTO duplicate_suspect (person_a_id, person_b_id, reason, region_code,
            status, resolution_note, found_at)
            VALUES (:a, :b, :reason, :region, 'open', '', :now) ON CONFLICT DO NOTHING"""
        ),
        records,
    )
    return len(records)


def _groups_sharing(rows: pa.Table, fields: tuple[str, ...]) -> list[list[str]]:
    """The identity numbers of the rows sharing every one of ``fields`` (none
    empty), one list per group of two or more, in file order. Hash
    aggregation over the columns themselves: no per-row key strings."""
    subset = rows.select(["id_number", *fields]).append_column(
        "position", pa.array(np.arange(rows.num_rows))
    )
    for name in fields:
        subset = subset.filter(pc.is_valid(subset.column(name)))
    counts = subset.group_by(list(fields)).aggregate([("id_number", "count")])
    repeated = counts.filter(pc.greater(counts.column("id_number_count"), 1))
    if repeated.num_rows == 0:
        return []
    members = subset.join(repeated, keys=list(fields), join_type="inner")
    members = members.sort_by("position")  # a join does not keep the order
    grouped = members.group_by(list(fields), use_threads=False).aggregate([("id_number", "list")])
    groups: list[list[str]] = grouped.column("id_number_list").to_pylist()
    return groups


def _flag_pairs_in_registry(conn: Connection, batch_id: int, now: datetime) -> int:
    touched = conn.execute(text("SELECT COUNT(*) FROM import_touched")).scalar_one()
    created = conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM person WHERE import_batch_id = :batch)"),
        {"batch": batch_id},
    ).scalar_one()
    if not touched and not created:
        return 0
    stamp = db_time(conn, now)
    flagged = 0
    for reason, fields in DUPLICATE_RULES.items():
        condition = " AND ".join(f"p2.{f} = p1.{f}" for f in fields)
        flagged += conn.execute(
            text(
                f"""INSERT INTO duplicate_suspect (person_a_id, person_b_id, reason, region_code,
                    status, resolution_note, found_at)
                SELECT DISTINCT
                    CASE WHEN p1.id < p2.id THEN p1.id ELSE p2.id END,
                    CASE WHEN p1.id < p2.id THEN p2.id ELSE p1.id END,
                    :reason, p1.region_code, 'open', '', :now
                FROM person p1
                JOIN person p2 ON {condition} AND p2.id <> p1.id
                WHERE (p1.import_batch_id = :batch
                       OR p1.id IN (SELECT person_id FROM import_touched))
                  AND p1.merged_into_id IS NULL AND p2.merged_into_id IS NULL
                ON CONFLICT DO NOTHING"""
            ),
            {"reason": reason, "now": stamp, "batch": batch_id},
        ).rowcount
    return flagged

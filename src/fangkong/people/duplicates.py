"""Duplicate suspects: pairs of persons with different identity numbers who
may be one person. Flagged for a person to decide (people/service.py
``resolve_duplicate_suspect``); never merged here."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, bindparam, text

from fangkong.bulkio import db_time
from fangkong.people.bulk import row_keys

DUPLICATE_RULES: dict[str, tuple[str, ...]] = {
    # reason: the fields two persons with different identity numbers share
    "same_name_phone": ("name", "phone"),
    "same_name_birth_date_community": ("name", "birth_date", "region_code"),
}
PAIRS_PER_GROUP = 45  # a group of up to 10 gets every pair; larger ones pair with the first


def flag_duplicate_suspects(
    conn: Connection, rows: pa.Table, batch_id: int, now: datetime, *, registry_was_empty: bool
) -> int:
    """Flag pairs of persons who may be one; never merges. After a first load
    the pairs can only lie inside the file, found in Arrow; otherwise SQL
    pairs the persons this import created or changed with everyone."""
    if registry_was_empty:
        return _flag_pairs_in_file(conn, rows, batch_id, now)
    return _flag_pairs_in_registry(conn, batch_id, now)


def _flag_pairs_in_file(conn: Connection, rows: pa.Table, batch_id: int, now: datetime) -> int:
    pairs: list[tuple[str, str, str]] = []
    for reason, fields in DUPLICATE_RULES.items():
        subset = rows.select(["id_number", *fields])
        for name in fields:
            subset = subset.filter(pc.is_valid(subset.column(name)))
        keys = row_keys(subset, fields)
        counts = pc.value_counts(keys)
        repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
        if len(repeated) == 0:
            continue
        members = subset.filter(pc.is_in(keys, value_set=repeated))
        groups: dict[str, list[str]] = {}
        member_keys = row_keys(members, fields).to_pylist()
        for key, id_number in zip(
            member_keys, members.column("id_number").to_pylist(), strict=True
        ):
            groups.setdefault(key, []).append(id_number)
        for ids in groups.values():
            if len(ids) * (len(ids) - 1) // 2 <= PAIRS_PER_GROUP:
                pairs += [(a, b, reason) for i, a in enumerate(ids) for b in ids[i + 1 :]]
            else:
                pairs += [(ids[0], b, reason) for b in ids[1:]]
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

"""Merging validated registry rows into the database in bulk.

One chunk at a time: the rows go into a temporary staging table (COPY on
PostgreSQL, ``executemany`` on SQLite), then a handful of set-based
statements create the missing addresses and households, insert the new
persons, update the changed ones and return what changed for the audit.
No row passes through the ORM.

Rules of the merge (docs/import-format.md):
- a person is identified by the identity number; a person registered in
  another jurisdiction is not moved by an import (the row is rejected);
- an empty cell never erases what the registry knows;
- a file without building/unit/room (or household) columns keeps the
  person's known address (or household) when the community is the same.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, ForeignKeyConstraint, Index, Table, text
from sqlalchemy.schema import AddConstraint, DropConstraint

from fangkong.people.models import Address, Household, Person

STAGE_COLUMNS = (
    "row_number",
    "id_type",
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
COMPARED = (
    "id_type",
    "name",
    "sex",
    "birth_date",
    "phone",
    "region_code",
    "address_id",
    "household_id",
    "relation",
)


@dataclass
class ChunkOutcome:
    inserted: int
    updated: int
    unchanged: int
    foreign_rows: list[int]
    changes: list[tuple[int, str, dict[str, list[Any]]]]  # person id, region, field -> [old, new]


def create_stage(conn: Connection) -> None:
    """Temporary tables of this connection: the staged rows, and the persons
    this import changed (new ones carry the batch id)."""
    postgres = conn.dialect.name == "postgresql"
    collate = ' COLLATE "C"' if postgres else ""
    drop_stage(conn)
    conn.execute(text("CREATE TEMPORARY TABLE import_touched (person_id BIGINT NOT NULL)"))
    conn.execute(
        text(
            f"""CREATE TEMPORARY TABLE stage_person (
                row_number BIGINT NOT NULL,
                id_type VARCHAR(32) NOT NULL,
                id_number VARCHAR(32){collate} NOT NULL,
                name VARCHAR(100){collate} NOT NULL,
                sex VARCHAR(1),
                birth_date DATE,
                phone VARCHAR(20){collate},
                region_code VARCHAR(12){collate} NOT NULL,
                building VARCHAR(50) NOT NULL,
                unit VARCHAR(50) NOT NULL,
                room VARCHAR(50) NOT NULL,
                household VARCHAR(120){collate} NOT NULL,
                relation VARCHAR(16) NOT NULL
            )"""
        )
    )


def drop_stage(conn: Connection) -> None:
    for table in ("stage_person", "stage_resolved", "import_touched"):
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def append_stage(conn: Connection, rows: pa.Table) -> None:
    """Add rows to ``stage_person``: COPY on PostgreSQL, executemany on SQLite."""
    rows = rows.select(list(STAGE_COLUMNS))
    if conn.dialect.name == "postgresql":
        buffer = io.BytesIO()
        pacsv.write_csv(rows, buffer, write_options=pacsv.WriteOptions(include_header=False))
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(
                f"COPY stage_person ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
            ) as copy,
        ):
            view = buffer.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
    else:
        columns = [rows.column(name).to_pylist() for name in STAGE_COLUMNS]
        placeholders = ", ".join("?" for _ in STAGE_COLUMNS)
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.executemany(
            f"INSERT INTO stage_person ({', '.join(STAGE_COLUMNS)}) VALUES ({placeholders})",
            zip(*columns, strict=True),
        )


def _distinct(conn: Connection) -> str:
    return "IS DISTINCT FROM" if conn.dialect.name == "postgresql" else "IS NOT"


def merge_stage(
    conn: Connection,
    *,
    jurisdiction: str,
    batch_id: int,
    now: datetime,
    present: frozenset[str],
) -> ChunkOutcome:
    """Merge ``stage_person`` into the registry inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE stage_person"))
    conn.execute(
        text(
            """INSERT INTO address (region_code, building, unit, room)
            SELECT DISTINCT s.region_code, s.building, s.unit, s.room FROM stage_person s
            WHERE NOT EXISTS (
                SELECT 1 FROM address a WHERE a.region_code = s.region_code
                AND a.building = s.building AND a.unit = s.unit AND a.room = s.room)
            ON CONFLICT DO NOTHING"""
        )
    )
    conn.execute(
        text(
            """INSERT INTO household (code, region_code, address_id)
            SELECT s.household, MIN(s.region_code), MIN(a.id)
            FROM stage_person s JOIN address a ON a.region_code = s.region_code
                AND a.building = s.building AND a.unit = s.unit AND a.room = s.room
            WHERE NOT EXISTS (SELECT 1 FROM household h WHERE h.code = s.household)
            GROUP BY s.household
            ON CONFLICT DO NOTHING"""
        )
    )
    has_address = bool(present & {"building", "unit", "room"})
    keep_address = "" if has_address else "p.region_code = s.region_code AND "
    keep_household = "" if "household" in present else "p.region_code = s.region_code AND "
    id_type = "s.id_type" if "id_type" in present else "COALESCE(p.id_type, s.id_type)"
    conn.execute(text("DROP TABLE IF EXISTS stage_resolved"))
    conn.execute(
        text(
            f"""CREATE TEMPORARY TABLE stage_resolved AS
            SELECT s.row_number, s.id_number, p.id AS person_id, p.region_code AS old_region,
                {id_type} AS id_type, s.name,
                COALESCE(s.sex, p.sex) AS sex,
                COALESCE(s.birth_date, p.birth_date) AS birth_date,
                COALESCE(s.phone, p.phone) AS phone,
                s.region_code,
                CASE WHEN {keep_address}p.address_id IS NOT NULL
                     THEN p.address_id ELSE a.id END AS address_id,
                CASE WHEN {keep_household}p.household_id IS NOT NULL
                     THEN p.household_id ELSE h.id END AS household_id,
                CASE WHEN s.relation = '' AND p.relation IS NOT NULL
                     THEN p.relation ELSE s.relation END AS relation
            FROM stage_person s
            JOIN address a ON a.region_code = s.region_code AND a.building = s.building
                AND a.unit = s.unit AND a.room = s.room
            JOIN household h ON h.code = s.household
            LEFT JOIN person p ON p.id_number = s.id_number"""
        )
    )
    prefix = {"prefix": jurisdiction + "%"}
    foreign = [
        int(r[0])
        for r in conn.execute(
            text(
                "SELECT row_number FROM stage_resolved "
                "WHERE person_id IS NOT NULL AND old_region NOT LIKE :prefix"
            ),
            prefix,
        )
    ]
    inserted = conn.execute(
        text(
            """INSERT INTO person (id_type, id_number, name, sex, birth_date, phone, region_code,
                address_id, household_id, relation, resident, import_batch_id,
                created_at, updated_at)
            SELECT id_type, id_number, name, sex, birth_date, phone, region_code,
                address_id, household_id, relation, :resident, :batch, :now, :now
            FROM stage_resolved WHERE person_id IS NULL"""
        ),
        {"batch": batch_id, "now": _bind_time(conn, now), "resident": True},
    ).rowcount
    distinct = _distinct(conn)
    differs = " OR ".join(f"r.{c} {distinct} p.{c}" for c in COMPARED)
    old_columns = ", ".join(f"p.{c}" for c in COMPARED)
    new_columns = ", ".join(f"r.{c}" for c in COMPARED)
    changed_rows = conn.execute(
        text(
            f"""SELECT p.id, r.region_code, {old_columns}, {new_columns}
            FROM stage_resolved r JOIN person p ON p.id = r.person_id
            WHERE r.old_region LIKE :prefix AND ({differs})"""
        ),
        prefix,
    ).all()
    if changed_rows:
        differs_person = " OR ".join(f"r.{c} {distinct} person.{c}" for c in COMPARED)
        sets = ", ".join(f"{c} = r.{c}" for c in COMPARED)
        conn.execute(
            text(
                f"""UPDATE person SET {sets}, updated_at = :now
                FROM stage_resolved r
                WHERE person.id = r.person_id AND r.old_region LIKE :prefix
                AND ({differs_person})"""
            ),
            {**prefix, "now": _bind_time(conn, now)},
        )
    width = len(COMPARED)
    changes = []
    for row in changed_rows:
        old, new = row[2 : 2 + width], row[2 + width :]
        diff = {
            c: [_jsonable(o), _jsonable(n)]
            for c, o, n in zip(COMPARED, old, new, strict=True)
            if _jsonable(o) != _jsonable(n)
        }
        changes.append((int(row[0]), str(row[1]), diff))
    total = conn.execute(text("SELECT COUNT(*) FROM stage_resolved")).scalar_one()
    if changes:
        conn.execute(
            text("INSERT INTO import_touched (person_id) VALUES (:id)"),
            [{"id": person_id} for person_id, _, _ in changes],
        )
    unchanged = int(total) - inserted - len(changes) - len(foreign)
    return ChunkOutcome(inserted, len(changes), unchanged, foreign, changes)


def _bind_time(conn: Connection, value: datetime) -> Any:
    if conn.dialect.name == "sqlite":
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    return str(value)


STAGE_PIECE_ROWS = 100_000  # rows per COPY / executemany call
RELAXED_TABLES = tuple(cast(Table, m.__table__) for m in (Person, Address, Household))


def _secondary_indexes() -> list[Index]:
    return [ix for ix in RELAXED_TABLES[0].indexes if not ix.unique]


def _foreign_keys() -> list[ForeignKeyConstraint]:
    return [fk for table in RELAXED_TABLES for fk in table.foreign_key_constraints]


def relax_constraints(conn: Connection) -> None:
    """First load into an empty registry: the person table's secondary
    indexes (and on PostgreSQL its identity-number unique index and the
    registry tables' foreign keys) are dropped, to be built once at the end
    by :func:`restore_constraints` in the same transaction — one sort instead
    of a million index insertions and trigger calls (PostgreSQL manual,
    "Populating a Database"). The tables are locked meanwhile; the merge
    statements keep every reference correct by construction, and the rebuilt
    constraints check it again."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(text("LOCK TABLE person, address, household IN EXCLUSIVE MODE"))
        for fk in _foreign_keys():
            conn.execute(DropConstraint(fk))
        conn.execute(text(f"ALTER TABLE person DROP CONSTRAINT {UNIQUE_ID_NUMBER}"))
    for index in _secondary_indexes():
        index.drop(conn)


def restore_constraints(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"ALTER TABLE person ADD CONSTRAINT {UNIQUE_ID_NUMBER} UNIQUE (id_number)")
        )
        for fk in _foreign_keys():
            conn.execute(AddConstraint(fk))
    for index in _secondary_indexes():
        index.create(conn)


UNIQUE_ID_NUMBER = "uq_person_id_number"


DUPLICATE_RULES = {
    # reason: how two persons with different identity numbers may still be one
    "same_name_phone": "p2.name = p1.name AND p2.phone = p1.phone",
    "same_name_birth_date_community": (
        "p2.name = p1.name AND p2.birth_date = p1.birth_date AND p2.region_code = p1.region_code"
    ),
}


def flag_duplicate_suspects(conn: Connection, batch_id: int, now: datetime) -> int:
    """Flag pairs between the persons this import created or changed and
    everyone else, once at the end of the import; never merges."""
    flagged = 0
    for reason, condition in DUPLICATE_RULES.items():
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
            {"reason": reason, "now": _bind_time(conn, now), "batch": batch_id},
        ).rowcount
    return flagged

"""Merging validated registry rows into the database in bulk.

The file's rows are compared with the registry in Arrow, not row by row and
not through the ORM:

1. what the registry holds in the file's communities (addresses,
   households, persons) is read with ``COPY ... TO STDOUT`` while the file
   is still being validated (:func:`read_known`; nothing to read for a first
   load into an empty registry);
2. addresses and households are identified by their keys; the ones the
   registry lacks are appended with ``COPY`` under ids reserved beforehand;
   the persons registered under the file's identity numbers are joined to
   the file on the identity number, and each field is compared column-wise;
3. new persons are appended with ``COPY``; changed ones are staged and
   updated by one ``UPDATE ... FROM``; unchanged ones cost nothing.

Merge rules (docs/import-format.md):
- a person is identified by the identity number; a person registered in
  another jurisdiction is not moved by an import (the row is rejected);
- an empty cell never erases what the registry knows;
- building, unit and room all empty (or household empty) keep the person's
  known address (or household) when the community is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Connection,
    text,
)

from fangkong.bulkio import (
    copy_in,
    copy_out,
    db_time,
    key_text,
    lock_for_append,
    reserve_ids,
    staged,
    values_list,
)
from fangkong.people.first_load import person_constants

ADDRESS_PARTS = ("region_code", "building", "unit", "room")
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
PERSON_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("id_number", pa.string()),
        ("id_type", pa.string()),
        ("name", pa.string()),
        ("sex", pa.string()),
        ("birth_date", pa.date32()),
        ("phone", pa.string()),
        ("region_code", pa.string()),
        ("address_id", pa.int64()),
        ("household_id", pa.int64()),
        ("relation", pa.string()),
    ]
)


@dataclass
class MergeOutcome:
    inserted: int
    updated: int
    unchanged: int
    foreign_rows: list[int]
    changes: list[tuple[int, str, dict[str, list[Any]]]]  # person id, region, field -> [old, new]


def row_keys(table: pa.Table, columns: tuple[str, ...]) -> pa.Array:
    """One string per row joining the columns with a separator no cell holds."""
    parts = [pc.cast(table.column(c), pa.string()) for c in columns]
    return pc.binary_join_element_wise(*parts, "\x1f").combine_chunks()


def _assign_ids(
    conn: Connection, table: str, keys: pa.Array, known_keys: pa.Array, known_ids: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """The id of each row's key: the known one, else a new id reserved in
    ``table`` (one per distinct new key). Also the row positions holding the
    first occurrence of each new key, in the order of the new ids."""
    ids = pc.take(known_ids, pc.index_in(keys, value_set=known_keys))
    if ids.null_count == 0:
        return ids, pa.array([], pa.int64())
    unknown = np.flatnonzero(np.asarray(pc.is_null(ids).to_numpy(zero_copy_only=False)))
    encoded = pc.dictionary_encode(keys.take(pa.array(unknown)))
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    _, first = np.unique(codes, return_index=True)  # dictionary order = first seen
    new_ids = reserve_ids(conn, table, len(encoded.dictionary))
    filled = np.array(pc.fill_null(ids, 0).to_numpy(), dtype=np.int64)
    filled[unknown] = np.asarray(new_ids.to_numpy())[codes]
    return pa.array(filled), pa.array(unknown[first])


def _regions_sql(regions: list[str]) -> str:
    return values_list(regions)


ADDRESS_SCHEMA = pa.schema([("id", pa.int64())] + [(c, pa.string()) for c in ADDRESS_PARTS])
HOUSEHOLD_SCHEMA = pa.schema(
    [("id", pa.int64()), ("region_code", pa.string()), ("code", pa.string())]
)


@dataclass
class Known:
    """What the registry holds in a file's communities: read (under the
    import's lock) while the file is still being validated, so the server
    works while the client does."""

    registry_empty: bool
    addresses: pa.Table
    households: pa.Table
    persons: pa.Table


def read_known(conn: Connection, regions: list[str]) -> Known:
    """Lock the registry tables for this import's appends, then read what
    they hold in ``regions`` (any superset of the file's communities).
    Whether the registry is empty is decided under the lock, so two first
    loads cannot both take the first-load path."""
    lock_for_append(conn, ("address", "household", "person"))
    empty = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM person)")).scalar_one()
    if empty or not regions:
        return Known(
            bool(empty),
            ADDRESS_SCHEMA.empty_table(),
            HOUSEHOLD_SCHEMA.empty_table(),
            PERSON_SCHEMA.empty_table(),
        )
    where = f"WHERE region_code IN ({_regions_sql(regions)})"
    columns = ", ".join(PERSON_SCHEMA.names)
    return Known(
        registry_empty=False,
        addresses=copy_out(
            conn, f"SELECT id, {', '.join(ADDRESS_PARTS)} FROM address {where}", ADDRESS_SCHEMA
        ),
        households=copy_out(
            conn, f"SELECT id, region_code, code FROM household {where}", HOUSEHOLD_SCHEMA
        ),
        persons=copy_out(conn, f"SELECT {columns} FROM person {where}", PERSON_SCHEMA),
    )


def _resolve_addresses(conn: Connection, rows: pa.Table, known: pa.Table) -> pa.Array:
    ids, first = _assign_ids(
        conn,
        "address",
        row_keys(rows, ADDRESS_PARTS),
        row_keys(known, ADDRESS_PARTS),
        known.column("id").combine_chunks(),
    )
    if len(first):
        new = rows.select(list(ADDRESS_PARTS)).take(first)
        copy_in(conn, "address", new.add_column(0, "id", ids.take(first)))
    return ids


def _resolve_households(
    conn: Connection, rows: pa.Table, address_ids: pa.Array, known: pa.Table
) -> pa.Array:
    ids, first = _assign_ids(
        conn,
        "household",
        row_keys(rows, ("region_code", "household")),
        row_keys(known, ("region_code", "code")),
        known.column("id").combine_chunks(),
    )
    if len(first):
        new = pa.table(
            {
                "id": ids.take(first),
                "code": rows.column("household").take(first),
                "region_code": rows.column("region_code").take(first),
                "address_id": address_ids.take(first),
            }
        )
        copy_in(conn, "household", new)
    return ids


def _registered(conn: Connection, rows: pa.Table, local: pa.Table) -> pa.Table:
    """The persons already registered under the file's identity numbers:
    ``local`` (those of the file's communities, read beforehand), then the
    rest (moved in from elsewhere) through a staged lookup of the numbers
    still unknown."""
    ids = rows.column("id_number")
    unknown = pc.invert(pc.is_in(ids, value_set=local.column("id_number").combine_chunks()))
    rest = pc.filter(ids, unknown)
    if len(rest) == 0:
        return local
    columns = ", ".join(f"p.{name}" for name in PERSON_SCHEMA.names)
    with staged(
        conn, "stage_id_number", f"id_number {key_text(conn)}", pa.table({"id_number": rest})
    ):
        elsewhere = copy_out(
            conn,
            f"SELECT {columns} FROM person p JOIN stage_id_number s ON s.id_number = p.id_number",
            PERSON_SCHEMA,
        )
    return pa.concat_tables([local, elsewhere])


def _differs(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Null-safe inequality."""
    unequal = pc.fill_null(pc.not_equal(a, b), False)
    one_null = pc.xor(pc.is_null(a), pc.is_null(b))
    return np.asarray(pc.or_(unequal, one_null).to_numpy(zero_copy_only=False), dtype=bool)


def merge_rows(
    conn: Connection,
    rows: pa.Table,
    held: Known,
    *,
    jurisdiction: str,
    batch_id: int,
    now: datetime,
    present: frozenset[str],
    defaults_preset: bool = False,
) -> MergeOutcome:
    """Merge validated rows (one per identity number) into the registry,
    inside the caller's transaction; ``held`` is what :func:`read_known` read
    in it. ``defaults_preset``: the constant columns of new persons are the
    columns' defaults for now (a first load on PostgreSQL, see
    :func:`~fangkong.people.first_load.relax_constraints`), so COPY leaves them out."""
    address_ids = _resolve_addresses(conn, rows, held.addresses)
    household_ids = _resolve_households(conn, rows, address_ids, held.households)
    incoming = pa.table(
        {
            "id_number": rows.column("id_number"),
            "id_type": rows.column("id_type"),
            "name": rows.column("name"),
            "sex": rows.column("sex"),
            "birth_date": rows.column("birth_date"),
            "phone": rows.column("phone"),
            "region_code": rows.column("region_code"),
            "address_id": address_ids,
            "household_id": household_ids,
            "relation": rows.column("relation"),
        }
    )
    registered = held.persons if held.registry_empty else _registered(conn, rows, held.persons)
    position = pc.index_in(incoming.column("id_number"), value_set=registered.column("id_number"))
    known = np.asarray(pc.is_valid(position).to_numpy(zero_copy_only=False), dtype=bool)

    new = incoming.filter(pa.array(~known))
    if new.num_rows:
        constants = person_constants(batch_id, now)
        if defaults_preset:
            constants = {}  # preset_person_defaults() made them the columns' defaults
        copy_in(
            conn,
            "person",
            new.add_column(0, "id", reserve_ids(conn, "person", new.num_rows)),
            constants,
        )

    matched_index = np.flatnonzero(known)
    if len(matched_index) == 0:
        return MergeOutcome(new.num_rows, 0, 0, [], [])
    mine = incoming.take(pa.array(matched_index))
    given = _given_cells(rows).take(pa.array(matched_index))
    theirs = registered.take(pc.take(position, pa.array(matched_index)))
    inside = np.asarray(
        pc.starts_with(theirs.column("region_code"), jurisdiction).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    row_numbers = rows.column("row_number").to_numpy()
    foreign = [int(row_numbers[i]) for i in matched_index[~inside]]
    keep = pa.array(inside)
    mine, theirs, given = mine.filter(keep), theirs.filter(keep), given.filter(keep)

    merged = _merged_values(mine, theirs, given, present)
    changed = np.zeros(mine.num_rows, dtype=bool)
    for name in COMPARED:
        changed |= _differs(merged[name], theirs.column(name).combine_chunks())
    changes = _apply_changes(conn, merged, theirs, changed, now)
    unchanged = int((~changed).sum())
    return MergeOutcome(new.num_rows, len(changes), unchanged, foreign, changes)


def _given_cells(rows: pa.Table) -> pa.Table:
    """Per row: whether the file gave an address (building, unit or room) and
    a household number, or left those cells empty."""
    address = pc.or_(
        pc.or_(pc.not_equal(rows.column("building"), ""), pc.not_equal(rows.column("unit"), "")),
        pc.not_equal(rows.column("room"), ""),
    )
    return pa.table({"address": address, "household": rows.column("household_given")})


def _merged_values(
    mine: pa.Table, theirs: pa.Table, given: pa.Table, present: frozenset[str]
) -> dict[str, pa.Array]:
    """What each registered person becomes: the file's values, except where
    an empty cell or a missing column keeps what the registry knows. An
    address or household left empty keeps the known one while the person
    stays in the same community."""

    def col(table: pa.Table, name: str) -> pa.Array:
        return table.column(name).combine_chunks()

    same_region = pc.equal(col(mine, "region_code"), col(theirs, "region_code"))

    def keep_if_same_region(name: str, cell_given: pa.Array) -> pa.Array:
        keep = pc.and_(pc.and_(same_region, pc.is_valid(col(theirs, name))), pc.invert(cell_given))
        return pc.if_else(keep, col(theirs, name), col(mine, name))

    relation_empty = pc.equal(col(mine, "relation"), "")
    return {
        "id_type": col(mine, "id_type") if "id_type" in present else col(theirs, "id_type"),
        "name": col(mine, "name"),
        "sex": pc.coalesce(col(mine, "sex"), col(theirs, "sex")),
        "birth_date": pc.coalesce(col(mine, "birth_date"), col(theirs, "birth_date")),
        "phone": pc.coalesce(col(mine, "phone"), col(theirs, "phone")),
        "region_code": col(mine, "region_code"),
        "address_id": keep_if_same_region("address_id", col(given, "address")),
        "household_id": keep_if_same_region("household_id", col(given, "household")),
        "relation": pc.if_else(
            pc.and_(relation_empty, pc.is_valid(col(theirs, "relation"))),
            col(theirs, "relation"),
            col(mine, "relation"),
        ),
        "id": col(theirs, "id"),
    }


def _apply_changes(
    conn: Connection,
    merged: dict[str, pa.Array],
    theirs: pa.Table,
    changed: np.ndarray,
    now: datetime,
) -> list[tuple[int, str, dict[str, list[Any]]]]:
    if not changed.any():
        return []
    mask = pa.array(changed)
    update = pa.table({name: pc.filter(merged[name], mask) for name in ("id", *COMPARED)})
    old = theirs.filter(mask)
    conn.execute(text("DROP TABLE IF EXISTS stage_changed"))
    conn.execute(
        text(
            """CREATE TEMPORARY TABLE stage_changed (id BIGINT, id_type VARCHAR(32),
            name VARCHAR(100), sex VARCHAR(1), birth_date DATE, phone VARCHAR(20),
            region_code VARCHAR(12), address_id BIGINT, household_id BIGINT,
            relation VARCHAR(16))"""
        )
    )
    copy_in(conn, "stage_changed", update)
    sets = ", ".join(f"{name} = c.{name}" for name in COMPARED)
    stamp = db_time(conn, now)
    conn.execute(
        text(
            f"UPDATE person SET {sets}, updated_at = :now FROM stage_changed c "
            "WHERE person.id = c.id"
        ),
        {"now": stamp},
    )
    conn.execute(text("INSERT INTO import_touched (person_id) SELECT id FROM stage_changed"))
    conn.execute(text("DROP TABLE stage_changed"))
    changes = []
    new_rows, old_rows = update.to_pylist(), old.to_pylist()
    for after, before in zip(new_rows, old_rows, strict=True):
        diff = {
            name: [_jsonable(before[name]), _jsonable(after[name])]
            for name in COMPARED
            if _jsonable(before[name]) != _jsonable(after[name])
        }
        changes.append((int(after["id"]), str(after["region_code"]), diff))
    return changes


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    return str(value)


def create_touched(conn: Connection) -> None:
    """Persons this import changed (new ones carry the batch id)."""
    conn.execute(text("DROP TABLE IF EXISTS import_touched"))
    conn.execute(text("CREATE TEMPORARY TABLE import_touched (person_id BIGINT NOT NULL)"))


def drop_touched(conn: Connection) -> None:
    conn.execute(text("DROP TABLE IF EXISTS import_touched"))

"""A first load into an empty registry, on the database's terms: the
indexes of persons, addresses and households — their unique keys included
— and on PostgreSQL also their primary keys and the foreign keys from and
to them, are dropped before the merge and built once at the end of the
same transaction (one sort instead of a million index insertions; PostgreSQL
manual, "Populating a Database"). benchmarks/RESULTS.md has what each step
was worth."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, ForeignKeyConstraint, Index, Table, text
from sqlalchemy.schema import AddConstraint, DropConstraint

from fangkong.bulkio import is_postgres
from fangkong.people.models import Address, Household, Person

RELAXED_TABLES = tuple(cast(Table, m.__table__) for m in (Person, Address, Household))
# Memory for the sorts of a first load's rebuilt indexes and the hash joins
# that validate its foreign keys (defaults: 64 MB and 4 MB, which spill a
# million-row build to disk). Only for this transaction.
REBUILD_MEMORY = {"maintenance_work_mem": "512MB", "work_mem": "128MB"}


PERSON_CONSTANTS = ("resident", "import_batch_id", "created_at", "updated_at")


def person_constants(batch_id: int, now: datetime) -> dict[str, object]:
    """What every person a batch creates has in common (``PERSON_CONSTANTS``)."""
    return {"resident": True, "import_batch_id": batch_id, "created_at": now, "updated_at": now}


def _indexes() -> list[Index]:
    """Every index of the registry tables, the unique keys included."""
    return [index for table in RELAXED_TABLES for index in table.indexes]


def _foreign_keys() -> list[ForeignKeyConstraint]:
    """The registry tables' own foreign keys, then those of other tables that
    point at them (they go with the primary keys they depend on)."""
    from fangkong.models import Base  # every table, so none pointing here is missed

    own = [fk for table in RELAXED_TABLES for fk in table.foreign_key_constraints]
    pointing = [
        fk
        for table in Base.metadata.sorted_tables
        if table not in RELAXED_TABLES
        for fk in table.foreign_key_constraints
        if fk.referred_table in RELAXED_TABLES
    ]
    return own + pointing


def relax_constraints(conn: Connection, *, batch_id: int, now: datetime) -> bool:
    """First load into an empty registry: the indexes of persons, addresses
    and households — their unique keys included — and on PostgreSQL also
    their primary keys and the foreign keys from and to them, are dropped, to
    be built once at the end by :func:`restore_constraints` in the same
    transaction: one sort instead of a million index insertions and trigger
    calls (PostgreSQL manual, "Populating a Database"). The tables are
    locked meanwhile; the merge keeps every reference and key correct by
    construction, and the rebuilt keys check it again.

    On PostgreSQL the constant columns of the new persons also become the
    columns' defaults until then, so their COPY is a third narrower: the
    answer is whether that was done (``merge_rows(defaults_preset=...)``)."""
    if is_postgres(conn):
        conn.execute(text("LOCK TABLE person, address, household IN EXCLUSIVE MODE"))
        for setting, value in REBUILD_MEMORY.items():
            conn.execute(text(f"SET LOCAL {setting} = '{value}'"))
        for fk in _foreign_keys():
            conn.execute(DropConstraint(fk))
        for table in RELAXED_TABLES:  # a COPY into a primary key costs ~2 s per million
            conn.execute(DropConstraint(table.primary_key))
        _preset_person_defaults(conn, person_constants(batch_id, now))
    for index in _indexes():
        index.drop(conn)
    return is_postgres(conn)


def _preset_person_defaults(conn: Connection, constants: dict[str, object]) -> None:
    defaults = ", ".join(
        f"ALTER COLUMN {name} SET DEFAULT {_pg_literal(value)}" for name, value in constants.items()
    )
    conn.execute(text(f"ALTER TABLE person {defaults}"))


def _pg_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    raise TypeError(f"unsupported constant {value!r}")


def restore_constraints(conn: Connection) -> None:
    if is_postgres(conn):
        drops = ", ".join(f"ALTER COLUMN {name} DROP DEFAULT" for name in PERSON_CONSTANTS)
        conn.execute(text(f"ALTER TABLE person {drops}"))
        for table in RELAXED_TABLES:
            conn.execute(AddConstraint(table.primary_key))
    for index in _indexes():  # the unique ones check every key again
        index.create(conn)
    if is_postgres(conn):
        for fk in _foreign_keys():
            conn.execute(AddConstraint(fk))

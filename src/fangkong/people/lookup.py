"""Find many persons by identity number at once, for the bulk paths of
other capabilities (sampling files, lists from the tracing channels)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, text

from fangkong.bulkio import copy_in, copy_out, is_postgres

FOUND_SCHEMA = pa.schema(
    [
        ("id_number", pa.string()),
        ("person_id", pa.int64()),
        ("region_code", pa.string()),
        ("address_id", pa.int64()),
        ("household_id", pa.int64()),
        ("birth_date", pa.date32()),
    ]
)


def persons_by_id_number(conn: Connection, id_numbers: pa.Array, jurisdiction: str) -> pa.Table:
    """The registered persons (not merged into another record) among
    ``id_numbers`` whose community is in ``jurisdiction``; one row each, in
    no particular order. Others are simply absent, so a caller cannot tell a
    person of another county from no person at all."""
    unique = pc.unique(pc.drop_null(id_numbers))
    conn.execute(text("DROP TABLE IF EXISTS stage_lookup_id"))
    collate = ' COLLATE "C"' if is_postgres(conn) else ""
    conn.execute(text(f"CREATE TEMPORARY TABLE stage_lookup_id (id_number TEXT{collate})"))
    copy_in(conn, "stage_lookup_id", pa.table({"id_number": unique}))
    if is_postgres(conn):
        conn.execute(text("ANALYZE stage_lookup_id"))
    if jurisdiction and not jurisdiction.isdigit():
        raise ValueError(f"not a jurisdiction: {jurisdiction!r}")
    where = f"AND p.region_code LIKE '{jurisdiction}%'" if jurisdiction else ""
    found = copy_out(
        conn,
        f"""SELECT p.id_number, p.id, p.region_code, p.address_id, p.household_id, p.birth_date
        FROM stage_lookup_id s JOIN person p ON p.id_number = s.id_number
        WHERE p.merged_into_id IS NULL {where}""",
        FOUND_SCHEMA,
    )
    conn.execute(text("DROP TABLE stage_lookup_id"))
    return found

"""Moving Arrow tables in and out of the database in bulk, with no row
going through the ORM: ``COPY`` on PostgreSQL, ``executemany`` and plain
cursors on SQLite. Used by every bulk path (registry import, later tube and
result ingestion)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import psycopg.errors
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import pq
from sqlalchemy import Connection, TextClause, bindparam, text

from fangkong.db import UtcDateTime

PIECE_ROWS = 100_000  # rows per COPY write / executemany call


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def db_time(conn: Connection, moment: datetime) -> object:
    """A UTC time as a bind value for raw SQL (SQLite stores naive UTC text)."""
    return moment if is_postgres(conn) else moment.replace(tzinfo=None).isoformat(sep=" ")


def timed_text(sql: str, *names: str) -> TextClause:
    """A statement whose named parameters ``names`` are times, bound as the
    ORM binds them (so SQLite stores them in the same text form)."""
    return text(sql).bindparams(*(bindparam(n, type_=UtcDateTime()) for n in names))


def copy_in(
    conn: Connection,
    table: str,
    rows: pa.Table,
    constants: Mapping[str, object] | None = None,
) -> None:
    """Append ``rows`` (column names = table columns) to ``table``; every
    appended row also gets ``constants`` (column -> one value for all rows),
    written inline in the statement on SQLite, as a repeated column on
    PostgreSQL."""
    if rows.num_rows == 0:
        return
    constants = dict(constants or {})
    raw = conn.connection.driver_connection
    assert raw is not None
    if is_postgres(conn):
        rows = _as_text(rows)
        for name, value in constants.items():
            rows = rows.append_column(name, pa.repeat(pa.scalar(_copy_text(value)), rows.num_rows))
        columns = ", ".join(rows.column_names)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            for start in range(0, rows.num_rows, PIECE_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(
                    rows.slice(start, PIECE_ROWS),
                    buffer,
                    write_options=pacsv.WriteOptions(include_header=False),
                )
                copy.write(buffer.getbuffer())
        return
    columns = ", ".join([*rows.column_names, *constants])
    placeholders = ", ".join(
        ["?"] * rows.num_columns + [_sqlite_literal(v) for v in constants.values()]
    )
    statement = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
    for start in range(0, rows.num_rows, PIECE_ROWS):
        piece = rows.slice(start, PIECE_ROWS)
        values = [_sqlite_values(piece.column(i)) for i in range(piece.num_columns)]
        raw.executemany(statement, zip(*values, strict=True))


def _copy_text(value: object) -> str:
    """One constant as COPY's CSV text (aware times as UTC with '+00')."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return _utc_naive(value).isoformat(sep=" ") + "+00"
    if isinstance(value, int | str | date):
        return str(value)
    raise TypeError(f"unsupported constant {value!r}")


def _sqlite_literal(value: object) -> str:
    """One constant as a SQLite literal, stored as the driver would store it."""
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, datetime):
        value = _utc_naive(value).isoformat(sep=" ")
    if isinstance(value, date):
        value = value.isoformat()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"unsupported constant {value!r}")


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given; Fangkong stores only aware UTC times")
    return value.astimezone(UTC).replace(tzinfo=None)


def _as_text(rows: pa.Table) -> pa.Table:
    """Dates and timestamps as ISO text: Arrow formats time-zone-aware
    timestamps twenty times slower than naive ones. Aware timestamps are
    UTC, so they are written as naive UTC with an explicit '+00'."""
    columns = []
    for column in rows.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            naive = column.cast(pa.timestamp(column.type.unit))
            column = pc.binary_join_element_wise(pc.cast(naive, pa.string()), "+00", "")
        elif pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            column = pc.cast(column, pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=rows.column_names)


def _sqlite_values(column: pa.ChunkedArray) -> list[object]:
    if pa.types.is_date32(column.type):
        return list(pc.cast(column, pa.string()).to_pylist())
    if pa.types.is_timestamp(column.type):
        return [
            None if v is None else v.replace(tzinfo=None).isoformat(sep=" ")
            for v in column.to_pylist()
        ]
    return list(column.to_pylist())


SQLITE_BULK_CACHE_KIB = 256 * 1024


@contextmanager
def bulk_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a page cache large enough for a million-row table and its
    unique indexes while a bulk path runs (the default 2 MiB turns each
    index insertion into page reads); the connection's setting is restored
    afterwards. Nothing to do on PostgreSQL."""
    if is_postgres(conn):
        yield
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


def copy_out(conn: Connection, query: str, schema: pa.Schema) -> pa.Table:
    """Run ``query`` (no parameters; its columns in ``schema`` order) and
    return its rows as an Arrow table."""
    raw = conn.connection.driver_connection
    assert raw is not None
    if is_postgres(conn):
        data = _copy_out_bytes(raw, f"COPY ({query}) TO STDOUT WITH (FORMAT csv)")
        if not data:
            return schema.empty_table()
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=schema.names),
            convert_options=pacsv.ConvertOptions(
                column_types=schema,
                true_values=["t"],  # how PostgreSQL's COPY writes booleans
                false_values=["f"],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    cursor = raw.execute(query)
    rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        if pa.types.is_date32(field.type):
            text = pa.array(values, type=pa.string())
            arrays.append(pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s"), pa.date32()))
        elif pa.types.is_timestamp(field.type):  # SQLite stores naive UTC text
            moments = [None if v is None else raw_time(v) for v in values]
            arrays.append(pa.array(moments, type=field.type))
        elif pa.types.is_boolean(field.type):  # SQLite answers 0 and 1
            arrays.append(pa.array([None if v is None else bool(v) for v in values], pa.bool_()))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _copy_out_bytes(raw: psycopg.Connection[Any], statement: str) -> bytes:
    """The output of a ``COPY ... TO STDOUT``, read with libpq's
    ``PQgetCopyData`` in a tight loop. The server sends one message per row,
    and psycopg's ``Copy`` iterator costs twice as much per message (200,000
    rows: 0.40 s against 0.21 s, benchmarks/RESULTS.md); a bulk lookup
    brings back millions. Errors surface as psycopg's own exceptions."""
    pgconn = raw.pgconn
    pgconn.send_query(statement.encode())
    while pgconn.flush():  # the connection is non-blocking: push the query out
        pass
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        _discard_results(pgconn)
        if result is None:
            raise psycopg.OperationalError("COPY TO STDOUT returned no result")
        raise psycopg.errors.error_from_result(result, encoding=raw.info.encoding)
    chunks: list[bytes] = []
    read = pgconn.get_copy_data
    while True:
        size, block = read(0)  # 0: wait for the next row
        if size < 0:
            break
        chunks.append(bytes(block))
    final = pgconn.get_result()
    _discard_results(pgconn)
    if size == -2 or final is None or final.status != pq.ExecStatus.COMMAND_OK:
        if final is None:
            raise psycopg.OperationalError("COPY TO STDOUT ended without a result")
        raise psycopg.errors.error_from_result(final, encoding=raw.info.encoding)
    return b"".join(chunks)


def _discard_results(pgconn: pq.abc.PGconn) -> None:
    while pgconn.get_result() is not None:
        pass


def raw_time(value: object) -> datetime:
    """A timestamp as a raw cursor answers it, aware (SQLite answers naive
    UTC text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def values_list(values: Sequence[str]) -> str:
    """A SQL list literal of plain codes (digits, letters, '-', '/', '_' only),
    for short lists of region codes inside COPY queries."""
    for value in values:
        if not all(ch.isalnum() or ch in "-_/" for ch in value):
            raise ValueError(f"not a plain code: {value!r}")
    return ", ".join(f"'{v}'" for v in values) or "NULL"


def reserve_ids(conn: Connection, table: str, count: int) -> pa.Array:
    """``count`` fresh primary keys for ``table``, so rows can be appended with
    their ids and need not be read back. The caller must hold a lock that
    keeps other writers out of ``table`` (on PostgreSQL a SHARE ROW EXCLUSIVE
    table lock: an insert takes its own table lock before drawing from the
    sequence; on SQLite the transaction's write lock)."""
    if count == 0:
        return pa.array([], type=pa.int64())
    if is_postgres(conn):
        sequence = f"pg_get_serial_sequence('{table}', 'id')"
        first = int(conn.execute(text(f"SELECT nextval({sequence})")).scalar_one())
        conn.execute(text(f"SELECT setval({sequence}, :last)"), {"last": first + count - 1})
    else:
        first = 1 + int(
            conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
        )
    return pa.array(range(first, first + count), type=pa.int64())


def key_text(conn: Connection) -> str:
    """The SQL type of a staged key column compared with the registry's code
    columns (the "C" collation on PostgreSQL, so joins use their indexes)."""
    return 'TEXT COLLATE "C"' if is_postgres(conn) else "TEXT"


@contextmanager
def staged(conn: Connection, name: str, columns: str, rows: pa.Table) -> Iterator[str]:
    """A temporary table ``name`` with ``columns`` (SQL column definitions, in
    ``rows``' order) holding ``rows``, analysed on PostgreSQL so the joins on
    it are planned for its size, and dropped afterwards. Yields its name."""
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({columns})"))
    try:
        copy_in(conn, name, rows)
        if is_postgres(conn):
            conn.execute(text(f"ANALYZE {name}"))
        yield name
    finally:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


ANALYZE_AFTER_ROWS = 10_000


def analyze_after_bulk(conn: Connection, tables: Sequence[str], rows: int) -> None:
    """Refresh PostgreSQL's statistics of tables a bulk path just grew, inside
    the same transaction (ANALYZE counts the transaction's own rows): the
    queries that follow — coverage over a freshly loaded round, the
    follow-up joins — are otherwise planned for the empty tables the
    statistics still describe (PostgreSQL manual, "Populating a Database").
    Autovacuum would get there, but minutes later."""
    if is_postgres(conn) and rows >= ANALYZE_AFTER_ROWS:
        conn.execute(text(f"ANALYZE {', '.join(tables)}"))


def lock_for_append(conn: Connection, tables: Sequence[str]) -> None:
    """Keep other writers out of ``tables`` until the transaction ends (readers
    go on); a second import waits for the first. SQLite's write lock already
    does this."""
    if is_postgres(conn):
        conn.execute(text(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE"))

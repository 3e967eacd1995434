"""Arrow in and out of both databases: what goes in comes back equal, and a
failing read raises the driver's error instead of returning a short table."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import psycopg
import pyarrow as pa
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from fangkong.bulkio import copy_in, copy_out

SCHEMA = pa.schema(
    [
        ("n", pa.int64()),
        ("label", pa.string()),
        ("day", pa.date32()),
        ("flag", pa.bool_()),
        ("at", pa.timestamp("us", "UTC")),
    ]
)


def test_rows_copied_in_come_back_out_equal_with_nulls_commas_and_quotes(
    session: Session,
) -> None:
    conn = session.connection()
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE io_probe "
            "(n BIGINT, label TEXT, day DATE, flag BOOLEAN, at TIMESTAMP WITH TIME ZONE)"
        )
    )
    rows = pa.Table.from_pylist(
        [
            {
                "n": i,
                "label": f'标签,"{i}"' if i % 3 else None,
                "day": date(2022, 3, 1 + i % 28),
                "flag": i % 2 == 0,
                "at": datetime(2022, 3, 14, i % 24, tzinfo=UTC),
            }
            for i in range(2_500)
        ],
        schema=SCHEMA,
    )
    copy_in(conn, "io_probe", rows)

    back = copy_out(conn, "SELECT n, label, day, flag, at FROM io_probe ORDER BY n", SCHEMA)

    assert back.to_pylist() == rows.to_pylist()


def test_a_failing_read_raises_the_drivers_error(session: Session, backend: str) -> None:
    conn = session.connection()
    expected = psycopg.errors.UndefinedColumn if backend == "postgres" else sqlite3.OperationalError
    with pytest.raises(expected, match="no_such_column"):
        copy_out(
            conn, "SELECT no_such_column FROM (SELECT 1 AS n) x", pa.schema([("v", pa.int64())])
        )

"""Registry import benchmark: 1,000,000 synthetic persons into PostgreSQL and
SQLite, first load and re-import, beside a plain bulk load of the same rows
into an unindexed table in the same run.

    .venv/bin/python benchmarks/registry_import.py [--persons N] [--repeat R]
        [--backends postgres,sqlite]

Prints a Markdown table of medians; record it in benchmarks/RESULTS.md.
The PostgreSQL server is FANGKONG_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres); databases are created and
dropped by the script.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fangkong.access.service import SYSTEM
from fangkong.db import make_engine
from fangkong.migrate import upgrade
from fangkong.people.importing import import_people
from fangkong.sim.population import generate_population, write_population

ADMIN_URL = os.environ.get(
    "FANGKONG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
OUT = Path(__file__).parent / "out"
REGION = "131002"  # Anci district, Langfang


def population_file(persons: int, seed: int = 1) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"population-{REGION}-{persons}-{seed}.csv"
    if not path.exists():
        started = time.perf_counter()
        write_population(generate_population(REGION, persons, seed), path)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    return path


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"fangkong_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/bench.sqlite3"


def plain_copy_postgres(url: str, data: bytes, headers: list[str]) -> float:
    """COPY of the file's rows into an unindexed table of text columns."""
    columns = ", ".join(f'"c{i}" text' for i in range(len(headers)))
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as c:
        c.execute(f"CREATE TABLE plain_copy ({columns})")
        started = time.perf_counter()
        with (
            c.cursor() as cursor,
            cursor.copy("COPY plain_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            copy.write(data)
        c.commit()
        elapsed = time.perf_counter() - started
        c.execute("DROP TABLE plain_copy")
        c.commit()
    return elapsed


def plain_insert_sqlite(url: str, data: bytes, headers: list[str]) -> float:
    """The SQLite counterpart: csv module + executemany into an unindexed table."""
    path = make_url(url).database
    assert path
    conn = sqlite3.connect(path)
    conn.execute(
        f"CREATE TABLE plain_copy ({', '.join(f'c{i} TEXT' for i in range(len(headers)))})"
    )
    started = time.perf_counter()
    rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(rows)
    conn.executemany(f"INSERT INTO plain_copy VALUES ({', '.join('?' for _ in headers)})", rows)
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE plain_copy")
    conn.commit()
    conn.close()
    return elapsed


def timed_import(url: str, data: bytes, name: str) -> tuple[float, str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            started = time.perf_counter()
            result = import_people(session, SYSTEM, data, name)
            return time.perf_counter() - started, result.summary
    finally:
        engine.dispose()


def run_backend(backend: str, data: bytes, name: str, repeat: int) -> dict[str, list[float]]:
    database: Callable[[], Iterator[str]] = (
        postgres_database if backend == "postgres" else sqlite_database  # type: ignore[assignment]
    )
    plain = plain_copy_postgres if backend == "postgres" else plain_insert_sqlite
    headers = data.decode("utf-8-sig").split("\n", 1)[0].split(",")
    timings: dict[str, list[float]] = {"plain": [], "first": [], "again": []}
    for attempt in range(repeat):
        with database() as url:  # type: ignore[attr-defined]
            upgrade(url)
            timings["plain"].append(plain(url, data, headers))
            first, summary_first = timed_import(url, data, name)
            again, summary_again = timed_import(url, data, name)
            timings["first"].append(first)
            timings["again"].append(again)
            print(
                f"{backend} run {attempt + 1}: plain {timings['plain'][-1]:.2f} s, "
                f"first {first:.2f} s ({summary_first}), again {again:.2f} s ({summary_again})",
                flush=True,
            )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="postgres,sqlite")
    args = parser.parse_args()
    path = population_file(args.persons)
    data = path.read_bytes()
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    lines = [
        "| backend | plain bulk load (s) | first import (s) | rows/s | x plain | "
        "re-import (s) | rows/s | x plain |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for backend in args.backends.split(","):
        t = run_backend(backend, data, path.name, args.repeat)
        plain, first, again = (statistics.median(t[k]) for k in ("plain", "first", "again"))
        lines.append(
            f"| {backend} | {plain:.2f} | {first:.2f} | {args.persons / first:,.0f} | "
            f"{first / plain:.1f} | {again:.2f} | {args.persons / again:,.0f} | "
            f"{again / plain:.1f} |"
        )
    print(f"\n{args.persons:,} persons, median of {args.repeat} runs\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

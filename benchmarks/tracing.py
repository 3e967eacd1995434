"""Tracing benchmark: risk persons from the four channels matched to a city's
registry and merged, on PostgreSQL.

    .venv/bin/python benchmarks/tracing.py [--persons 5000000] [--records 500000] [--repeat 3]

(``--persons 1000000`` for a quick run.)

1. the registry: synthetic persons of Langfang (1310), the file and import
   of benchmarks/mass_testing.py (timed, for reference);
2. the lists: about ``--records`` channel records from
   :mod:`fangkong.sim.tracing` — screening, cross-region requests, big-data
   push and self-reports, the same persons found by several channels, reports
   sent twice, dirty identity numbers and phones, visitors the registry does
   not hold — one CSV per channel;
3. per repeat: a plain COPY of the four files into an unindexed table of
   text columns (the baseline, same run); then ``import_risk_persons`` of
   the four files one after the other as the city command (jurisdiction
   1310), timed end to end (read, check, match, merge, commit) with where
   the time goes; then the same four files again (nothing changes). The
   risk tables and the persons the import created are emptied between
   repeats;
4. the graph: 5,000 cases, the imported close contacts named by them, two
   exposures from each close contact and links between cases
   (:func:`build_outbreak`); then secondary contacts for the whole graph
   (the first refresh writes them all; the second keeps them in line) and
   the clusters (:func:`time_graph`).

Prints a Markdown table of medians (targets: matching at least 50,000
incoming records per second; secondary contacts and clusters for the whole
graph under 5 seconds).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fangkong.access.service import SYSTEM, Actor
from fangkong.db import make_engine
from fangkong.migrate import upgrade
from fangkong.people.importing import import_people
from fangkong.sim.tracing import channel_records, registry_persons, write_channel_file
from fangkong.tracing import risk_import
from fangkong.tracing.clusters import clusters
from fangkong.tracing.graph_service import refresh_secondary_contacts
from fangkong.tracing.models import PendingMatch, RiskPerson, RiskSource
from mass_testing import OUT, plain_copy, population_file, timed

CITY = "1310"  # Langfang
CITY_COMMAND = Actor(None, "benchmark", "commander", CITY)
REPORTS_FROM = datetime(2022, 3, 14, 0, 0)  # local: one day of lists
# Steps of import_risk_persons timed separately (their names in risk_import).
PHASES = ("_read_cells", "match_records", "_keep_pending", "merge_risks", "audit_changes")


def channel_files(engine: Engine, persons: int, records: int) -> dict[str, Path]:
    """The four channels' lists drawn from the registry just imported."""
    with Session(engine) as session:
        every = max(1, persons // 1_000_000)
        registry = registry_persons(session.connection(), CITY, every=every)
        session.commit()
    lists, truth = channel_records(registry, records=records, seed=1, reported_from=REPORTS_FROM)
    files = {}
    for channel, table in lists.items():
        path = OUT / f"tracing-{persons}-{channel}.csv"
        write_channel_file(table, path, chinese_headers=channel == "screening")
        files[channel] = path
    print(
        f"  lists: {sum(t.num_rows for t in lists.values()):,} records, "
        + ", ".join(f"{c} {t.num_rows:,}" for c, t in lists.items())
        + f"; {len(truth.registered):,} registered persons and "
        f"{truth.visitors.num_rows:,} visitors at risk",
        flush=True,
    )
    return files


@contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Seconds spent in each of ``PHASES`` while the block runs."""
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(risk_import, name) for name in PHASES}

    def timer(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return run

    for name, step in originals.items():
        setattr(risk_import, name, timer(name, step))
    try:
        yield spent
    finally:
        for name, step in originals.items():
            setattr(risk_import, name, step)


def import_lists(engine: Engine, files: dict[str, Path], label: str) -> float:
    """``import_risk_persons`` of every channel's file; total seconds."""
    total = 0.0
    for channel, path in files.items():
        data = path.read_bytes()
        with Session(engine) as session:

            def run(data: bytes = data, name: str = path.name, channel: str = channel) -> Any:
                return risk_import.import_risk_persons(
                    session, CITY_COMMAND, data, name, channel=channel
                )

            seconds, _ = timed(f"{label} {channel}", run)
        total += seconds
    return total


CASES = 5_000
CONTACTS_OF_EACH_CLOSE_CONTACT = 2  # the edges that make secondary contacts
CASE_LINKS = 4_000  # exposures between cases (a third of them transmissions)


def build_outbreak(url: str) -> dict[str, int]:
    """5,000 cases among the registry's persons not at risk, the imported
    close contacts each named by one case, each close contact exposing two
    more persons, and links between cases; in SQL, as the graph's input
    (the services that record them one by one are tested elsewhere)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM exposure")
        conn.execute("DELETE FROM tracing_case")
        conn.execute(
            f"""INSERT INTO tracing_case (person_id, region_code, classification, severity,
                detection_route, sampled_at, confirmed_at, controlled, control_basis,
                reported_by, created_at)
            SELECT p.id, p.region_code, 'confirmed', 'mild', 'mass_testing',
                timestamptz '2022-03-10 00:00+00' + (p.id % 96) * interval '1 hour',
                timestamptz '2022-03-10 12:00+00' + (p.id % 96) * interval '1 hour',
                false, '', '', now()
            FROM person p
            WHERE p.resident AND p.id % 97 = 0
                AND NOT EXISTS (SELECT 1 FROM risk_person r WHERE r.person_id = p.id)
            ORDER BY p.id LIMIT {CASES}"""
        )
        numbered = (
            "(SELECT person_id, region_code, row_number() OVER (ORDER BY id) - 1 AS k "
            "FROM tracing_case)"
        )
        conn.execute(
            f"""INSERT INTO exposure (source_person_id, person_id, region_code, setting,
                last_exposure_at, transmission, recorded_at)
            SELECT c.person_id, r.person_id, r.region_code, 'household',
                timestamptz '2022-03-11 00:00+00', false, timestamptz '2022-03-12 00:00+00'
            FROM risk_person r JOIN {numbered} c ON c.k = r.id % {CASES}
            WHERE r.category = 'close' AND r.person_id <> c.person_id"""
        )
        for n in range(CONTACTS_OF_EACH_CLOSE_CONTACT):
            conn.execute(
                f"""INSERT INTO exposure (source_person_id, person_id, region_code, setting,
                    last_exposure_at, transmission, recorded_at)
                SELECT r.person_id, p.id, p.region_code, 'work',
                    timestamptz '2022-03-11 06:00+00', false, timestamptz '2022-03-12 06:00+00'
                FROM risk_person r
                JOIN person p ON p.id = (SELECT max(id) FROM person)
                    - (hashint8(r.person_id * {n + 2}) & 1048575)
                WHERE r.category = 'close' AND p.id <> r.person_id
                ON CONFLICT DO NOTHING"""
            )
        conn.execute(
            f"""INSERT INTO exposure (source_person_id, person_id, region_code, setting,
                last_exposure_at, transmission, recorded_at)
            SELECT a.person_id, b.person_id, b.region_code, 'social', NULL, i % 3 = 0,
                timestamptz '2022-03-13 00:00+00'
            FROM generate_series(1, {CASE_LINKS}) i
            JOIN {numbered} a ON a.k = (hashint4(i) & 2147483647) % {CASES}
            JOIN {numbered} b ON b.k = (hashint4(i + 1000003) & 2147483647) % {CASES}
            WHERE a.person_id <> b.person_id
            ON CONFLICT DO NOTHING"""
        )
        conn.execute("VACUUM ANALYZE tracing_case, exposure")
        row = conn.execute(
            "SELECT (SELECT count(*) FROM tracing_case), (SELECT count(*) FROM exposure)"
        ).fetchone()
        assert row is not None
        return {"cases": int(row[0]), "edges": int(row[1])}


def time_graph(engine: Engine, url: str) -> dict[str, float]:
    """Secondary contacts and clusters for the whole graph (target: under 5 s):
    the first refresh writes every secondary contact the graph implies; the
    second finds nothing to change (the cost of keeping them in line)."""
    made = build_outbreak(url)
    print(f"  outbreak: {made['cases']:,} cases, {made['edges']:,} exposures", flush=True)
    figures: dict[str, float] = {}
    with Session(engine, expire_on_commit=False) as session:
        figures["graph_first"], first = timed(
            "secondary contacts, first refresh", lambda: refresh_secondary_contacts(session, SYSTEM)
        )
        print(f"    {first}", flush=True)
        figures["graph_steady"], _ = timed(
            "secondary contacts, refresh again", lambda: refresh_secondary_contacts(session, SYSTEM)
        )
        figures["clusters"], found = timed(
            "clusters, whole graph", lambda: clusters(session, SYSTEM)
        )
        print(f"    {len(found):,} clusters of two cases or more", flush=True)
    print(f"    load average {os.getloadavg()[0]:.2f}", flush=True)
    return figures


def empty_risk_tables(url: str) -> None:
    """Back to the registry alone: no risk persons, sources, pending
    records, nor the persons the imports created."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE risk_source, pending_match, request_item, risk_person CASCADE")
        conn.execute("SET session_replication_role = replica")  # no FK checks: throwaway data
        conn.execute("DELETE FROM person WHERE NOT resident")
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute("VACUUM ANALYZE person, risk_person, risk_source, pending_match")


def one_run(engine: Engine, url: str, files: dict[str, Path]) -> dict[str, float]:
    figures: dict[str, float] = {}
    figures["plain"] = sum(plain_copy(url, path.read_bytes()) for path in files.values())
    print(f"  plain COPY of the four lists: {figures['plain']:.2f} s", flush=True)
    with phase_timers() as spent:
        figures["import"] = import_lists(engine, files, "import")
    figures.update(spent)
    with Session(engine) as session:
        risk_persons = session.scalar(select(func.count()).select_from(RiskPerson))
        sources = session.scalar(select(func.count()).select_from(RiskSource))
        pending = session.scalar(select(func.count()).select_from(PendingMatch))
    print(
        f"    {risk_persons:,} risk persons, {sources:,} sources, {pending:,} pending", flush=True
    )
    figures["again"] = import_lists(engine, files, "again")
    figures.update(time_graph(engine, url))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=5_000_000)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    admin = os.environ.get(
        "FANGKONG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    registry = population_file(args.persons).read_bytes()
    name = f"fangkong_bench_tracing_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = (
        make_url(admin).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    )
    runs = []
    try:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            timed("registry import", lambda: import_people(session, SYSTEM, registry, "pop.csv"))
        files = channel_files(engine, args.persons, args.records)
        for attempt in range(args.repeat):
            if attempt:
                empty_risk_tables(url)
            print(f"run {attempt + 1} ({datetime.now(UTC):%H:%M:%S} UTC)", flush=True)
            runs.append(one_run(engine, url, files))
        engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(runs, files, args)


def report(runs: list[dict[str, float]], files: dict[str, Path], args: argparse.Namespace) -> None:
    def median(key: str) -> float:
        return statistics.median(run.get(key, 0.0) for run in runs)

    records = sum(path.read_bytes().count(b"\n") - 1 for path in files.values())
    print(f"\n{args.persons:,} persons, {records:,} records, median of {len(runs)} runs\n")
    print("| step | seconds | rate | target |")
    print("| --- | --- | --- | --- |")
    print(
        f"| plain COPY of the four lists | {median('plain'):.2f} | "
        f"{records / median('plain'):,.0f} rows/s | (baseline) |"
    )
    print(
        f"| matched and merged, end to end | {median('import'):.2f} | "
        f"{records / median('import'):,.0f} records/s "
        f"({median('import') / median('plain'):.1f}x plain) | >= 50,000/s |"
    )
    for phase in PHASES:
        print(f"| - {phase.strip('_').replace('_', ' ')} | {median(phase):.2f} | | |")
    matching = median("_read_cells") + median("match_records")
    print(
        f"| matching alone (read and check cells, match, create non-residents) | "
        f"{matching:.2f} | {records / matching:,.0f} records/s | >= 50,000/s |"
    )
    print(
        f"| the same lists again (nothing changes) | {median('again'):.2f} | "
        f"{records / median('again'):,.0f} records/s | |"
    )
    steady = median("graph_steady") + median("clusters")
    print(
        f"| secondary contacts, first refresh (writes them all) | {median('graph_first'):.2f} | | |"
    )
    first = median("graph_first") + median("clusters")
    print(f"| first refresh and clusters, whole graph | {first:.2f} | | < 5 s |")
    print(
        f"| secondary contacts and clusters, whole graph (refresh + clusters) | {steady:.2f} | "
        f"| < 5 s |"
    )


if __name__ == "__main__":
    main()

"""Mass-testing benchmark: a round over a Langfang-sized city on PostgreSQL.

    .venv/bin/python benchmarks/mass_testing.py [--persons 5000000] [--repeat 3]

1. the registry: synthetic persons of Langfang (1310) from the generator,
   imported through the registry import (timed, for reference);
2. per repeat, a new round of 10-swab pools: the sampling records of ~97 %
   of the city (infants and absentees stay away), bulk-ingested with
   ``import_samples`` — beside a plain COPY of the same file into an
   unindexed table of text columns in the same run — then uploaded again
   (nothing changes);
3. coverage of the whole city down to households (``coverage_by_community``:
   every community with its households missing someone, rolled up);
4. lab results at 0.01 % prevalence: the negative tubes in one file, then the
   positive ones alone, timed from the upload to every member of every
   positive pool under temporary control with a re-sampling task (the
   import commits before it returns).

Prints a Markdown table of medians; record it in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import SYSTEM
from fangkong.config import get_settings
from fangkong.db import make_engine
from fangkong.migrate import upgrade
from fangkong.people.importing import import_people
from fangkong.sim.population import generate_population, write_population
from fangkong.sim.sampling import lab_results, round_population, sampling_records, write_csv
from fangkong.testing.coverage import coverage_by_community
from fangkong.testing.models import FollowUpTask, TemporaryControl
from fangkong.testing.result_import import import_results
from fangkong.testing.rounds import AreaPolicy, create_round, infant_cutoff
from fangkong.testing.rules import Coverage, roll_up
from fangkong.testing.sample_import import import_samples

HERE = Path(__file__).parent
OUT = HERE / "out"
CITY = "1310"  # Langfang
CITY_CODE = "131000"
PREVALENCE = 0.0001


def population_file(persons: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"population-{CITY}-{persons}-1.csv"
    if not path.exists():
        started = time.perf_counter()
        write_population(generate_population(CITY_CODE, persons, 1), path)
        print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def csv_bytes(table: pa.Table) -> bytes:
    path = OUT / "tmp-table.csv"
    write_csv(table, path)
    data = path.read_bytes()
    path.unlink()
    return data


def plain_copy(url: str, data: bytes) -> float:
    """COPY of the same file into an unindexed table of text columns."""
    width = data.split(b"\n", 1)[0].count(b",") + 1
    columns = ", ".join(f"c{i} text" for i in range(width))
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE TABLE plain_copy ({columns})")
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY plain_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            copy.write(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE plain_copy")
        conn.commit()
    return elapsed


def timed(label: str, action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    summary = getattr(result, "summary", "")
    print(f"  {label}: {elapsed:.2f} s {summary}", flush=True)
    return elapsed, result


def one_round(engine, url: str, attempt: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    figures: dict[str, float] = {}
    with Session(engine) as session:
        start = clock.now() - timedelta(hours=20)
        testing_round = create_round(
            session,
            SYSTEM,
            name=f"bench round {attempt}",
            areas=[AreaPolicy(CITY_CODE, 10)],
            starts_at=start,
            ends_at=start + timedelta(hours=24),
        )
        round_id = testing_round.id
        persons = round_population(session.connection(), [CITY])
        session.commit()
        records = sampling_records(
            persons,
            pool_size=10,
            tube_prefix=f"B{attempt}T",
            started_at=start.astimezone(get_settings().zone).replace(tzinfo=None),
            window_hours=12,
            infant_cutoff=infant_cutoff(testing_round),
            seed=attempt,
        )
    data = csv_bytes(records)
    rows = records.num_rows
    figures["records"] = rows
    figures["plain"] = plain_copy(url, data)
    print(f"  plain COPY of {rows:,} sampling records: {figures['plain']:.2f} s", flush=True)
    with Session(engine) as session:
        figures["ingest"], _ = timed(
            "sampling ingestion", lambda: import_samples(session, SYSTEM, round_id, data, "s.csv")
        )
    with Session(engine) as session:
        figures["again"], _ = timed(
            "same file again", lambda: import_samples(session, SYSTEM, round_id, data, "s.csv")
        )
    with Session(engine) as session:

        def coverage() -> dict[str, Coverage]:
            by_community = coverage_by_community(session, SYSTEM, round_id, CITY)
            for length in (9, 6, 4):
                roll_up(by_community, length)
            return by_community

        figures["coverage"], by_community = timed("coverage, city down to households", coverage)
        total = sum(by_community.values(), Coverage())
        assert total.due == total.sampled + total.missing
        print(
            f"    due {total.due:,}, sampled {total.sampled:,}, missing {total.missing:,}, "
            f"exempt {total.exempt:,}, households missing someone {total.households_missing:,}",
            flush=True,
        )
    results, infected = lab_results(records, prevalence=PREVALENCE, seed=attempt, hours_after=2)
    positive = pc.equal(results.column("result"), "positive")
    negatives, positives = results.filter(pc.invert(positive)), results.filter(positive)
    with Session(engine) as session:
        figures["results"], _ = timed(
            f"{negatives.num_rows:,} negative results",
            lambda: import_results(session, SYSTEM, csv_bytes(negatives), "neg.csv"),
        )
    positive_data = csv_bytes(positives)
    with Session(engine) as session:
        figures["followup"], outcome = timed(
            f"{positives.num_rows} positive pools ({len(infected)} infected persons) "
            "to members under control with a task",
            lambda: import_results(session, SYSTEM, positive_data, "pos.csv"),
        )
        controlled = session.scalar(
            select(func.count())
            .select_from(TemporaryControl)
            .where(TemporaryControl.round_id == round_id, TemporaryControl.ended_at.is_(None))
        )
        tasks = session.scalar(
            select(func.count()).select_from(FollowUpTask).where(FollowUpTask.round_id == round_id)
        )
        assert controlled == tasks == outcome.controlled, (controlled, tasks, outcome.controlled)
        print(f"    {controlled} members under control, {tasks} tasks", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    admin = os.environ.get(
        "FANGKONG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        flush=True,
    )
    registry = population_file(args.persons).read_bytes()
    name = f"fangkong_bench_testing_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = (
        make_url(admin).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    )
    try:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            timed("registry import", lambda: import_people(session, SYSTEM, registry, "pop.csv"))
        runs = [one_round(engine, url, attempt + 1) for attempt in range(args.repeat)]
        engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    records = median("records")
    print(f"\n{args.persons:,} persons, median of {args.repeat} rounds\n")
    print("| step | seconds | rate | target |")
    print("| --- | --- | --- | --- |")
    print(
        f"| plain COPY of the sampling file ({records:,.0f} rows) | {median('plain'):.2f} | "
        f"{records / median('plain'):,.0f} rows/s | (baseline) |"
    )
    print(
        f"| sampling ingestion | {median('ingest'):.2f} | {records / median('ingest'):,.0f} "
        f"records/s ({median('ingest') / median('plain'):.1f}x plain) | >= 100,000/s |"
    )
    print(
        f"| same file again (nothing changes) | {median('again'):.2f} | "
        f"{records / median('again'):,.0f} records/s | |"
    )
    print(f"| coverage, whole city down to households | {median('coverage'):.2f} | | < 10 s |")
    print(f"| negative results ({records / 10:,.0f} tubes) | {median('results'):.2f} | | |")
    print(
        f"| positive upload to every member controlled with a task | {median('followup'):.2f} | "
        "| < 1 s |"
    )


if __name__ == "__main__":
    main()

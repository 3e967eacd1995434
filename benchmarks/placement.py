"""Placement benchmark: 20,000 close contacts placed in one batch into 200
quarantine sites with 30,000 rooms, on PostgreSQL.

    .venv/bin/python benchmarks/placement.py [--contacts 20000] [--facilities 200] [--repeat 3]

Builds its own database (migrations), synthetic data only, in SQL:

- 200 quarantine sites of Anci (131002), each a building of 5 floors of 30
  rooms (30,000 rooms); every fifth room takes two (a child with a parent),
  every fiftieth lacks a private bathroom (never used); inspections passed;
- 2,000 cases and 20,000 close contacts in households of two, a
  household exposed together to one case (so a case's contacts are one
  exposure group of about ten), one contact in eight a child below 14;
  every contact a risk person for centralized quarantine, with the
  exposure edge that names their case.

Per repeat, side by side: the pure planner alone on the batch's input
(``plan_placement``), the preview (reads, exposure keys, plan; writes
nothing), and ``place_batch`` end to end (the preview's work plus the room
locks and the writes: 20,000 stays, their test schedules, rooms, risk
persons, audit rows, commit). Between repeats the placement is undone in
SQL. ``--without-fk`` also times the batch with the foreign-key triggers of
``stay`` and ``scheduled_test`` switched off (throwaway database; what those
checks cost). Prints a Markdown table of medians (target: the whole batch under 5 s)
with the share of exposure groups kept on one floor.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.db import make_engine
from fangkong.migrate import upgrade
from fangkong.policy import get_policy
from fangkong.quarantine import placement, placement_choices
from fangkong.quarantine.exposure import facts_of
from fangkong.quarantine.placement_rules import (
    Candidate,
    PlacementPolicy,
    plan_placement,
    room_violations,
)
from fangkong.tracing.models import RiskPerson

COUNTY = "131002"  # Anci
COMMUNITY = "131002001001"
COMMAND = Actor(None, "benchmark", "commander", COUNTY)
NOW = datetime(2022, 3, 14, 2, 0, tzinfo=UTC)
T = TypeVar("T")


def timed(label: str, run: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.2f} s", flush=True)
    return seconds, result


def build(dsn: str, contacts: int, facilities: int) -> None:
    """The sites, rooms, cases, contacts and their exposure edges, in SQL."""
    households = contacts // 2 + 1
    cases = max(1, contacts // 10)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"""INSERT INTO facility (name, kind, region_code, address, active, created_at)
            SELECT '隔离点' || i, 'quarantine_site', '{COUNTY}', '', true, now()
            FROM generate_series(1, {facilities}) i"""
        )
        conn.execute(
            """INSERT INTO facility_inspection (facility_id, region_code, inspected_on,
                inspector, items, passed, note, recorded_at)
            SELECT id, region_code, date '2022-03-13', 'benchmark', '{}'::json, true, '', now()
            FROM facility"""
        )
        conn.execute(
            """INSERT INTO room (facility_id, region_code, kind, building, floor, position,
                number, ward, ward_level, capacity, private_bathroom, care_team, status, status_at)
            SELECT f.id, f.region_code, 'room', 'A', fl, pos, (fl * 100 + pos)::text, '', '',
                CASE WHEN pos % 5 = 0 THEN 2 ELSE 1 END, pos % 50 <> 25, '', 'ready', now()
            FROM facility f, generate_series(1, 5) fl, generate_series(1, 30) pos"""
        )
        conn.execute(
            f"""INSERT INTO household (code, region_code)
            SELECT 'H' || i, '{COMMUNITY}' FROM generate_series(1, {households}) i"""
        )
        # contacts 2k-1 and 2k share household k
        conn.execute(
            f"""INSERT INTO person (id_type, id_number, name, sex, birth_date, region_code,
                household_id, relation, resident, created_at, updated_at)
            SELECT 'resident_id', 'P' || lpad(i::text, 10, '0'), '密接' || i, 'M',
                CASE WHEN i % 8 = 0 THEN date '2015-06-01' ELSE date '1980-01-01' END,
                '{COMMUNITY}', h.id, '', true, now(), now()
            FROM generate_series(1, {contacts}) i
            JOIN household h ON h.code = 'H' || ((i - 1) / 2 + 1)"""
        )
        conn.execute(
            f"""INSERT INTO person (id_type, id_number, name, sex, birth_date, region_code,
                relation, resident, created_at, updated_at)
            SELECT 'resident_id', 'C' || lpad(i::text, 10, '0'), '病例' || i, 'F',
                date '1970-01-01', '{COMMUNITY}', '', true, now(), now()
            FROM generate_series(1, {cases}) i"""
        )
        # the households of one case: household k goes to case k * cases / households
        conn.execute(
            f"""INSERT INTO exposure (source_person_id, person_id, region_code, setting,
                last_exposure_at, transmission, recorded_at)
            SELECT c.id, p.id, p.region_code, 'household',
                timestamptz '2022-03-12 00:00+00', false, timestamptz '2022-03-13 00:00+00'
            FROM person p
            JOIN household h ON h.id = p.household_id
            JOIN person c ON c.id_number = 'C' || lpad(
                ((substr(h.code, 2)::int - 1) * {cases} / {households} + 1)::text, 10, '0')
            WHERE p.id_number LIKE 'P%'"""
        )
        conn.execute(
            f"""INSERT INTO risk_person (person_id, region_code, category, measure, status,
                last_exposure_at, identified_at, deadline_at, release_reason, updated_at)
            SELECT id, region_code, 'close', 'centralized_quarantine', 'to_find',
                timestamptz '2022-03-12 00:00+00', timestamptz '{NOW.isoformat()}',
                timestamptz '{NOW.isoformat()}' + interval '12 hours', '', now()
            FROM person WHERE id_number LIKE 'P%'"""
        )
        conn.execute("VACUUM ANALYZE")


def undo(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM scheduled_test")
        conn.execute("DELETE FROM stay")
        conn.execute("DELETE FROM audit_event WHERE action IN ('stay.place', 'placement.batch')")
        conn.execute("UPDATE room SET status = 'ready'")
        conn.execute("UPDATE risk_person SET status = 'to_find', controlled_at = NULL")
        conn.execute("VACUUM ANALYZE scheduled_test, stay, audit_event, room, risk_person")


def one_run(engine: Engine, dsn: str, *, without_fk: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    policy = get_policy()
    with Session(engine) as session:
        ids = list(session.scalars(select(RiskPerson.id).order_by(RiskPerson.id)))
        facility_ids = [s.facility_id for s in placement_choices.quarantine_sites(session, COMMAND)]
        facts = facts_of(session.connection(), ids)
        persons = [
            Candidate(
                f.person_id,
                f.household_id,
                f.exposure_key,
                placement_choices.age_on(f.birth_date, NOW.date()),
            )
            for f in facts
        ]
        rooms, in_use = placement._free_rooms(
            session, placement_choices.facilities_for(session, COMMAND, facility_ids)
        )
        session.rollback()
        rules = PlacementPolicy(policy.child_companion_below_age, policy.floor_buffer_rooms)
        figures["planner"], plan = timed(
            "planner alone",
            lambda: plan_placement(
                persons, rooms, rules, facility_order=facility_ids, floors_in_use=in_use
            ),
        )
        assert room_violations(plan.assignments, persons, rules) == []
        figures["preview"], _ = timed(
            "preview (read + plan)",
            lambda: placement.preview_placement(session, COMMAND, facility_ids, ids),
        )
        figures["place"], result = timed(
            "place_batch end to end",
            lambda: placement.place_batch(session, COMMAND, facility_ids, ids),
        )
    done = result.preview.plan
    figures.update(
        placed=result.placed,
        unplaced=len(done.unplaced),
        groups=done.groups,
        one_floor=done.groups_on_one_floor,
        households=done.households,
        households_one_floor=done.households_on_one_floor,
        split=len(done.split_groups),
        children_alone=len(done.children_alone),
        floors=done.floors_used,
        shared=sum(1 for a in done.assignments if a.lead_person_id is not None),
    )
    print(
        f"    placed {result.placed:,}, unplaced {len(done.unplaced):,}; "
        f"{done.groups_on_one_floor:,} of {done.groups:,} groups on one floor; "
        f"{done.households_on_one_floor:,} of {done.households:,} households; "
        f"{figures['shared']:,} children with a parent; {done.floors_used:,} floors",
        flush=True,
    )
    undo(dsn)
    if without_fk:  # what the foreign-key checks of the two big tables cost, same run
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ALTER TABLE stay DISABLE TRIGGER ALL")
            conn.execute("ALTER TABLE scheduled_test DISABLE TRIGGER ALL")
        with Session(engine) as session:
            figures["place_no_fk"], _ = timed(
                "place_batch, no FK checks on stay and scheduled_test",
                lambda: placement.place_batch(session, COMMAND, facility_ids, ids),
            )
        undo(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ALTER TABLE stay ENABLE TRIGGER ALL")
            conn.execute("ALTER TABLE scheduled_test ENABLE TRIGGER ALL")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--facilities", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--without-fk",
        action="store_true",
        help="also time the batch with the foreign-key triggers of stay and scheduled_test off",
    )
    args = parser.parse_args()
    admin = os.environ.get(
        "FANGKONG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    clock.set_clock(lambda: NOW)
    name = f"fangkong_bench_placement_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(drivername="postgresql+psycopg", database=name)
    dsn = url.set(drivername="postgresql").render_as_string(False)
    runs = []
    try:
        upgrade(url.render_as_string(False))
        timed(
            "synthetic sites, rooms and contacts",
            lambda: build(dsn, args.contacts, args.facilities),
        )
        engine = make_engine(url.render_as_string(False))
        for attempt in range(args.repeat):
            print(f"run {attempt + 1} ({datetime.now(UTC):%H:%M:%S} UTC)", flush=True)
            runs.append(one_run(engine, dsn, without_fk=args.without_fk))
        engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(runs, args)


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    def median(key: str) -> float:
        return statistics.median(float(run[key]) for run in runs)

    last = runs[-1]
    print(f"\n{args.contacts:,} contacts, {args.facilities} sites, median of {len(runs)} runs\n")
    print("| step | seconds | target |")
    print("| --- | --- | --- |")
    print(f"| planner alone (pure, in memory) | {median('planner'):.2f} | |")
    print(f"| preview (read, exposure keys, plan; no writes) | {median('preview'):.2f} | |")
    print(f"| place_batch end to end (incl. writes, commit) | {median('place'):.2f} | < 5 s |")
    if "place_no_fk" in last:
        print(
            f"| the same without the foreign-key checks of stay and scheduled_test "
            f"| {median('place_no_fk'):.2f} | (comparison) |"
        )
    print(
        f"\nplaced {last['placed']:,}, unplaced {last['unplaced']:,}; groups on one floor "
        f"{last['one_floor']:,} of {last['groups']:,} "
        f"({last['one_floor'] / max(1, last['groups']):.1%}); "
        f"households on one floor {last['households_one_floor']:,} of {last['households']:,}; "
        f"split groups {last['split']}; children with a parent {last['shared']:,}; "
        f"children alone {last['children_alone']:,}; floors used {last['floors']:,}"
    )


if __name__ == "__main__":
    main()

"""``make demo``: the schema, demo users and a synthetic county loaded
through the same import path field teams use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.service import SYSTEM, create_user
from fangkong.config import get_settings
from fangkong.db import session_scope
from fangkong.migrate import upgrade
from fangkong.people.importing import import_people
from fangkong.people.models import Person

DEMO_PASSWORD = "fangkong-demo"  # development only; printed by `make demo`
DEMO_DIR = Path("var/demo")


def demo_users(county: str) -> list[tuple[str, str, str, str]]:
    """(username, role, jurisdiction, display name)"""
    city = county[:4]
    return [
        ("admin", "admin", "", "系统管理员"),
        ("commander", "commander", city, "市指挥部"),
        ("county", "commander", county, "县区指挥部"),
        ("worker", "community_worker", county + "001", "社区工作者"),
        ("epi", "epidemiologist", county, "流调人员"),
        ("sampler", "sampler", county, "采样人员"),
        ("facility", "facility_manager", county, "隔离点管理员"),
        ("lab", "lab", city, "检测机构"),
        (
            "other_county",
            "commander",
            city + ("03" if county[4:] != "03" else "04"),
            "另一县区指挥部",
        ),
    ]


def build_demo(*, region: str, persons: int, seed: int, echo: Callable[[str], None]) -> None:
    from fangkong.sim.population import generate_population, write_population
    from fangkong.sim.quarantine_demo import build_demo_quarantine
    from fangkong.sim.tracing_demo import build_demo_tracing

    url = get_settings().effective_database_url
    echo("upgrading the database schema ...")
    upgrade(url)
    with session_scope() as session:
        for username, role, jurisdiction, name in demo_users(region):
            if session.scalar(select(User.id).where(User.username == username)) is None:
                create_user(
                    session,
                    SYSTEM,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    jurisdiction=jurisdiction,
                    display_name=name,
                )
        loaded = session.scalar(
            select(func.count()).select_from(Person).where(Person.region_code.startswith(region))
        )
        if loaded:
            echo(f"demo county {region} already has {loaded} persons; skipping the import")
            return
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        path = DEMO_DIR / f"population-{region}-{persons}-{seed}.csv"
        if not path.exists():
            echo(f"generating {persons} synthetic persons for {region} ...")
            # born relative to today, so the round's infants are exempt by age
            write_population(
                generate_population(region, persons, seed, today=clock.today_local()), path
            )
        echo(f"importing {path} ...")
        result = import_people(session, SYSTEM, path.read_bytes(), path.name, progress=echo)
        echo(result.summary)
        session.commit()  # end the read begun before the import's own connection wrote
        build_demo_round(session, region=region, seed=seed, echo=echo)
        build_demo_tracing(session, region=region, seed=seed, folder=DEMO_DIR, echo=echo)
        build_demo_quarantine(session, region=region, echo=echo)


def build_demo_round(
    session: Session, *, region: str, seed: int, echo: Callable[[str], None]
) -> None:
    """A testing round that started 20 hours ago: 97 % sampled in pools of
    ten through the sampling-file import, and the lab's results at 0.1 %
    prevalence, so the boards show coverage, a missing list and positive
    pools with their follow-up."""
    from fangkong.sim.sampling import lab_results, round_population, sampling_records, write_csv
    from fangkong.testing.result_import import import_results
    from fangkong.testing.rounds import AreaPolicy, create_round, create_site, infant_cutoff
    from fangkong.testing.sample_import import import_samples

    start = clock.now() - timedelta(hours=20)
    testing_round = create_round(
        session,
        SYSTEM,
        name="第1轮全员核酸检测（演示）",
        areas=[AreaPolicy(region, 10)],
        starts_at=start,
        ends_at=start + timedelta(hours=24),
    )
    create_site(session, SYSTEM, name="第一小学采样点（演示）", region_code=region + "001")
    records = sampling_records(
        round_population(session.connection(), [region]),
        pool_size=10,
        tube_prefix="DEMO",
        started_at=start.astimezone(get_settings().zone).replace(tzinfo=None),
        infant_cutoff=infant_cutoff(testing_round),
        seed=seed,
    )
    samples = DEMO_DIR / "samples.csv"
    write_csv(records, samples)
    echo(f"importing {records.num_rows} sampling records ...")
    echo(
        import_samples(
            session, SYSTEM, testing_round.id, samples.read_bytes(), samples.name
        ).summary
    )
    results, _ = lab_results(records, prevalence=0.001, seed=seed)
    answers = DEMO_DIR / "results.csv"
    write_csv(results, answers)
    echo(f"importing {results.num_rows} lab results ...")
    echo(import_results(session, SYSTEM, answers.read_bytes(), answers.name).summary)

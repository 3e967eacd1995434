"""``make demo``: the schema, demo users and a synthetic county loaded
through the same import path field teams use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

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
        (
            "other_county",
            "commander",
            city + ("03" if county[4:] != "03" else "04"),
            "另一县区指挥部",
        ),
    ]


def build_demo(*, region: str, persons: int, seed: int, echo: Callable[[str], None]) -> None:
    from fangkong.sim.population import generate_population, write_population

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
            write_population(generate_population(region, persons, seed), path)
        echo(f"importing {path} ...")
        result = import_people(session, SYSTEM, path.read_bytes(), path.name, progress=echo)
        echo(result.summary)

"""A registry move and a writer of risk records at the same time, on
PostgreSQL (two sessions, in a database of their own): the writer holds
the person (``person_held``), so the move waits for it and then takes the
new record along; neither is refused."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import SYSTEM
from fangkong.db import make_engine
from fangkong.people.importing import import_people
from fangkong.people.models import Person
from fangkong.people.service import person_held
from fangkong.tracing.models import RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.conftest import Databases
from tests.factories import person_row, registry_csv
from tests.testing.conftest import A1, B1


def test_a_move_waits_for_a_writer_holding_the_person_then_takes_its_record(
    databases: Databases,
) -> None:
    engine = make_engine(databases.fresh("postgres"))
    row = person_row(A1, 1)
    with Session(engine) as session:
        import_people(session, SYSTEM, registry_csv([row]), "registry.csv")
        person_id = session.scalars(select(Person.id)).one()
    writer = Session(engine)
    held = person_held(writer, person_id)
    assert held is not None
    assert held.region_code == A1
    outcome: list[str] = []

    def move() -> None:
        row.region_code = B1
        with Session(engine) as session:
            result = import_people(session, SYSTEM, registry_csv([row]), "move.csv")
            outcome.append(f"moved {result.updated}")

    mover = threading.Thread(target=move)
    mover.start()
    time.sleep(1.0)
    assert mover.is_alive()  # waiting for the writer's hold on the person
    note_risk_person(
        writer,
        person_id=person_id,
        region_code=held.region_code,
        category="close",
        channel="screening",
        source="社区排查",
        reported_at=clock.now(),
    )
    writer.commit()
    writer.close()
    mover.join(timeout=30)
    assert outcome == ["moved 1"]
    with Session(engine) as session:
        assert session.scalars(select(RiskPerson.region_code)).all() == [B1]
    engine.dispose()

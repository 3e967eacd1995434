"""A registry move and a writer of risk records at the same time, on
PostgreSQL (two sessions, in a database of their own): the writer holds
the person (``person_held``, or the graph step's own share lock), so the
move waits for it and then takes the new record along; neither is
refused."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import SYSTEM
from fangkong.db import make_engine
from fangkong.people.importing import import_people
from fangkong.people.models import Person
from fangkong.people.service import person_held
from fangkong.tracing.graph_service import update_secondary_contacts_around
from fangkong.tracing.models import Exposure, RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.conftest import Databases
from tests.factories import Row, person_row, registry_csv
from tests.testing.conftest import A1, B1


def moving(engine: Engine, row: Row, outcome: list[str]) -> threading.Thread:
    """A registry import moving the person of ``row`` to B1, started; it
    must still be waiting a second later."""

    def move() -> None:
        row.region_code = B1
        with Session(engine) as session:
            result = import_people(session, SYSTEM, registry_csv([row]), "move.csv")
            outcome.append(f"moved {result.updated}, records {result.risk_records_moved}")

    mover = threading.Thread(target=move)
    mover.start()
    time.sleep(1.0)
    assert mover.is_alive()  # waiting for the writer's hold on the person
    return mover


def test_a_move_waits_for_a_writer_holding_the_person_then_takes_its_record(
    databases: Databases,
) -> None:
    engine = make_engine(databases.fresh("postgres"))
    try:
        row = person_row(A1, 1)
        with Session(engine) as session:
            import_people(session, SYSTEM, registry_csv([row]), "registry.csv")
            person_id = session.scalars(select(Person.id)).one()
        writer = Session(engine)
        held = person_held(writer, person_id)
        assert held is not None
        assert held.region_code == A1
        outcome: list[str] = []
        mover = moving(engine, row, outcome)
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
        assert outcome == ["moved 1, records 1"]
        with Session(engine) as session:
            assert session.scalars(select(RiskPerson.region_code)).all() == [B1]
    finally:
        engine.dispose()


def test_a_move_waits_for_the_graph_step_making_a_secondary_contact(
    databases: Databases,
) -> None:
    """The step around a close contact holds each new secondary contact's
    person while it makes their record."""
    engine = make_engine(databases.fresh("postgres"))
    try:
        close_row, exposed_row = person_row(A1, 1), person_row(A1, 2)
        with Session(engine) as session:
            import_people(session, SYSTEM, registry_csv([close_row, exposed_row]), "r.csv")
            ids = dict(session.execute(select(Person.id_number, Person.id)).all())
            close, exposed = ids[close_row.id_number], ids[exposed_row.id_number]
            note_risk_person(
                session,
                person_id=close,
                region_code=A1,
                category="close",
                channel="screening",
                source="社区排查",
                reported_at=clock.now(),
            )
            session.add(
                Exposure(
                    source_person_id=close,
                    person_id=exposed,
                    region_code=A1,
                    setting="household",
                    last_exposure_at=clock.now() - timedelta(hours=1),
                    transmission=False,
                    recorded_at=clock.now(),
                )
            )
            session.commit()
        writer = Session(engine)
        assert update_secondary_contacts_around(writer, [close]).added == 1
        outcome: list[str] = []
        mover = moving(engine, exposed_row, outcome)
        writer.commit()
        writer.close()
        mover.join(timeout=30)
        assert outcome == ["moved 1, records 1"]
        with Session(engine) as session:
            made = session.scalars(select(RiskPerson).where(RiskPerson.person_id == exposed)).one()
            assert (made.category, made.region_code) == ("secondary", B1)
    finally:
        engine.dispose()

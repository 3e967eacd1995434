"""The schema comes only from the migrations, and they match the models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

import fangkong.models  # noqa: F401  (registers every table)
from fangkong.access.models import AuditEvent
from fangkong.db import Base
from fangkong.migrate import alembic_config, upgrade
from fangkong.regions.models import Region
from fangkong.tracing.models import Exposure, RiskPerson
from tests.conftest import BACKENDS, Databases


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_migrations_load_the_region_catalog(engine: Engine) -> None:
    with engine.connect() as connection:
        villages = connection.scalar(
            select(func.count()).select_from(Region).where(Region.level == "village")
        )
        langfang = connection.scalar(select(Region.name).where(Region.code == "131000"))
    assert villages is not None
    assert villages > 1000
    assert langfang == "廊坊市"


def test_sqlite_migrations_keep_rows_that_point_at_a_rebuilt_table(tmp_path: Path) -> None:
    """Batch mode rebuilds risk_person in 0006 (copy, drop, rename) while a
    self-report points at one of its rows: up and down again, nothing is
    refused and nothing is lost."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0005")
    with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
        raw.execute(
            "INSERT INTO risk_person (id, person_id, region_code, category, measure, status, "
            "identified_at, deadline_at, release_reason, updated_at) VALUES (7, 1, "
            "'131002001001', 'close', 'centralized_quarantine', 'to_find', "
            "'2022-03-14 00:00:00', '2022-03-15 00:00:00', '', '2022-03-14 00:00:00')"
        )
        raw.execute(
            "INSERT INTO self_report (id, region_code, name, phone, id_number, note, exposed_on, "
            "submitted_at, client_hash, fingerprint, status, risk_person_id) VALUES (1, "
            "'131002001001', '张三', '13800000000', '', '在超市', '2022-03-13', "
            "'2022-03-14 00:00:00', 'c', 'f', 'accepted', 7)"
        )
    upgrade(url)
    command.downgrade(alembic_config(url), "0005")
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
        assert raw.execute("SELECT risk_person_id FROM self_report").fetchall() == [(7,)]
        assert raw.execute("SELECT id FROM risk_person").fetchall() == [(7,)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_records_of_persons_moved_before_0007_follow_them(
    databases: Databases, backend: str
) -> None:
    """Exposures and risk records written in the region a person was in
    before a registry move go to the person's current region, each record
    with its audit event; a worker of the old community loses the record,
    one of the county keeps it; the exposure the person caused stays."""
    url = databases.fresh(backend, "0006")
    old, new, when = "131002001001", "131002002001", "2022-03-14 00:00:00"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for user_id, jurisdiction in ((5, old), (6, "131002")):
                conn.execute(
                    text(
                        "INSERT INTO user_account (id, username, display_name, password_hash, "
                        "role, jurisdiction, language, active, created_at) VALUES (:id, :name, "
                        "'w', 'x', 'community_worker', :jurisdiction, 'zh', true, :when)"
                    ),
                    {
                        "id": user_id,
                        "name": f"w{user_id}",
                        "jurisdiction": jurisdiction,
                        "when": when,
                    },
                )
            for person_id, region in ((1, old), (2, new), (3, new), (4, new)):
                conn.execute(
                    text(
                        "INSERT INTO person (id, id_type, id_number, name, region_code, relation, "
                        "resident, created_at, updated_at) VALUES (:id, 'resident_id', :number, "
                        "'张三', :region, '', true, :when, :when)"
                    ),
                    {"id": person_id, "number": f"id{person_id}", "region": region, "when": when},
                )
            for edge_id, source, target in ((1, 1, 2), (2, 2, 1)):
                conn.execute(
                    text(
                        "INSERT INTO exposure (id, source_person_id, person_id, region_code, "
                        "setting, transmission, recorded_at) VALUES (:id, :source, :target, "
                        ":old, 'household', false, :when)"
                    ),
                    {"id": edge_id, "source": source, "target": target, "old": old, "when": when},
                )
            for risk_id, person_id, assignee in ((7, 2, 5), (8, 3, 6), (9, 4, None)):
                conn.execute(
                    text(
                        "INSERT INTO risk_person (id, person_id, region_code, category, measure, "
                        "status, identified_at, deadline_at, release_reason, updated_at, "
                        "assigned_to) VALUES (:id, :person, :old, 'close', "
                        "'centralized_quarantine', 'to_find', :when, :when, '', :when, :assignee)"
                    ),
                    {
                        "id": risk_id,
                        "person": person_id,
                        "old": old,
                        "when": when,
                        "assignee": assignee,
                    },
                )
        upgrade(url)
        with Session(engine) as session:
            exposures = session.execute(
                select(Exposure.id, Exposure.region_code).order_by(Exposure.id)
            )
            assert exposures.all() == [(1, new), (2, old)]
            records = session.execute(
                select(RiskPerson.id, RiskPerson.region_code, RiskPerson.assigned_to).order_by(
                    RiskPerson.id
                )
            )
            assert records.all() == [(7, new, None), (8, new, 6), (9, new, None)]
            events = session.scalars(select(AuditEvent).order_by(AuditEvent.object_id)).all()
            moved = {
                "region_code": [old, new],
                "reason": "the registry moved the person before version 0007",
            }
            assert [(e.action, e.object_id, e.region_code, e.changes) for e in events] == [
                ("risk_person.region", "7", new, {**moved, "assigned_to": [5, None]}),
                ("risk_person.region", "8", new, moved),
                ("risk_person.region", "9", new, moved),
            ]
            assert {e.actor_label for e in events} == {"migration 0007"}
    finally:
        engine.dispose()

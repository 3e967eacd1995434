"""The schema comes only from the migrations, and they match the models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

import fangkong.models  # noqa: F401  (registers every table)
from fangkong.db import Base
from fangkong.migrate import alembic_config, upgrade
from fangkong.regions.models import Region


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


def test_records_of_persons_moved_before_0007_follow_them(tmp_path: Path) -> None:
    """An exposure and a risk record written in the region the person was in
    before a registry move are brought to the person's current region, the
    record with its audit event; the exposure the person caused stays."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0006")
    with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
        for person_id, region in ((1, "131002001001"), (2, "131002002001")):
            raw.execute(
                "INSERT INTO person (id, id_type, id_number, name, region_code, relation, "
                "resident, created_at, updated_at) VALUES (?, 'resident_id', ?, '张三', ?, '', "
                "1, '2022-03-14 00:00:00', '2022-03-14 00:00:00')",
                (person_id, f"id{person_id}", region),
            )
        for edge_id, source, target in ((1, 1, 2), (2, 2, 1)):
            raw.execute(
                "INSERT INTO exposure (id, source_person_id, person_id, region_code, setting, "
                "transmission, recorded_at) VALUES (?, ?, ?, '131002001001', 'household', 0, "
                "'2022-03-14 00:00:00')",
                (edge_id, source, target),
            )
        raw.execute(
            "INSERT INTO risk_person (id, person_id, region_code, category, measure, status, "
            "identified_at, deadline_at, release_reason, updated_at) VALUES (7, 2, "
            "'131002001001', 'close', 'centralized_quarantine', 'to_find', "
            "'2022-03-14 00:00:00', '2022-03-15 00:00:00', '', '2022-03-14 00:00:00')"
        )
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
        assert raw.execute("SELECT id, region_code FROM exposure ORDER BY id").fetchall() == [
            (1, "131002002001"),
            (2, "131002001001"),
        ]
        assert raw.execute("SELECT region_code FROM risk_person").fetchall() == [("131002002001",)]
        events = raw.execute(
            "SELECT action, object_id, region_code, json_extract(changes, '$.region_code') "
            "FROM audit_event WHERE object_type = 'risk_person'"
        ).fetchall()
        assert events == [
            ("risk_person.region", "7", "131002002001", '["131002001001","131002002001"]')
        ]

"""The command line: exit codes 0/1/2, the summary line, the rejects report,
and a synthetic population file that imports into a fresh database."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fangkong.cli import app
from fangkong.config import get_settings
from fangkong.db import get_engine, get_sessionmaker
from fangkong.regions.catalog import Level, descendants
from tests.factories import person_row, registry_csv

COMMUNITY = descendants("131002", Level.VILLAGE)[0].code
runner = CliRunner()


def _clear_caches() -> None:
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("FANGKONG_DATABASE_URL", url)
    _clear_caches()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield url
    _clear_caches()


def test_import_of_a_clean_file_exits_0_with_the_summary(database: str, tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_bytes(registry_csv([person_row(COMMUNITY, i) for i in range(3)]))
    result = runner.invoke(app, ["people", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "accepted 3, unchanged 0, rejected 0" in result.stdout
    again = runner.invoke(app, ["people", "import", str(path)])
    assert again.exit_code == 0
    assert "accepted 0, unchanged 3, rejected 0" in again.stdout


def test_import_with_bad_rows_exits_1_and_writes_the_report(database: str, tmp_path: Path) -> None:
    path, report = tmp_path / "registry.csv", tmp_path / "rejects.csv"
    bad = person_row(COMMUNITY, 2, phone="12")
    path.write_bytes(registry_csv([person_row(COMMUNITY, 1), bad]))
    result = runner.invoke(app, ["people", "import", str(path), "--report", str(report)])
    assert result.exit_code == 1, result.output
    assert "accepted 1, unchanged 0, rejected 1" in result.stdout
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[1][0] == bad.id_number
    assert rows[1][-4] == "3"
    assert "电话" in rows[1][-2]


def test_an_unreadable_file_exits_2_with_the_reason(database: str, tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_bytes(b"\xff\xfe" + "身份证号".encode("utf-16-le"))
    result = runner.invoke(app, ["people", "import", str(path)])
    assert result.exit_code == 2
    assert "UTF-16" in result.output
    missing = runner.invoke(app, ["people", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2


def test_a_synthetic_population_imports_into_a_fresh_database(
    database: str, tmp_path: Path
) -> None:
    path = tmp_path / "population.csv"
    made = runner.invoke(
        app,
        [
            "sim",
            "population",
            "--region",
            "131002",
            "--persons",
            "2000",
            "--seed",
            "7",
            "--out",
            str(path),
        ],
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["people", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "accepted 2000, unchanged 0, rejected 0" in result.stdout


def test_export_writes_the_import_format_masked_by_default(database: str, tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    row = person_row(COMMUNITY, 1)
    path.write_bytes(registry_csv([row]))
    runner.invoke(app, ["people", "import", str(path)])
    out = tmp_path / "export.csv"
    assert runner.invoke(app, ["people", "export", str(out)]).exit_code == 0
    exported = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert exported[0][1] == "身份证号"
    assert exported[1][1] != row.id_number
    assert "*" in exported[1][1]
    xlsx = tmp_path / "export.xlsx"
    assert runner.invoke(app, ["people", "export", str(xlsx), "--unmasked"]).exit_code == 0
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).worksheets[0]
    assert sheet.cell(2, 2).value == row.id_number

"""``fangkong testing ...``: the summary line, exit codes 0/1/2 exactly, the
rejects report, and the JSON shapes of round, coverage, positives and plan.
One database per backend for the module, with the registry imported through
``fangkong people import``; each test opens its own round and barcodes."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from fangkong import clock
from fangkong.access.models import User
from fangkong.cli import app
from fangkong.config import get_settings
from fangkong.db import get_engine, get_sessionmaker, session_scope
from fangkong.people.models import Person
from fangkong.testing.rules import reason
from tests.factories import registry_csv
from tests.testing.conftest import (
    FrozenClock,
    Resident,
    csv_bytes,
    registry_rows,
    result_row,
    results_file,
    samples_file,
    shared_password_hash,
    swab,
)

if TYPE_CHECKING:
    from tests.conftest import Databases

runner = CliRunner()


def _clear_caches() -> None:
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()


class Cli:
    """A migrated database with the registry, and the CLI pointed at it."""

    def __init__(self, tmp: Path, residents: dict[str, list[Resident]]) -> None:
        self.tmp = tmp
        self.residents = residents

    def __call__(self, *args: str) -> Result:
        return runner.invoke(app, list(args))

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def new_round(self, *extra: str) -> int:
        made = self("testing", "round", "create", "--name", "第1轮", "--json", *extra)
        assert made.exit_code == 0, made.output
        return int(json.loads(made.stdout)["round_id"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cli(
    request: pytest.FixtureRequest,
    databases: Databases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cli]:
    url = databases.fresh(str(request.param))
    tmp = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FANGKONG_DATABASE_URL", url)
        _clear_caches()
        rows = registry_rows()
        registry = tmp / "registry.csv"
        registry.write_bytes(registry_csv(r for _, r in rows))
        imported = runner.invoke(app, ["people", "import", str(registry)])
        assert imported.exit_code == 0, imported.output
        residents: dict[str, list[Resident]] = {}
        with session_scope() as session:
            persons = {p.id_number: p for p in session.scalars(select(Person))}
            for group, row in rows:
                p = persons[row.id_number]
                residents.setdefault(group, []).append(
                    Resident(p.id, p.id_number, p.name, p.region_code, p.address_id, p.household_id)
                )
            for username, role, jurisdiction in [
                ("guangyang", "commander", "131003"),
                ("anci_sampler", "sampler", "131002"),
            ]:
                session.add(
                    User(
                        username=username,
                        display_name=username,
                        password_hash=shared_password_hash(),
                        role=role,
                        jurisdiction=jurisdiction,
                        created_at=clock.now(),
                    )
                )
            session.commit()
        yield Cli(tmp, residents)
    _clear_caches()


def summary(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


# --- rounds ---------------------------------------------------------------------


def test_round_create_prints_the_round_id_as_json_or_text(cli: Cli) -> None:
    as_json = cli("testing", "round", "create", "--name", "第1轮", "--region", "131002", "--json")
    as_text = cli("testing", "round", "create", "--name", "第2轮", "--region", "131002")

    assert as_json.exit_code == 0, as_json.output
    created = json.loads(as_json.stdout)
    assert list(created) == ["round_id"]
    assert isinstance(created["round_id"], int)
    assert as_text.exit_code == 0
    assert as_text.stdout.strip() == f"round {created['round_id'] + 1}"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--region", "131002", "--pool-size", "3"], "pool_size"),
        (["--region", "131099"], "no region 131099"),
        (["--region", "131002", "--starts-at", "明天"], "not a time"),
    ],
)
def test_round_create_refuses_bad_options_with_exit_2_and_the_reason(
    cli: Cli, args: list[str], words: str
) -> None:
    result = cli("testing", "round", "create", "--name", "第1轮", *args)

    assert result.exit_code == 2
    assert words in result.stderr


# --- sampling files -------------------------------------------------------------------


def test_a_clean_sampling_file_exits_0_and_a_reupload_changes_nothing(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002")
    a1 = cli.residents["a1"]
    path = cli.file("clean.csv", samples_file([swab("K0001", r) for r in a1[:3]]))

    first = cli("testing", "samples", "import", str(path), "--round", str(round_id))
    again = cli("testing", "samples", "import", str(path), "--round", str(round_id))

    assert first.exit_code == 0, first.output
    assert summary(first).startswith("accepted 3, unchanged 0, rejected 0")
    assert again.exit_code == 0, again.output
    assert summary(again).startswith("accepted 0, unchanged 3, rejected 0")


def test_a_sampling_file_with_bad_rows_exits_1_and_writes_the_rejects_report(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002")
    a1 = cli.residents["a1"]
    bad = swab("K0002", a1[1], pool=3)
    path = cli.file("bad.csv", samples_file([swab("K0002", a1[0]), bad, swab("K0002", a1[2])]))
    report = cli.tmp / "samples-rejects.csv"

    result = cli(
        "testing", "samples", "import", str(path), "--round", str(round_id), "--report", str(report)
    )

    assert result.exit_code == 1, result.output
    assert summary(result).startswith("accepted 2, unchanged 0, rejected 1")
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][-4:] == ["原行号 row", "错误列 column", "错误原因", "reason"]
    assert rows[1][:5] == [str(v) for v in bad]
    zh, en = reason("pool_size_not_allowed", "1, 5, 10, 20")
    assert rows[1][5:] == ["3", "pool_size", zh, en]


def test_bad_rows_without_a_report_are_listed_on_stderr(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002")
    path = cli.file("nobody.csv", samples_file([["K0003", 10, "131002199001010000", "", ""]]))

    result = cli("testing", "samples", "import", str(path), "--round", str(round_id))

    assert result.exit_code == 1
    assert summary(result).startswith("accepted 0, unchanged 0, rejected 1")
    assert "row 2 sampled_at: 必填项为空" in result.stderr


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (csv_bytes(["试管条码", "身份证号"], [["K0004", "131002199001010000"]]), "采样时间"),
        ("试管条码,身份证号,采样时间\r\n".encode("utf-16"), "UTF-16"),
        (csv_bytes(["tube", "id_number", "sampled_at"], []), "no rows"),
    ],
)
def test_an_unreadable_sampling_file_exits_2_with_the_reason(
    cli: Cli, data: bytes, words: str
) -> None:
    round_id = cli.new_round("--region", "131002")
    path = cli.file("unreadable.csv", data)

    result = cli("testing", "samples", "import", str(path), "--round", str(round_id))

    assert result.exit_code == 2
    assert words in result.stderr
    assert "accepted" not in result.stdout


def test_a_missing_file_or_round_exits_2(cli: Cli) -> None:
    path = cli.file("one.csv", samples_file([swab("K0005", cli.residents["a1"][0])]))

    no_file = cli("testing", "samples", "import", str(cli.tmp / "nope.csv"), "--round", "1")
    no_round = cli("testing", "samples", "import", str(path), "--round", "999999")

    assert (no_file.exit_code, no_round.exit_code) == (2, 2)
    assert "not found" in no_round.stderr


# --- result files -----------------------------------------------------------------------


def test_result_files_exit_0_when_all_rows_are_taken_and_count_conflicts(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002")
    samples = cli.file("k6.csv", samples_file([swab("K0006", r) for r in cli.residents["a2"]]))
    assert (
        cli("testing", "samples", "import", str(samples), "--round", str(round_id)).exit_code == 0
    )
    negative = cli.file("neg.csv", results_file([result_row("K0006")]))
    positive = cli.file("pos.csv", results_file([result_row("K0006", "positive", ct=("30", ""))]))

    first = cli("testing", "results", "import", str(negative))
    again = cli("testing", "results", "import", str(negative))
    conflict = cli("testing", "results", "import", str(positive))

    assert first.exit_code == 0, first.output
    assert summary(first).startswith("accepted 1, unchanged 0, rejected 0")
    assert summary(again).startswith("accepted 0, unchanged 1, rejected 0")
    assert conflict.exit_code == 0
    assert summary(conflict) == (
        "accepted 1, unchanged 0, rejected 0, conflicts 1, positive tubes 1, newly controlled 4"
    )


def test_a_result_for_an_unknown_tube_exits_1_and_goes_to_the_report(cli: Cli) -> None:
    path = cli.file("unknown.csv", results_file([result_row("K9999")]))
    report = cli.tmp / "results-rejects.csv"

    result = cli("testing", "results", "import", str(path), "--report", str(report))

    assert result.exit_code == 1
    assert summary(result).startswith("accepted 0, unchanged 0, rejected 1")
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[1][0] == "K9999"
    assert rows[1][-3:] == ["tube", *reason("unknown_tube")]


def test_a_result_file_without_its_required_columns_exits_2(cli: Cli) -> None:
    path = cli.file("cols.csv", csv_bytes(["tube", "lab"], [["K0007", "x"]]))

    result = cli("testing", "results", "import", str(path))

    assert result.exit_code == 2
    assert "检测结果 (result)" in result.stderr


def test_a_synthetic_round_from_the_simulator_imports_cleanly(
    cli: Cli, frozen: FrozenClock
) -> None:
    round_id = cli.new_round("--region", "131002001")
    samples, results = cli.tmp / f"sim-{round_id}.csv", cli.tmp / f"sim-{round_id}-results.csv"

    made = cli("sim", "samples", str(samples), "--round", str(round_id), "--coverage", "1")
    sampled = cli("testing", "samples", "import", str(samples), "--round", str(round_id))
    frozen.advance(hours=5)  # the simulated lab answers four hours after sampling
    tested = cli("sim", "results", str(samples), str(results), "--prevalence", "0.5", "--seed", "3")
    imported = cli("testing", "results", "import", str(results))

    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("10 sampling records")  # eleven persons, less the infant
    assert sampled.exit_code == 0, sampled.output
    assert summary(sampled).startswith("accepted 10, unchanged 0, rejected 0, tubes 1")
    assert tested.exit_code == 0, tested.output
    assert imported.exit_code == 0, imported.output
    assert summary(imported).startswith("accepted 1, unchanged 0, rejected 0")


def test_the_missing_list_is_written_to_a_file(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002002")
    path = cli.file("b1.csv", samples_file([swab("K0010", cli.residents["b1"][0])]))
    cli("testing", "samples", "import", str(path), "--round", str(round_id))
    out = cli.tmp / "missing.csv"

    result = cli("testing", "missing", str(out), "--round", str(round_id), "--region", "131002002")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 persons missing")
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert [r[6] for r in rows[1:]] == [r.id_number for r in cli.residents["b1"][1:]]


# --- coverage, positives, plan ----------------------------------------------------------------


def test_coverage_json_has_the_figures_of_the_region_and_its_children(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002")
    a1 = cli.residents["a1"]
    path = cli.file("cov.csv", samples_file([swab("K0008", r) for r in a1[:4]]))
    cli("testing", "samples", "import", str(path), "--round", str(round_id))

    result = cli("testing", "coverage", "--round", str(round_id), "--region", "131002", "--json")

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) == {
        "region",
        "name",
        "due",
        "sampled",
        "missing",
        "exempt",
        "households_missing",
        "children",
    }
    assert (figures["region"], figures["due"], figures["sampled"]) == ("131002", 13, 4)
    assert (figures["missing"], figures["exempt"]) == (9, 1)
    assert [c["region"] for c in figures["children"]] == ["131002001", "131002002"]
    assert sum(c["due"] for c in figures["children"]) == figures["due"]
    text = cli("testing", "coverage", "--round", str(round_id), "--region", "131002")
    assert text.exit_code == 0
    assert "due        13 sampled         4" in text.stdout


def test_positives_json_lists_each_pools_members_with_control_and_task(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002")
    b1 = cli.residents["b1"]
    samples = cli.file("k9.csv", samples_file([swab("K0009", r) for r in b1]))
    cli("testing", "samples", "import", str(samples), "--round", str(round_id))
    cli(
        "testing",
        "results",
        "import",
        str(cli.file("k9r.csv", results_file([result_row("K0009", "positive", ct=("24", "25"))]))),
    )

    result = cli("testing", "positives", "--round", str(round_id), "--json")

    assert result.exit_code == 0, result.output
    pools = json.loads(result.stdout)
    assert [p["tube"] for p in pools] == ["K0009"]
    assert pools[0]["members"] == [
        {"id_number": r.id_number, "under_control": True, "task": "open"} for r in b1
    ]
    text = cli("testing", "positives", "--round", str(round_id))
    assert text.stdout.strip() == "K0009: 3/3 under control, 3 re-sampling tasks open"


def test_another_county_gets_exit_2_for_a_countys_coverage_and_positives(cli: Cli) -> None:
    round_id = cli.new_round("--region", "131002")

    coverage = cli(
        "testing",
        "coverage",
        "--round",
        str(round_id),
        "--region",
        "131002",
        "--as-user",
        "guangyang",
    )
    positives = cli("testing", "positives", "--round", str(round_id), "--as-user", "guangyang")
    nobody = cli("testing", "positives", "--round", str(round_id), "--as-user", "nobody")

    assert (coverage.exit_code, positives.exit_code, nobody.exit_code) == (2, 2, 2)
    assert "not found" in coverage.stderr
    assert "not found" in positives.stderr


def test_a_sampler_cannot_open_a_round_from_the_command_line(cli: Cli) -> None:
    result = cli(
        "testing",
        "round",
        "create",
        "--name",
        "第1轮",
        "--region",
        "131002",
        "--as-user",
        "anci_sampler",
    )

    assert result.exit_code == 2
    assert "may not testing.manage" in result.stderr


def test_plan_recommends_dorfman_pools_of_ten_at_one_percent(cli: Cli) -> None:
    result = cli("testing", "plan", "--prevalence", "0.01", "--max-pool", "10", "--json")

    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["design"], plan["pool_size"], plan["lab_rounds"]) == ("dorfman", 10, 2)
    assert plan["tests_per_person"] == pytest.approx(0.196, abs=5e-4)
    assert {a["design"] for a in plan["alternatives"]} >= {"individual", "dorfman"}
    text = cli("testing", "plan", "--prevalence", "0.01", "--max-pool", "10")
    assert text.stdout.startswith("recommended: dorfman, pool size 10, 0.196 tests per person")


def test_plan_refuses_an_impossible_prevalence_with_exit_2(cli: Cli) -> None:
    result = cli("testing", "plan", "--prevalence", "1.5", "--max-pool", "10")

    assert result.exit_code == 2
    assert "prevalence" in result.stderr

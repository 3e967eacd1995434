"""``fangkong tracing import`` and ``fangkong tracing summary``: the summary
line, exit codes 0/1/2 exactly, the rejects report, and the figures as JSON.
One database per backend for the module, with the registry imported
through ``fangkong people import``; each test works in communities of its
own, so the figures it reads are its own."""

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
from tests.factories import mobile, registry_csv
from tests.testing.conftest import (
    B1,
    FrozenClock,
    Resident,
    csv_bytes,
    registry_rows,
    shared_password_hash,
)

if TYPE_CHECKING:
    from tests.conftest import Databases

runner = CliRunner()
HEADER = ["id_number", "phone", "name", "category", "source", "reported_at"]
EARLIER = "2022-03-14 09:00:00"  # local, an hour before the frozen clock


def _clear_caches() -> None:
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()


class Cli:
    """A migrated database with the registry and two users, and the CLI
    pointed at it."""

    def __init__(self, tmp: Path, residents: dict[str, list[Resident]]) -> None:
        self.tmp = tmp
        self.residents = residents

    def __call__(self, *args: str) -> Result:
        return runner.invoke(app, list(args))

    def file(self, name: str, rows: list[list[str]], header: list[str] = HEADER) -> Path:
        path = self.tmp / name
        path.write_bytes(csv_bytes(header, rows))
        return path


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cli(
    request: pytest.FixtureRequest,
    databases: Databases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cli]:
    url = databases.fresh(str(request.param))
    tmp = tmp_path_factory.mktemp("tracing-cli")
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
                ("anci_epi", "epidemiologist", "131002"),
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


def summary_line(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_a_clean_list_exits_0_and_the_same_list_again_changes_nothing(cli: Cli) -> None:
    first, second = cli.residents["a1"][:2]
    path = cli.file(
        "screening.csv",
        [
            [first.id_number, "", "", "密接", "社区排查", EARLIER],
            ["", mobile(1), second.name, "general", "社区排查", EARLIER],
        ],
    )
    args = ("tracing", "import", str(path), "--channel", "screening", "--as-user", "anci_epi")
    imported = cli(*args)
    assert imported.exit_code == 0, imported.output
    assert summary_line(imported) == (
        "accepted 2, unchanged 0, rejected 0, new risk persons 2, new non-residents 0, pending 0"
    )
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert summary_line(again).startswith("accepted 0, unchanged 2, rejected 0")


def test_a_list_with_bad_rows_exits_1_and_writes_the_rejects_report(cli: Cli) -> None:
    someone = cli.residents["a2"][0]
    path = cli.file(
        "bigdata.csv",
        [
            ["", mobile(10), "", "companion", "大数据 3", EARLIER],
            ["", "138", "", "companion", "大数据 3", EARLIER],
            [someone.id_number, "", "", "可疑", "大数据 3", EARLIER],
        ],
    )
    report = cli.tmp / "rejects.csv"
    result = cli("tracing", "import", str(path), "--channel", "bigdata", "--report", str(report))
    assert result.exit_code == 1, result.output
    assert summary_line(result).startswith("accepted 1, unchanged 0, rejected 2")
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][-4:] == ["原行号 row", "错误列 column", "错误原因", "reason"]
    assert [(r[1], r[-4], r[-3]) for r in rows[1:]] == [
        ("138", "3", "手机号 (phone)"),
        ("", "4", "类别 (category)"),
    ]
    assert "unknown category" in rows[2][-1]

    without_report = cli("tracing", "import", str(path), "--channel", "bigdata")
    assert without_report.exit_code == 1
    assert "row 3 手机号 (phone)" in without_report.stderr


@pytest.mark.parametrize(
    ("header", "channel", "words"),
    [
        (["name", "category", "source", "reported_at"], "screening", "missing required column"),
        (HEADER, "investigation", "channel"),
        (["id_number", "category"], "screening", "missing required column"),
    ],
)
def test_an_unreadable_list_or_an_unknown_channel_exits_2_with_the_reason(
    cli: Cli, header: list[str], channel: str, words: str
) -> None:
    path = cli.file("broken.csv", [["x"] * len(header)], header)
    result = cli("tracing", "import", str(path), "--channel", channel)
    assert result.exit_code == 2
    assert words in result.stderr


def test_a_missing_file_or_a_role_without_the_right_exits_2(cli: Cli) -> None:
    missing = cli("tracing", "import", str(cli.tmp / "nope.csv"), "--channel", "screening")
    assert missing.exit_code == 2
    path = cli.file("s.csv", [[cli.residents["a2"][1].id_number, "", "", "close", "s", EARLIER]])
    refused = cli(
        "tracing", "import", str(path), "--channel", "request", "--as-user", "anci_sampler"
    )
    assert refused.exit_code == 2
    assert "may not tracing.import" in refused.stderr


def test_summary_json_counts_each_person_once_by_category_channel_and_overdue(
    cli: Cli, frozen: FrozenClock
) -> None:
    first, second, _ = cli.residents["b1"]  # the third is reported by phone (mobile 22)
    for channel, rows in {
        "screening": [
            [first.id_number, "", "", "close", "网格", EARLIER],
            [second.id_number, "", "", "general", "网格", EARLIER],
        ],
        "request": [[first.id_number, "", "", "次密接", "协查函 7", EARLIER]],
        "bigdata": [["", mobile(22), "", "companion", "推送 1", EARLIER]],
    }.items():
        path = cli.file(f"{channel}.csv", rows)
        assert cli("tracing", "import", str(path), "--channel", channel).exit_code == 0
    frozen.advance(hours=13)  # past a close contact's deadline (12 h), not the others'
    shown = cli("tracing", "summary", "--region", B1, "--json", "--as-user", "anci_epi")
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.stdout)
    assert figures["region"] == B1
    assert figures["risk_persons"] == 3
    assert figures["by_category"] == {"close": 1, "secondary": 0, "companion": 1, "general": 1}
    assert figures["by_channel"] == {
        "self_report": 0,
        "screening": 2,
        "request": 1,
        "bigdata": 1,
        "investigation": 0,
    }
    assert figures["by_status"]["to_find"] == 3
    assert (figures["overdue"], figures["pending_matches"]) == (1, 0)

    text = cli("tracing", "summary", "--region", B1)
    assert text.exit_code == 0
    assert "3 persons at risk, 1 overdue" in text.stdout


def test_another_county_gets_exit_2_for_a_countys_summary(cli: Cli) -> None:
    result = cli("tracing", "summary", "--region", B1, "--json", "--as-user", "guangyang")
    assert result.exit_code == 2
    assert "not found" in result.stderr

"""``fangkong testing ...``: batch work for labs, handhelds and operators.
Imports print ``accepted N, unchanged N, rejected N, ...`` and exit 0, 1 or
2 as the registry import does."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fangkong.cliutil import AsUser, actor_for, finish_import, read_input, report_import
from fangkong.errors import FangkongError, InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from fangkong.access.service import Actor
    from fangkong.imports import ImportCounts

testing_app = typer.Typer(help="mass-testing rounds, samples, lab results", no_args_is_help=True)
round_app = typer.Typer(help="testing rounds", no_args_is_help=True)
samples_app = typer.Typer(help="sampling records", no_args_is_help=True)
results_app = typer.Typer(help="lab results", no_args_is_help=True)
site_app = typer.Typer(help="sampling sites", no_args_is_help=True)
testing_app.add_typer(round_app, name="round")
testing_app.add_typer(samples_app, name="samples")
testing_app.add_typer(results_app, name="results")
testing_app.add_typer(site_app, name="site")

Report = typer.Option(None, "--report", help="write rejected rows here (CSV)")
AsJson = typer.Option(False, "--json", help="print JSON")


def _fail(error: FangkongError) -> typer.Exit:
    typer.echo(f"error: {error.message}", err=True)
    return typer.Exit(2)


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=_default, indent=2))


def _local_time(value: str) -> datetime:
    from fangkong.config import get_settings

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("--starts-at", "not a time; write it like 2022-03-14 06:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=get_settings().zone)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


@round_app.command("create")
def round_create(
    name: str = typer.Option(..., "--name"),
    region: list[str] = typer.Option(..., "--region", help="region code; repeat for several"),
    pool_size: int | None = typer.Option(None, "--pool-size", help="swabs per tube (1 = single)"),
    starts_at: str = typer.Option("", "--starts-at", help="local time, e.g. '2022-03-14 06:00'"),
    hours: float = typer.Option(24, "--hours", help="length of the sampling window"),
    as_json: bool = AsJson,
    as_user: str | None = AsUser,
) -> None:
    """Open a round over regions (from now unless --starts-at); prints its id."""
    from fangkong import clock
    from fangkong.db import session_scope
    from fangkong.policy import get_policy
    from fangkong.testing.rounds import AreaPolicy, create_round

    size = pool_size if pool_size is not None else max(get_policy().swab_pool_sizes[:2])
    with session_scope() as session:
        actor = actor_for(session, as_user)
        try:
            starts = _local_time(starts_at) if starts_at else clock.now()
            created = create_round(
                session,
                actor,
                name=name,
                areas=[AreaPolicy(code, size) for code in region],
                starts_at=starts,
                ends_at=starts + timedelta(hours=hours),
            )
        except FangkongError as error:
            raise _fail(error) from None
        round_id = created.id
    if as_json:
        _json({"round_id": round_id})
    else:
        typer.echo(f"round {round_id}")


@round_app.command("close")
def round_close(
    round_id: int = typer.Option(..., "--round"),
    as_user: str | None = AsUser,
) -> None:
    """End a round's sampling; the follow-up of its positive pools goes on."""
    from fangkong.db import session_scope
    from fangkong.testing.rounds import close_round

    with session_scope() as session:
        try:
            close_round(session, actor_for(session, as_user), round_id)
        except FangkongError as error:
            raise _fail(error) from None
    typer.echo(f"round {round_id} closed")


@site_app.command("create")
def site_create(
    name: str = typer.Option(..., "--name"),
    region: str = typer.Option(..., "--region"),
    address: str = typer.Option("", "--address"),
    as_user: str | None = AsUser,
) -> None:
    """Register a sampling site; prints its id."""
    from fangkong.db import session_scope
    from fangkong.testing.rounds import create_site

    with session_scope() as session:
        try:
            site = create_site(
                session, actor_for(session, as_user), name=name, region_code=region, address=address
            )
        except FangkongError as error:
            raise _fail(error) from None
        typer.echo(f"site {site.id}")


@samples_app.command("import")
def samples_import(
    file: Path = typer.Argument(
        ..., help="CSV or XLSX: tube, pool_size, id_number, sampled_at, site"
    ),
    round_id: int = typer.Option(..., "--round"),
    report: Path | None = Report,
    as_user: str | None = AsUser,
) -> None:
    """Import sampling records (one row per person in a tube)."""
    from fangkong.testing.sample_import import import_samples

    _import_file(
        file,
        report,
        as_user,
        lambda session, actor, data: import_samples(session, actor, round_id, data, file.name),
    )


@results_app.command("import")
def results_import(
    file: Path = typer.Argument(
        ..., help="CSV or XLSX: tube, result, ct_orf1ab, ct_n, lab, tested_at"
    ),
    report: Path | None = Report,
    as_user: str | None = AsUser,
) -> None:
    """Import lab results; a conflicting result is kept, flagged and counted."""
    from fangkong.testing.result_import import import_results

    _import_file(
        file,
        report,
        as_user,
        lambda session, actor, data: import_results(session, actor, data, file.name),
    )


def _import_file(
    file: Path,
    report: Path | None,
    as_user: str | None,
    run: Callable[[Session, Actor, bytes], ImportCounts],
) -> None:
    """Read the file, run the import as the user, write the rejects report,
    print the summary and exit with the import's code."""
    from fangkong.db import session_scope
    from fangkong.imports import ImportBatch, rejects_report

    data = read_input(file)
    with session_scope() as session:
        try:
            result = run(session, actor_for(session, as_user), data)
        except FangkongError as error:
            raise _fail(error) from None
        batch = session.get(ImportBatch, result.batch_id)
        assert batch is not None
        report_import(result, report, lambda: rejects_report(session, batch))
    finish_import(result, report)


@testing_app.command("coverage")
def coverage(
    round_id: int = typer.Option(..., "--round"),
    region: str = typer.Option(..., "--region"),
    as_json: bool = AsJson,
    as_user: str | None = AsUser,
) -> None:
    """Persons due, sampled, missing and exempt in a region, and its children."""
    from fangkong.db import session_scope
    from fangkong.testing.coverage import coverage_report

    with session_scope() as session:
        try:
            report = coverage_report(session, actor_for(session, as_user), round_id, region)
        except FangkongError as error:
            raise _fail(error) from None

    def figures(code: str, name: str, c: Any) -> dict[str, Any]:
        return {
            "region": code,
            "name": name,
            "due": c.due,
            "sampled": c.sampled,
            "missing": c.missing,
            "exempt": c.exempt,
            "households_missing": c.households_missing,
        }

    top = report.region
    if as_json:
        _json(
            {
                **figures(top.code, top.name, top.counts),
                "children": [figures(c.code, c.name, c.counts) for c in report.children],
            }
        )
        return
    for item in [top, *report.children]:
        c = item.counts
        rate = "-" if c.rate is None else f"{c.rate:.1%}"
        typer.echo(
            f"{item.code:<12} {item.name:<12} due {c.due:>9} sampled {c.sampled:>9} "
            f"missing {c.missing:>8} exempt {c.exempt:>7} ({rate})"
        )


@testing_app.command("missing")
def missing(
    out: Path = typer.Argument(..., help="file to write: .xlsx or .csv"),
    round_id: int = typer.Option(..., "--round"),
    region: str = typer.Option(..., "--region"),
    as_user: str | None = AsUser,
) -> None:
    """The missing-persons list (一人不落) of a region, by building and household."""
    from fangkong.db import session_scope
    from fangkong.testing.coverage import missing_list_file

    fmt = "xlsx" if out.suffix.lower() == ".xlsx" else "csv"
    with session_scope() as session:
        try:
            data, count = missing_list_file(
                session, actor_for(session, as_user), round_id, region, fmt
            )
        except FangkongError as error:
            raise _fail(error) from None
    out.write_bytes(data)
    typer.echo(f"{count} persons missing, written to {out}")


@testing_app.command("positives")
def positives(
    round_id: int = typer.Option(..., "--round"),
    as_json: bool = AsJson,
    as_user: str | None = AsUser,
) -> None:
    """Positive pools with each member's control and re-sampling task."""
    from fangkong.db import session_scope
    from fangkong.testing.positives import positive_pools

    with session_scope() as session:
        try:
            pools = positive_pools(session, actor_for(session, as_user), round_id)
        except FangkongError as error:
            raise _fail(error) from None
    listing = [
        {
            "tube": p.barcode,
            "result_at": p.result_at,
            "members": [
                {"id_number": m.id_number, "under_control": m.under_control, "task": m.task}
                for m in p.members
            ],
        }
        for p in pools
    ]
    if as_json:
        _json(listing)
        return
    for pool in pools:
        controlled = sum(1 for m in pool.members if m.under_control)
        open_tasks = sum(1 for m in pool.members if m.task in ("open", "overdue"))
        typer.echo(
            f"{pool.barcode}: {controlled}/{len(pool.members)} under control, "
            f"{open_tasks} re-sampling tasks open"
        )


@testing_app.command("propose")
def propose(
    round_id: int = typer.Option(..., "--round", help="the round whose positivity to use"),
    as_json: bool = AsJson,
    as_user: str | None = AsUser,
) -> None:
    """Each community's pool size for the next round, from this round's positivity."""
    from fangkong.db import session_scope
    from fangkong.testing.proposals import next_round_pool_sizes

    with session_scope() as session:
        try:
            proposals = next_round_pool_sizes(session, actor_for(session, as_user), round_id)
        except FangkongError as error:
            raise _fail(error) from None
    if as_json:
        _json({code: p.as_json() for code, p in sorted(proposals.items())})
        return
    for code, p in sorted(proposals.items()):
        typer.echo(
            f"{code}  pool {p.pool_size:>2}  ({p.positives}/{p.sampled} positive, "
            f"estimate {p.prevalence_estimate:.4%}, {p.tests_per_person:.3f} tests/person)"
        )


@testing_app.command("plan")
def plan(
    prevalence: float = typer.Option(
        ..., "--prevalence", help="expected share positive, e.g. 0.01"
    ),
    max_pool: int = typer.Option(..., "--max-pool", help="most swabs one tube may hold"),
    rounds: int = typer.Option(2, "--rounds", help="lab rounds allowed one after another"),
    swabs: int = typer.Option(1, "--swabs-per-person", help="swabs each person gives"),
    as_json: bool = AsJson,
) -> None:
    """Compare pooling designs and recommend the one with the fewest tests."""
    from fangkong.testing.planner import plan_pooling

    try:
        result = plan_pooling(prevalence, max_pool, lab_rounds=rounds, swabs_per_person=swabs)
    except FangkongError as error:
        raise _fail(error) from None
    if as_json:
        _json(result.as_json())
        return
    typer.echo(
        f"recommended: {result.design}, pool size {result.pool_size}, "
        f"{result.tests_per_person:.3f} tests per person in {result.lab_rounds} lab rounds "
        f"(lower bound {result.lower_bound:.3f})"
    )
    for alternative in result.alternatives:
        mark = "" if alternative.allowed else f"  (not allowed: {alternative.not_allowed_because})"
        typer.echo(f"  {alternative.design:<14} {alternative.tests_per_person:.4f}{mark}")

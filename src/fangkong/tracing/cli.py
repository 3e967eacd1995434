"""``fangkong tracing ...``: risk-person lists from the channels, and a
region's figures. The import prints ``accepted N, unchanged N, rejected N,
...`` and exits 0 (every row taken), 1 (some rows rejected: see
``--report``) or 2 (the file or the request cannot be read), as the
registry import does."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fangkong.cliutil import AsUser, actor_for, finish_import, read_input, report_import
from fangkong.errors import FangkongError

tracing_app = typer.Typer(help="contact tracing: risk persons, figures", no_args_is_help=True)


def _fail(error: FangkongError) -> typer.Exit:
    typer.echo(f"error: {error.message}", err=True)
    return typer.Exit(2)


@tracing_app.command("import")
def tracing_import(
    file: Path = typer.Argument(
        ..., help="CSV or XLSX: id_number, phone, name, category, source, reported_at"
    ),
    channel: str = typer.Option(
        ..., "--channel", help="screening, request, bigdata or self_report"
    ),
    report: Path | None = typer.Option(None, "--report", help="write rejected rows here (CSV)"),
    as_user: str | None = AsUser,
) -> None:
    """Import a list of risk persons from one channel, matched to the registry."""
    from fangkong.db import session_scope
    from fangkong.tracing.risk_import import import_risk_persons, rejects_report_rows

    data = read_input(file)
    with session_scope() as session:
        actor = actor_for(session, as_user)
        try:
            result = import_risk_persons(session, actor, data, file.name, channel=channel)
        except FangkongError as error:
            raise _fail(error) from None
        report_import(result, report, lambda: rejects_report_rows(session, actor, result.batch_id))
    finish_import(result, report)


@tracing_app.command("summary")
def tracing_summary(
    region: str = typer.Option(..., "--region", help="region code, e.g. 131002"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    as_user: str | None = AsUser,
) -> None:
    """Risk persons of a region: distinct persons, by category, by channel,
    by status, overdue, and records waiting for a match."""
    from fangkong.db import session_scope
    from fangkong.tracing.summary import tracing_summary as summary_of

    with session_scope() as session:
        try:
            figures = summary_of(session, actor_for(session, as_user), region)
        except FangkongError as error:
            raise _fail(error) from None
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{figures['region']} {figures['name']}: {figures['risk_persons']} persons at risk, "
        f"{figures['overdue']} overdue, {figures['pending_matches']} records pending a match"
    )
    for group in ("by_category", "by_channel", "by_status"):
        counts = ", ".join(f"{key} {count}" for key, count in figures[group].items())
        typer.echo(f"  {group.removeprefix('by_')}: {counts}")

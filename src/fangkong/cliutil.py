"""What every command of the ``fangkong`` CLI shares: acting as a user, and
the end of a file import (notices, rejects report, summary line, exit code:
0 every row accepted, 1 some rejected, 2 the file could not be read)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.models import User
from fangkong.access.service import SYSTEM, Actor, actor_of

if TYPE_CHECKING:
    from fangkong.imports import ImportCounts

AsUser = typer.Option(None, "--as-user", help="act as this user (role and jurisdiction)")


def actor_for(session: Session, username: str | None) -> Actor:
    if username is None:
        return SYSTEM
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        typer.echo(f"error: no user {username!r}", err=True)
        raise typer.Exit(2)
    return actor_of(user)


def read_input(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        typer.echo(f"error: cannot read {file}: {error.strerror}", err=True)
        raise typer.Exit(2) from None


def report_import(
    result: ImportCounts,
    report: Path | None,
    report_rows: Callable[[], tuple[list[str], Sequence[Sequence[object]]]],
) -> None:
    """Notices and the rejects report (before the caller's session closes)."""
    from fangkong.tabular import write_rows

    for notice in result.notices:
        typer.echo(f"note: {notice}", err=True)
    if report is not None and result.rejected:
        header, rows = report_rows()
        report.write_bytes(write_rows(header, rows, "csv"))
        typer.echo(f"rejected rows written to {report}", err=True)


def finish_import(result: ImportCounts, report: Path | None) -> None:
    """Print the summary line and exit with the import's code."""
    typer.echo(result.summary)
    if result.rejected and report is None:
        for reject in result.rejects[:20]:
            typer.echo(f"  row {reject.row_number} {reject.column}: {reject.reason_zh}", err=True)
    raise typer.Exit(1 if result.rejected else 0)

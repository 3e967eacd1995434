"""The ``fangkong`` command line: thin wrappers over the services.

Commands run as the operator of the server (whole country) unless
``--as-user NAME`` makes them act as that user, with that user's role and
jurisdiction.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from sqlalchemy import select

from fangkong.access.models import User
from fangkong.access.service import SYSTEM
from fangkong.cliutil import AsUser, actor_for, finish_import, read_input, report_import
from fangkong.config import get_settings
from fangkong.errors import FangkongError
from fangkong.testing.cli import testing_app
from fangkong.tracing.cli import tracing_app

app = typer.Typer(help="Fangkong (防控) outbreak command system", no_args_is_help=True)
db_app = typer.Typer(help="database schema", no_args_is_help=True)
people_app = typer.Typer(help="population registry", no_args_is_help=True)
sim_app = typer.Typer(help="synthetic data", no_args_is_help=True)
users_app = typer.Typer(help="users and API tokens", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(people_app, name="people")
app.add_typer(sim_app, name="sim")
app.add_typer(users_app, name="users")
app.add_typer(testing_app, name="testing")
app.add_typer(tracing_app, name="tracing")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema (and reference data) to the latest migration."""
    from fangkong.migrate import upgrade

    url = get_settings().effective_database_url
    upgrade(url)
    typer.echo(f"database at head: {_safe_url(url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@people_app.command("import")
def people_import(
    file: Path = typer.Argument(..., help="CSV (UTF-8 or GBK) or XLSX registry file"),
    report: Path | None = typer.Option(None, "--report", help="write rejected rows here (CSV)"),
    as_user: str | None = AsUser,
) -> None:
    """Import persons; prints `accepted N, unchanged N, rejected N`.

    Exit 0: every row accepted; 1: some rows rejected (see --report);
    2: the file cannot be read at all."""
    from fangkong.db import session_scope
    from fangkong.people.importing import import_people, rejects_report_rows

    data = read_input(file)
    started = time.perf_counter()
    with session_scope() as session:
        actor = actor_for(session, as_user)
        try:
            result = import_people(
                session, actor, data, file.name, progress=lambda m: typer.echo(m, err=True)
            )
        except FangkongError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(2) from None
        report_import(result, report, lambda: rejects_report_rows(session, actor, result.batch_id))
    elapsed = time.perf_counter() - started
    typer.echo(
        f"batch {result.batch_id}: inserted {result.inserted}, updated {result.updated}, "
        f"duplicate suspects {result.duplicate_suspects}, "
        f"risk records moved {result.risk_records_moved}, {elapsed:.1f} s",
        err=True,
    )
    finish_import(result, report)


@people_app.command("export")
def people_export(
    out: Path = typer.Argument(..., help="file to write: .csv or .xlsx"),
    region: str = typer.Option("", help="only this region-code prefix"),
    search: str = typer.Option("", help="name, identity number or phone"),
    unmasked: bool = typer.Option(False, help="whole identity numbers and phones"),
    as_user: str | None = AsUser,
) -> None:
    """Export the registry (or a search) in the import format."""
    from fangkong.db import session_scope
    from fangkong.people.service import EXPORT_HEADER, export_rows
    from fangkong.tabular import write_rows

    fmt = out.suffix.lstrip(".").lower()
    with session_scope() as session:
        actor = actor_for(session, as_user)
        rows = export_rows(session, actor, search, region=region, unmasked=unmasked)
        try:
            out.write_bytes(write_rows(EXPORT_HEADER, rows, fmt))
        except ValueError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"written {out}")


@sim_app.command("population")
def sim_population(
    region: str = typer.Option(..., help="county, township or community code"),
    persons: int = typer.Option(..., min=1),
    seed: int = typer.Option(1),
    out: Path = typer.Option(..., help=".csv or .xlsx"),
    headers: str = typer.Option("zh", help="zh or en column headers"),
) -> None:
    """Write a synthetic registry file in the import format."""
    from fangkong.sim.population import generate_population, write_population

    if headers not in ("zh", "en"):
        typer.echo("error: --headers must be zh or en", err=True)
        raise typer.Exit(2)
    try:
        count = write_population(
            generate_population(region, persons, seed),
            out,
            headers=headers,  # type: ignore[arg-type]
        )
    except (KeyError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {count} persons to {out}")


@sim_app.command("samples")
def sim_samples(
    out: Path = typer.Argument(..., help="sampling file to write (CSV)"),
    round_id: int = typer.Option(..., "--round"),
    coverage: float = typer.Option(0.97, min=0, max=1, help="share of persons who come"),
    seed: int = typer.Option(1),
) -> None:
    """Sampling records for a round, from the registry: neighbours pooled
    with the round's pool size; infants and a share of absentees left out."""
    from fangkong import clock
    from fangkong.db import session_scope
    from fangkong.sim.sampling import round_population, sampling_records, write_csv
    from fangkong.testing.rounds import get_round, infant_cutoff, round_areas

    with session_scope() as session:
        testing_round = get_round(session, SYSTEM, round_id)
        areas = round_areas(session, round_id)
        persons = round_population(session.connection(), [p for p, _ in areas])
        records = sampling_records(
            persons,
            pool_size=testing_round.pool_size,
            tube_prefix=f"R{round_id:03d}T",
            started_at=testing_round.starts_at.astimezone(get_settings().zone),
            window_hours=min(12.0, (clock.now() - testing_round.starts_at).total_seconds() / 3600),
            coverage=coverage,
            infant_cutoff=infant_cutoff(testing_round),
            seed=seed,
        )
    write_csv(records, out)
    typer.echo(f"{records.num_rows} sampling records written to {out}")


@sim_app.command("results")
def sim_results(
    samples: Path = typer.Argument(..., help="a sampling file written by `sim samples`"),
    out: Path = typer.Argument(..., help="result file to write (CSV)"),
    prevalence: float = typer.Option(0.001, min=0, max=1),
    seed: int = typer.Option(1),
) -> None:
    """Lab results for a sampling file: tubes with an infected swab are positive."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from fangkong.sim.sampling import SAMPLE_HEADER, lab_results, write_csv

    table = pacsv.read_csv(
        samples,
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in SAMPLE_HEADER}, strings_can_be_null=False
        ),
    )
    results, infected = lab_results(table, prevalence=prevalence, seed=seed)
    write_csv(results, out)
    typer.echo(f"{results.num_rows} results ({len(infected)} persons infected) written to {out}")


@users_app.command("create")
def users_create(
    username: str = typer.Option(...),
    role: str = typer.Option(...),
    jurisdiction: str = typer.Option(..., help="region-code prefix, e.g. 131002"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    display_name: str = typer.Option(""),
    as_user: str | None = AsUser,
) -> None:
    from fangkong.access.service import create_user
    from fangkong.db import session_scope

    with session_scope() as session:
        try:
            user = create_user(
                session,
                actor_for(session, as_user),
                username=username,
                password=password,
                role=role,
                jurisdiction=jurisdiction,
                display_name=display_name,
            )
        except FangkongError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"created user {user.username} ({user.role}, jurisdiction {user.jurisdiction})")


@users_app.command("token")
def users_token(
    username: str = typer.Argument(...),
    name: str = typer.Option(..., help="what the token is for, e.g. 'lab feed'"),
    as_user: str | None = AsUser,
) -> None:
    """Issue an API token acting as USERNAME (printed once)."""
    from fangkong.access.service import issue_api_token
    from fangkong.db import session_scope

    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            typer.echo(f"error: no user {username!r}", err=True)
            raise typer.Exit(2)
        token = issue_api_token(session, actor_for(session, as_user), user_id=user.id, name=name)
    typer.echo(token)


@app.command("policy")
def policy_show() -> None:
    """The policy values in force (FANGKONG_POLICY_*) and their sources."""
    from fangkong.policy import Policy, get_policy

    policy = get_policy()
    for name, field in Policy.model_fields.items():
        typer.echo(f"{name} = {getattr(policy, name)!r}")
        typer.echo(f"    {field.description}")


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web app."""
    import uvicorn

    uvicorn.run("fangkong.web.app:create_app", factory=True, host=host, port=port)


@app.command("demo")
def demo(
    persons: int = typer.Option(200_000, help="synthetic persons in the demo county"),
    region: str = typer.Option("131002", help="the demo county"),
    seed: int = typer.Option(2022),
) -> None:
    """Build the demo database: schema, demo users, a synthetic county."""
    from fangkong.demo import build_demo

    build_demo(region=region, persons=persons, seed=seed, echo=typer.echo)

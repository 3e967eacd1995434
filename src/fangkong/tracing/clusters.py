"""Clusters of cases (聚集性疫情) as one viewer sees them: connected
components of the graph whose vertices are the cases and whose edges are
the exposures between two cases, found over the whole graph, each showing,
counting and dating only the viewer's cases (the rule is in
:func:`clusters`; the components in :func:`fangkong.tracing.graph.case_clusters`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.bulkio import copy_out
from fangkong.errors import InvalidInput, NotFound
from fangkong.people.models import Person
from fangkong.regions.service import get_region
from fangkong.tracing.case_rules import narrowest_prefix
from fangkong.tracing.graph import Edges, case_clusters, ids
from fangkong.tracing.graph_read import TIME, micros_of
from fangkong.tracing.models import Case


def region_prefix(session: Session, actor: Actor, region: str | None) -> str:
    """The part of ``region`` the actor sees (their whole jurisdiction when
    no region is given); NotFound for a region outside it."""
    if not region:
        return actor.jurisdiction
    found = get_region(session, actor, region)
    prefix = narrowest_prefix(found.prefix, actor.jurisdiction)
    if prefix is None:
        raise NotFound(f"region {region} not found")
    return prefix


@dataclass(frozen=True)
class ClusterCase:
    case_id: int
    person_id: int
    name: str
    region_code: str
    classification: str
    confirmed_at: datetime
    controlled: bool


@dataclass(frozen=True)
class ChainLink:
    """An edge of a cluster: ``source`` may have infected ``target``."""

    source_case_id: int
    target_case_id: int
    transmission: bool
    setting: str


@dataclass(frozen=True)
class Cluster:
    """A cluster as one viewer sees it: the cases of their jurisdiction that
    the graph connects (through cases anywhere), and the links between them.
    Nothing of another jurisdiction is shown, counted or dated."""

    number: int  # 1, 2, ... by first confirmation among the viewer's clusters
    size: int  # the viewer's cases in the cluster
    first_confirmed_at: datetime
    latest_confirmed_at: datetime
    cases: list[ClusterCase]
    chain: list[ChainLink]  # the edges between two of those


CASE_SCHEMA = pa.schema(
    [
        ("case_id", pa.int64()),
        ("person_id", pa.int64()),
        ("region_code", pa.string()),
        ("confirmed_at", TIME),
    ]
)
CASE_EDGE_SCHEMA = pa.schema(
    [
        ("source", pa.int64()),
        ("target", pa.int64()),
        ("transmission", pa.bool_()),
        ("setting", pa.string()),
    ]
)


def clusters(
    session: Session, actor: Actor, region: str | None = None, *, min_size: int = 2
) -> list[Cluster]:
    """Clusters of cases with at least one case in ``region`` (inside the
    actor's jurisdiction) and at least ``min_size`` cases, by first
    confirmation; each lists the cases and chain links the actor may see."""
    require(actor, Permission.TRACING_READ)
    if min_size < 1:
        raise InvalidInput("min_size", "must be at least 1")
    prefix = region_prefix(session, actor, region)
    session.flush()
    conn = session.connection()
    cases = copy_out(
        conn, "SELECT id, person_id, region_code, confirmed_at FROM tracing_case", CASE_SCHEMA
    )
    links = copy_out(
        conn,
        """SELECT e.source_person_id, e.person_id, e.transmission, e.setting FROM exposure e
        WHERE e.source_person_id IN (SELECT person_id FROM tracing_case)
          AND e.person_id IN (SELECT person_id FROM tracing_case)""",
        CASE_EDGE_SCHEMA,
    )
    found = case_clusters(
        cases.column("person_id").to_numpy(),
        micros_of(cases.column("confirmed_at")),
        Edges.of(links.column("source").to_numpy(), links.column("target").to_numpy()),
    )
    by_person = np.argsort(ids(cases.column("person_id").to_numpy()), kind="stable")
    regions = np.asarray(cases.column("region_code").to_pylist(), dtype=object)[by_person]
    in_region = np.fromiter((r.startswith(prefix) for r in regions), np.bool_, regions.size)
    wanted = np.unique(found.cluster[in_region])
    if wanted.size == 0:
        return []
    chosen = np.isin(found.cluster, wanted)
    visible = chosen & np.fromiter(
        (r.startswith(actor.jurisdiction) for r in regions), np.bool_, regions.size
    )
    shown = _cluster_cases(session, [int(p) for p in found.person_id[visible]])
    numbers = dict(
        zip(found.person_id[chosen].tolist(), found.cluster[chosen].tolist(), strict=True)
    )
    members: dict[int, list[ClusterCase]] = {int(n): [] for n in wanted}
    for case in shown.values():
        members[numbers[case.person_id]].append(case)
    chains: dict[int, list[ChainLink]] = {int(n): [] for n in wanted}
    transmission = links.column("transmission").to_pylist()
    setting = links.column("setting").to_pylist()
    for source, target, number, at in zip(
        found.edge_source.tolist(),
        found.edge_target.tolist(),
        found.edge_cluster.tolist(),
        found.edge_index.tolist(),
        strict=True,
    ):
        if number in chains and source in shown and target in shown:
            chains[number].append(
                ChainLink(
                    shown[source].case_id,
                    shown[target].case_id,
                    bool(transmission[at]),
                    setting[at],
                )
            )
    seen = [
        (
            sorted(members[int(n)], key=lambda c: (c.confirmed_at, c.case_id)),
            sorted(chains[int(n)], key=lambda link: (link.source_case_id, link.target_case_id)),
        )
        for n in wanted
        if len(members[int(n)]) >= min_size
    ]
    seen.sort(key=lambda found_cases: (found_cases[0][0].confirmed_at, found_cases[0][0].case_id))
    return [
        Cluster(
            number=number,
            size=len(cases),
            first_confirmed_at=cases[0].confirmed_at,
            latest_confirmed_at=max(c.confirmed_at for c in cases),
            cases=cases,
            chain=chain,
        )
        for number, (cases, chain) in enumerate(seen, start=1)
    ]


def _cluster_cases(session: Session, person_ids: list[int]) -> dict[int, ClusterCase]:
    """The cases of these persons, by person id."""
    stmt = (
        select(Case, Person.name)
        .join(Person, Person.id == Case.person_id)
        .where(Case.person_id.in_(person_ids))
    )
    return {
        case.person_id: ClusterCase(
            case.id,
            case.person_id,
            name,
            case.region_code,
            case.classification,
            case.confirmed_at,
            case.controlled,
        )
        for case, name in session.execute(stmt)
    }

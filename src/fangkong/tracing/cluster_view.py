"""A cluster as a page draws and exports it: the cluster's cases, the
contacts each case exposed and the contacts of those contacts, as nodes and
links, and its chain as rows. Only persons and edges inside the viewer's
jurisdiction are shown (the cluster's size still counts every case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.service import Actor, record_audit
from fangkong.config import get_settings
from fangkong.errors import InvalidInput, NotFound
from fangkong.people.models import Person
from fangkong.tabular import EXPORT_FORMATS, write_rows
from fangkong.tracing.cases import get_case
from fangkong.tracing.clusters import Cluster, clusters
from fangkong.tracing.models import Exposure, RiskPerson

MAX_NODES = 2_000  # a drawing beyond this is unreadable; the export has everything


@dataclass(frozen=True)
class Node:
    id: int  # person id
    name: str
    kind: str  # case, close, secondary, companion, general, other


@dataclass(frozen=True)
class Link:
    source: int  # person ids
    target: int
    setting: str
    last_exposure_at: datetime | None
    transmission: bool


@dataclass(frozen=True)
class ClusterDrawing:
    cluster: Cluster
    nodes: list[Node]
    links: list[Link]
    truncated: bool


def cluster_of_case(session: Session, actor: Actor, case_id: int) -> Cluster:
    """The cluster the case belongs to (a lone case is a cluster of one)."""
    case = get_case(session, actor, case_id)
    for found in clusters(session, actor, min_size=1):
        if any(c.case_id == case.id for c in found.cases):
            return found
    raise NotFound("cluster not found")


def draw_cluster(session: Session, actor: Actor, case_id: int) -> ClusterDrawing:
    cluster = cluster_of_case(session, actor, case_id)
    case_persons = {c.person_id for c in cluster.cases}
    first = _exposures_from(session, actor, case_persons)
    contacts = {e.person_id for e in first} - case_persons
    second = _exposures_from(session, actor, contacts)
    edges = first + [e for e in second if e.person_id not in case_persons]
    persons = case_persons | {e.person_id for e in edges}
    truncated = len(persons) > MAX_NODES
    if truncated:
        keep = case_persons | set(sorted(persons - case_persons)[: MAX_NODES - len(case_persons)])
        edges = [e for e in edges if e.source_person_id in keep and e.person_id in keep]
        persons = keep
    names: dict[int, str] = dict(
        session.execute(select(Person.id, Person.name).where(Person.id.in_(persons))).all()
    )
    categories: dict[int, str] = dict(
        session.execute(
            select(RiskPerson.person_id, RiskPerson.category).where(
                RiskPerson.person_id.in_(persons), RiskPerson.status != "released"
            )
        ).all()
    )
    nodes = [
        Node(
            pid, names.get(pid, ""), "case" if pid in case_persons else categories.get(pid, "other")
        )
        for pid in sorted(persons)
    ]
    links = [
        Link(e.source_person_id, e.person_id, e.setting, e.last_exposure_at, e.transmission)
        for e in edges
    ]
    return ClusterDrawing(cluster, nodes, links, truncated)


def _exposures_from(session: Session, actor: Actor, sources: set[int]) -> list[Exposure]:
    if not sources:
        return []
    stmt = select(Exposure).where(
        Exposure.source_person_id.in_(sources),
        Exposure.region_code.startswith(actor.jurisdiction, autoescape=True),
    )
    return list(session.scalars(stmt.order_by(Exposure.id)))


CHAIN_HEADER = [
    "来源人员编号",
    "来源姓名",
    "接触人员编号",
    "接触者姓名",
    "类别",
    "接触场所类型",
    "末次接触时间",
    "传播链",
]


def export_chain(session: Session, actor: Actor, case_id: int, fmt: str) -> bytes:
    """The cluster's chain as a file; the export is audited (who took which
    list), like every export of personal data."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput("fmt", f"one of {', '.join(EXPORT_FORMATS)}")
    drawing = draw_cluster(session, actor, case_id)
    data = write_rows(CHAIN_HEADER, chain_rows(drawing), fmt)
    record_audit(
        session,
        actor,
        "cluster.export",
        "tracing_case",
        case_id,
        get_case(session, actor, case_id).region_code,
        {"links": len(drawing.links), "format": fmt},
    )
    session.commit()
    return data


def chain_rows(drawing: ClusterDrawing) -> list[list[object]]:
    """The drawing's links as export rows (CSV/XLSX)."""
    names = {n.id: n.name for n in drawing.nodes}
    kinds = {n.id: n.kind for n in drawing.nodes}
    zone = get_settings().zone  # files carry local time
    return [
        [
            link.source,
            names.get(link.source, ""),
            link.target,
            names.get(link.target, ""),
            kinds.get(link.target, ""),
            link.setting,
            link.last_exposure_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if link.last_exposure_at
            else "",
            "是" if link.transmission else "",
        ]
        for link in drawing.links
    ]

"""Region lookups, population counts and the risk-zone overlay, scoped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.errors import InvalidInput, NotFound, PermissionDenied
from fangkong.people.importing import import_people
from fangkong.people.models import Person
from fangkong.regions.catalog import Level, descendants
from fangkong.regions.service import (
    ZoneArea,
    active_zones,
    ancestors,
    children,
    designate_zone,
    get_region,
    lift_zone,
    population_by_child,
    search_regions,
    zone_level_at,
)
from tests.factories import person_row, registry_csv

ANCI_TOWNSHIPS = [r.code for r in descendants("131002", Level.TOWNSHIP)]
ANCI = [r.code for r in descendants("131002", Level.VILLAGE)]


def test_every_county_of_langfang_and_cangzhou_is_in_the_tree(
    session: Session, county_commander: Actor
) -> None:
    from fangkong.access.service import SYSTEM

    langfang = {r.code for r in children(session, SYSTEM, "131000")}
    cangzhou = {r.code for r in children(session, SYSTEM, "130900")}
    assert {"131002", "131003", "131022", "131081", "131082"} <= langfang
    assert {"130902", "130903", "130981", "130984"} <= cangzhou


def test_ancestors_run_from_the_province_down(session: Session, county_commander: Actor) -> None:
    chain = ancestors(session, county_commander, ANCI[0])
    assert [r.level for r in chain] == ["province", "city", "county", "township"]
    assert chain[0].code == "130000"


def test_a_county_user_sees_no_other_county(session: Session, county_commander: Actor) -> None:
    with pytest.raises(NotFound):
        get_region(session, county_commander, "131003")
    assert {r.code for r in children(session, county_commander, "131000")} == {"131002"}
    assert all(r.code.startswith("131002") for r in search_regions(session, county_commander, "1"))


def test_population_counts_roll_up_to_each_child(
    session: Session, county_commander: Actor, other_county_commander: Actor
) -> None:
    rows = [person_row(ANCI[0], 1), person_row(ANCI[0], 2), person_row(ANCI[-1], 3)]
    import_people(session, county_commander, registry_csv(rows), "a.csv")
    counts = population_by_child(session, county_commander, "131002")
    assert counts["131002"] == 3
    assert counts[ANCI[0][:9]] == 2 + (1 if ANCI[-1][:9] == ANCI[0][:9] else 0)
    assert sum(v for k, v in counts.items() if k != "131002") == 3
    with pytest.raises(NotFound):
        population_by_child(session, other_county_commander, "131002")


def test_a_zone_over_a_township_covers_its_addresses_until_lifted(
    session: Session, county_commander: Actor
) -> None:
    import_people(session, county_commander, registry_csv([person_row(ANCI[0], 1)]), "a.csv")
    address_id = session.scalars(select(Person.address_id)).one()
    assert address_id is not None
    assert zone_level_at(session, address_id) is None
    zone = designate_zone(
        session,
        county_commander,
        name="封控区一",
        level="sealed",
        areas=[ZoneArea(region_code=ANCI[0][:9])],
        starts_at=clock.now() - timedelta(hours=1),
    )
    controlled = designate_zone(
        session,
        county_commander,
        name="管控区一",
        level="controlled",
        areas=[ZoneArea(address_id=address_id)],
        starts_at=clock.now() - timedelta(hours=1),
    )
    assert zone_level_at(session, address_id) == "sealed"  # the strictest wins
    assert {z.id for z in active_zones(session, county_commander)} == {zone.id, controlled.id}
    lift_zone(session, county_commander, zone.id)
    assert zone_level_at(session, address_id) == "controlled"


def test_zones_are_validated_and_scoped(
    session: Session,
    county_commander: Actor,
    other_county_commander: Actor,
    community_worker: Actor,
) -> None:
    with pytest.raises(InvalidInput, match="level"):
        designate_zone(
            session, county_commander, name="x", level="red", areas=[ZoneArea(region_code=ANCI[0])]
        )
    with pytest.raises(NotFound):
        designate_zone(
            session,
            other_county_commander,
            name="x",
            level="sealed",
            areas=[ZoneArea(region_code=ANCI[0])],
        )
    with pytest.raises(PermissionDenied):
        designate_zone(
            session,
            community_worker,
            name="x",
            level="sealed",
            areas=[ZoneArea(region_code=ANCI[0])],
        )

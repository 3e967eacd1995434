"""The pool-design planner: its figures, its recommendations, and each
formula checked against a simulation of the testing procedure it describes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from fangkong.errors import InvalidInput
from fangkong.policy import get_policy
from fangkong.testing.planner import (
    DESIGN_ORDER,
    DesignEvaluation,
    best_dorfman_pool_size,
    binary_entropy_bits,
    dorfman_tests_per_person,
    grid_tests_per_person,
    hierarchical_tests_per_person,
    lower_bound_on_tests_per_person,
    people_controlled_per_positive,
    plan_pooling,
    propose_pool_sizes,
    wilson_upper_bound,
)

SIMULATED_PERSONS = 200_000
SIMULATED_PREVALENCES = (0.001, 0.01, 0.05)
STANDARD_ERRORS_ALLOWED = 4
"""A simulated mean lies within 4 standard errors of its expectation with
probability above 99.99%; the seeds are fixed, so the tests are repeatable."""

Status = NDArray[np.bool_]
Counts = NDArray[np.float64]


# --- the required checks ----------------------------------------------------------


def test_dorfman_is_recommended_at_one_percent_with_pools_of_ten() -> None:
    plan = plan_pooling(0.01, 10)

    assert plan.design == "dorfman"
    assert plan.pool_size == 10
    assert round(plan.tests_per_person, 3) == 0.196
    assert plan.lab_rounds == 2


def test_dorfman_with_pools_of_twenty_is_recommended_at_one_in_a_thousand() -> None:
    plan = plan_pooling(0.001, 20)

    assert plan.design == "dorfman"
    assert plan.pool_size == 20
    assert round(plan.tests_per_person, 3) == 0.070


# --- formulas -----------------------------------------------------------------------


@pytest.mark.parametrize("prevalence", [0.0, 0.0001, 0.01, 0.2, 0.9, 1.0])
@pytest.mark.parametrize(("k1", "k2"), [(4, 2), (10, 5), (20, 4), (20, 10), (9, 3)])
def test_hierarchical_formula_is_the_textbook_one_when_sub_pools_divide_the_pool(
    prevalence: float, k1: int, k2: int
) -> None:
    q = 1 - prevalence
    textbook = 1 / k1 + (1 - q**k1) / k2 + (1 - q**k2)

    assert hierarchical_tests_per_person(prevalence, k1, k2) == pytest.approx(textbook, abs=1e-12)


def test_hierarchical_formula_counts_a_lone_leftover_swab_as_its_single_test() -> None:
    # 10 persons re-sampled by threes: tubes of 3, 3, 3 and 1.
    p = 0.05
    q = 1 - p
    per_first_tube = 1 + 4 * (1 - q**10) + 9 * (1 - q**3)

    assert hierarchical_tests_per_person(p, 10, 3) == pytest.approx(per_first_tube / 10)


@pytest.mark.parametrize("prevalence", [0.0, 0.001, 0.05, 0.5, 1.0])
def test_grid_formula_is_symmetric_in_rows_and_columns(prevalence: float) -> None:
    assert grid_tests_per_person(prevalence, 4, 9) == pytest.approx(
        grid_tests_per_person(prevalence, 9, 4)
    )


def test_lower_bound_is_the_entropy_or_one_tube_per_largest_pool_whichever_is_larger() -> None:
    assert lower_bound_on_tests_per_person(0.01, 10) == pytest.approx(0.1)
    assert lower_bound_on_tests_per_person(0.2, 10) == pytest.approx(0.7219280948873623)
    assert binary_entropy_bits(0.5) == pytest.approx(1.0)
    assert binary_entropy_bits(0.0) == binary_entropy_bits(1.0) == 0.0


def test_tube_positivity_keeps_its_precision_at_tiny_prevalences() -> None:
    # 1 - (1 - 1e-12)**10 computed naively loses most digits.
    assert dorfman_tests_per_person(1e-12, 10) - 0.1 == pytest.approx(1e-11, rel=1e-9)


# --- recommendations --------------------------------------------------------------


def test_individual_testing_is_recommended_when_pooling_is_no_better() -> None:
    # Dorfman's E(k) >= 1 for every k above p = 1 - 3**(-1/3) ~ 0.307.
    plan = plan_pooling(0.35, 20, lab_rounds=3, swabs_per_person=2)

    assert plan.design == "individual"
    assert plan.pool_size == 1
    assert plan.tests_per_person == 1.0
    assert plan.people_controlled_per_positive == 1.0


def test_a_single_lab_round_allows_only_individual_testing() -> None:
    plan = plan_pooling(0.001, 20, lab_rounds=1)

    assert plan.design == "individual"
    refused = {a.design: a.not_allowed_because for a in plan.alternatives if not a.allowed}
    assert refused == {
        "dorfman": "needs 2 lab rounds, at most 1 allowed",
        "hierarchical3": "needs 3 lab rounds, at most 1 allowed",
        "grid2d": "needs 2 lab rounds, at most 1 allowed; "
        "needs 2 swabs per person, at most 1 allowed",
    }


def test_three_lab_rounds_let_hierarchical_testing_beat_dorfman_at_one_percent() -> None:
    plan = plan_pooling(0.01, 20, lab_rounds=3)

    assert plan.design == "hierarchical3"
    assert plan.sizes == (20, 4)
    assert plan.lab_rounds == 3
    assert plan.tests_per_person < plan_pooling(0.01, 20).tests_per_person


def test_two_swabs_per_person_let_the_grid_beat_dorfman_at_five_percent() -> None:
    plan = plan_pooling(0.05, 20, swabs_per_person=2)

    assert plan.design == "grid2d"
    assert plan.sizes == (9, 10)
    assert plan.pool_size == 10  # the row tube holds one swab per column


def test_zero_prevalence_plans_the_largest_pools_with_the_fewest_lab_rounds() -> None:
    plan = plan_pooling(0.0, 20, lab_rounds=3, swabs_per_person=2)

    assert (plan.design, plan.pool_size) == ("dorfman", 20)
    assert plan.tests_per_person == pytest.approx(1 / 20)
    assert plan.people_controlled_per_positive == 20


def test_certain_infection_plans_single_tubes() -> None:
    assert plan_pooling(1.0, 20, lab_rounds=3, swabs_per_person=2).design == "individual"


def test_pools_of_one_leave_only_individual_testing_to_weigh() -> None:
    plan = plan_pooling(0.01, 1)

    assert plan.design == "individual"
    assert [a.design for a in plan.alternatives] == ["individual"]


def test_pools_of_two_cannot_be_split_into_hierarchical_sub_pools() -> None:
    designs = [a.design for a in plan_pooling(0.01, 2, lab_rounds=3).alternatives]

    assert designs == ["individual", "dorfman", "grid2d"]


@pytest.mark.parametrize("prevalence", [0.0005, 0.01, 0.05, 0.2])
def test_hierarchical_and_grid_sizes_are_the_best_of_every_pair_of_sizes(
    prevalence: float,
) -> None:
    max_pool = 15
    plan = plan_pooling(prevalence, max_pool, lab_rounds=3, swabs_per_person=2)
    by_design = {a.design: a for a in plan.alternatives}
    sizes = range(2, max_pool + 1)

    assert by_design["hierarchical3"].tests_per_person == pytest.approx(
        min(
            hierarchical_tests_per_person(prevalence, k1, k2)
            for k1 in sizes
            for k2 in sizes
            if k2 < k1
        )
    )
    assert by_design["grid2d"].tests_per_person == pytest.approx(
        min(grid_tests_per_person(prevalence, r, c) for r in sizes for c in sizes)
    )


def test_no_design_pools_tubes_in_the_lab_or_repools_pooled_tubes() -> None:
    # One tube per reaction: within the national limit of 5 tubes, and a
    # pooled tube is never combined with another.
    plan = plan_pooling(0.001, 20, lab_rounds=3, swabs_per_person=2)

    assert [a.design for a in plan.alternatives] == list(DESIGN_ORDER)
    for alternative in plan.alternatives:
        assert alternative.tubes_per_reaction == 1 <= get_policy().max_lab_pool_tubes


def test_people_controlled_per_positive_counts_everyone_sharing_a_first_tube() -> None:
    p = 0.01
    plan = plan_pooling(p, 20, lab_rounds=3, swabs_per_person=2)
    by_design = {a.design: a for a in plan.alternatives}

    assert by_design["individual"].people_controlled_per_positive == 1.0
    assert by_design["dorfman"].people_controlled_per_positive == pytest.approx(
        (1 - (1 - p) ** 11) / p
    )
    assert by_design["hierarchical3"].people_controlled_per_positive == pytest.approx(
        (1 - (1 - p) ** 20) / p
    )
    assert by_design["grid2d"].people_controlled_per_positive == pytest.approx(
        (1 - (1 - p) ** (20 + 20 - 1)) / p
    )


def test_plan_as_json_has_the_agreed_keys_rounded_for_display() -> None:
    plan = plan_pooling(0.01, 10)
    shown = plan.as_json()

    assert list(shown) == [
        "design",
        "pool_size",
        "tests_per_person",
        "lab_rounds",
        "lower_bound",
        "people_controlled_per_positive",
        "alternatives",
    ]
    assert shown["tests_per_person"] == 0.1956
    assert shown["lower_bound"] == 0.1
    assert shown["people_controlled_per_positive"] == 9.562
    assert [a["design"] for a in shown["alternatives"]] == list(DESIGN_ORDER)
    assert shown["alternatives"][1] == {
        "design": "dorfman",
        "sizes": [10],
        "pool_size": 10,
        "tests_per_person": 0.1956,
        "lab_rounds": 2,
        "swabs_per_person": 1,
        "tubes_per_reaction": 1,
        "people_controlled_per_positive": 9.562,
        "allowed": True,
        "not_allowed_because": None,
    }


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"prevalence": -0.01, "max_pool": 10}, "prevalence"),
        ({"prevalence": 1.5, "max_pool": 10}, "prevalence"),
        ({"prevalence": math.nan, "max_pool": 10}, "prevalence"),
        ({"prevalence": 0.01, "max_pool": 0}, "max_pool"),
        ({"prevalence": 0.01, "max_pool": 100_000}, "max_pool"),
        ({"prevalence": 0.01, "max_pool": 10, "lab_rounds": 0}, "lab_rounds"),
        ({"prevalence": 0.01, "max_pool": 10, "swabs_per_person": 0}, "swabs_per_person"),
        ({"prevalence": 0.01, "max_pool": 10, "max_lab_pool_tubes": 0}, "max_lab_pool_tubes"),
    ],
)
def test_bad_plan_input_is_refused_naming_the_field(
    arguments: dict[str, float], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan_pooling(**arguments)  # type: ignore[arg-type]

    assert refused.value.field == field
    assert refused.value.reason


# --- properties ---------------------------------------------------------------------

prevalences = st.one_of(
    st.sampled_from([0.0, 1.0]),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.floats(min_value=1e-6, max_value=0.05),
)


@settings(max_examples=150, deadline=None)
@given(
    prevalence=prevalences,
    max_pool=st.integers(min_value=1, max_value=40),
    lab_rounds=st.integers(min_value=1, max_value=4),
    swabs_per_person=st.integers(min_value=1, max_value=3),
)
def test_recommendation_is_never_worse_than_single_tubes_nor_below_the_lower_bound(
    prevalence: float, max_pool: int, lab_rounds: int, swabs_per_person: int
) -> None:
    plan = plan_pooling(
        prevalence, max_pool, lab_rounds=lab_rounds, swabs_per_person=swabs_per_person
    )

    assert plan.lower_bound - 1e-12 <= plan.tests_per_person <= 1.0
    assert plan.lab_rounds <= lab_rounds
    allowed = [a for a in plan.alternatives if a.allowed]
    assert plan.tests_per_person == min(a.tests_per_person for a in allowed)
    for alternative in plan.alternatives:
        assert alternative.tests_per_person >= plan.lower_bound - 1e-12
        assert alternative.allowed == (
            alternative.lab_rounds <= lab_rounds
            and alternative.swabs_per_person <= swabs_per_person
        )


@settings(max_examples=150, deadline=None)
@given(prevalence=prevalences, max_pool=st.integers(min_value=2, max_value=60))
def test_chosen_dorfman_pool_size_minimises_the_dorfman_formula(
    prevalence: float, max_pool: int
) -> None:
    def textbook(k: int) -> float:
        return 1 / k + 1 - (1 - prevalence) ** k

    chosen = best_dorfman_pool_size(prevalence, max_pool)

    assert 2 <= chosen <= max_pool
    assert textbook(chosen) <= min(textbook(k) for k in range(2, max_pool + 1)) + 1e-12


# --- simulations --------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedRound:
    """Per block of persons (one first-stage tube, or one grid): the
    reactions the lab ran, the persons put under temporary control and the
    truly positive persons."""

    block_size: int
    reactions: Counts
    controlled: Counts
    positives: Counts


def infected(
    rng: np.random.Generator,
    prevalence: float,
    block_shape: tuple[int, ...],
    persons: int = SIMULATED_PERSONS,
) -> Status:
    blocks = persons // math.prod(block_shape)
    return rng.random((blocks, *block_shape)) < prevalence


def tube_positive(status: Status, axis: int) -> Status:
    """Whether a tube holding the swabs along ``axis`` is positive."""
    return np.asarray(status.any(axis=axis), dtype=np.bool_)


def run_individual(status: Status) -> SimulatedRound:
    ones = np.ones(status.shape[0])
    return SimulatedRound(1, ones, ones, status[:, 0].astype(float))


def run_dorfman(status: Status) -> SimulatedRound:
    k = status.shape[1]
    pool_positive = tube_positive(status, axis=1)
    # Every member of a positive pool is re-sampled into a single tube.
    reactions = 1 + k * pool_positive
    found = status & pool_positive[:, None]
    assert (found == status).all()
    return SimulatedRound(
        k, reactions.astype(float), (k * pool_positive).astype(float), status.sum(axis=1) * 1.0
    )


def run_hierarchical(status: Status, sub_pool_size: int) -> SimulatedRound:
    k1 = status.shape[1]
    pool_positive = tube_positive(status, axis=1)
    reactions = np.ones(status.shape[0])
    found = np.zeros_like(status)
    for start in range(0, k1, sub_pool_size):
        members = status[:, start : start + sub_pool_size]
        # Members of a positive pool are re-sampled into this sub-pool tube.
        reactions += pool_positive
        sub_pool_positive = tube_positive(members, axis=1) & pool_positive
        if members.shape[1] == 1:
            found[:, start] = sub_pool_positive
            continue
        # Members of a positive sub-pool are re-sampled into single tubes.
        reactions += members.shape[1] * sub_pool_positive
        found[:, start : start + sub_pool_size] = members & sub_pool_positive[:, None]
    assert (found == status).all()
    return SimulatedRound(
        k1, reactions, (k1 * pool_positive).astype(float), status.sum(axis=1) * 1.0
    )


def run_grid(status: Status) -> SimulatedRound:
    _, rows, columns = status.shape
    row_positive = tube_positive(status, axis=2)  # a row tube holds one swab per column
    column_positive = tube_positive(status, axis=1)
    at_crossing = row_positive[:, :, None] & column_positive[:, None, :]
    in_positive_tube = row_positive[:, :, None] | column_positive[:, None, :]
    assert (status <= at_crossing).all()  # every positive person is re-sampled
    return SimulatedRound(
        rows * columns,
        rows + columns + at_crossing.sum(axis=(1, 2)) * 1.0,
        in_positive_tube.sum(axis=(1, 2)) * 1.0,
        status.sum(axis=(1, 2)) * 1.0,
    )


def simulate(alternative: DesignEvaluation, prevalence: float, seed: int) -> SimulatedRound:
    rng = np.random.default_rng(seed)
    sizes = alternative.sizes
    if alternative.design == "individual":
        return run_individual(infected(rng, prevalence, (1,)))
    if alternative.design == "dorfman":
        return run_dorfman(infected(rng, prevalence, sizes))
    if alternative.design == "hierarchical3":
        return run_hierarchical(infected(rng, prevalence, (sizes[0],)), sizes[1])
    return run_grid(infected(rng, prevalence, sizes))


def assert_within_standard_errors(per_block: Counts, block_size: int, expected: float) -> None:
    """Blocks are independent, so the per-person mean has standard error
    sd(per block) / (block size * sqrt(blocks))."""
    mean = per_block.mean() / block_size
    standard_error = per_block.std(ddof=1) / (block_size * math.sqrt(per_block.size))
    assert abs(mean - expected) <= STANDARD_ERRORS_ALLOWED * standard_error + 1e-12, (
        f"simulated {mean:.5f}, formula {expected:.5f}, standard error {standard_error:.5f}"
    )


def assert_ratio_within_standard_errors(
    numerator: Counts, denominator: Counts, expected: float
) -> None:
    """Ratio of two block sums; standard error by the delta method."""
    ratio = numerator.sum() / denominator.sum()
    residuals = numerator - ratio * denominator
    standard_error = residuals.std(ddof=1) / (denominator.mean() * math.sqrt(numerator.size))
    assert abs(ratio - expected) <= STANDARD_ERRORS_ALLOWED * standard_error + 1e-12, (
        f"simulated {ratio:.4f}, formula {expected:.4f}, standard error {standard_error:.4f}"
    )


@pytest.mark.parametrize("prevalence", SIMULATED_PREVALENCES)
@pytest.mark.parametrize("design", DESIGN_ORDER)
def test_simulated_testing_uses_the_reactions_the_formula_predicts(
    design: str, prevalence: float
) -> None:
    plan = plan_pooling(prevalence, 20, lab_rounds=3, swabs_per_person=2)
    (alternative,) = [a for a in plan.alternatives if a.design == design]
    seed = DESIGN_ORDER.index(alternative.design) * 10 + SIMULATED_PREVALENCES.index(prevalence)

    simulated = simulate(alternative, prevalence, seed)

    assert_within_standard_errors(
        simulated.reactions, simulated.block_size, alternative.tests_per_person
    )


@pytest.mark.parametrize(("k1", "k2"), [(10, 3), (20, 6), (7, 2)])
def test_simulated_hierarchical_testing_matches_when_sub_pools_do_not_divide_the_pool(
    k1: int, k2: int
) -> None:
    prevalence = 0.05
    rng = np.random.default_rng(k1 * k2)
    # A million persons, so that the simulation can tell the exact formula
    # from the textbook one (next test).
    simulated = run_hierarchical(infected(rng, prevalence, (k1,), persons=1_000_000), k2)

    assert_within_standard_errors(
        simulated.reactions, k1, hierarchical_tests_per_person(prevalence, k1, k2)
    )


def test_simulation_rejects_the_textbook_formula_for_sub_pools_that_do_not_divide() -> None:
    # 1/k1 + (1-(1-p)^k1)/k2 + 1-(1-p)^k2 undercounts the leftover tube.
    prevalence, k1, k2 = 0.05, 10, 3
    rng = np.random.default_rng(k1 * k2)
    simulated = run_hierarchical(infected(rng, prevalence, (k1,), persons=1_000_000), k2)
    textbook = 1 / k1 + (1 - (1 - prevalence) ** k1) / k2 + 1 - (1 - prevalence) ** k2

    with pytest.raises(AssertionError):
        assert_within_standard_errors(simulated.reactions, k1, textbook)


@pytest.mark.parametrize(("rows", "columns"), [(4, 7), (10, 10), (2, 20)])
def test_simulated_grid_testing_matches_for_square_and_oblong_grids(
    rows: int, columns: int
) -> None:
    prevalence = 0.01
    rng = np.random.default_rng(rows * 100 + columns)
    simulated = run_grid(infected(rng, prevalence, (rows, columns)))

    assert_within_standard_errors(
        simulated.reactions, rows * columns, grid_tests_per_person(prevalence, rows, columns)
    )


@pytest.mark.parametrize("prevalence", SIMULATED_PREVALENCES)
@pytest.mark.parametrize("design", ["dorfman", "grid2d"])
def test_simulated_temporary_control_matches_people_controlled_per_positive(
    design: str, prevalence: float
) -> None:
    plan = plan_pooling(prevalence, 20, lab_rounds=3, swabs_per_person=2)
    (alternative,) = [a for a in plan.alternatives if a.design == design]

    simulated = simulate(alternative, prevalence, seed=100 + len(design))

    assert_ratio_within_standard_errors(
        simulated.controlled, simulated.positives, alternative.people_controlled_per_positive
    )


# --- per-community proposals ------------------------------------------------------


def test_a_clean_small_sample_is_not_taken_for_zero_prevalence() -> None:
    proposal = propose_pool_sizes({"131002001001": (0, 30)})["131002001001"]

    assert proposal.prevalence_estimate == pytest.approx(0.0827, abs=1e-4)
    assert proposal.pool_size == 5
    assert proposal.tests_per_person == pytest.approx(dorfman_tests_per_person(0.0827, 5), 1e-3)


def test_a_clean_large_sample_earns_the_largest_pools() -> None:
    proposal = propose_pool_sizes({"131002001001": (0, 1000)})["131002001001"]

    assert proposal.pool_size == 20
    assert proposal.reason == "20 swabs per tube: fewest tests per person"


def test_a_community_with_many_positives_goes_back_to_single_tubes() -> None:
    proposal = propose_pool_sizes({"131002001001": (40, 100)})["131002001001"]

    assert proposal.pool_size == 1
    assert proposal.tests_per_person == 1.0
    assert proposal.reason == "pooling is no better than single tubes at this prevalence"


def test_a_community_nobody_sampled_in_gets_single_tubes() -> None:
    proposal = propose_pool_sizes({"131002001001": (0, 0)})["131002001001"]

    assert (proposal.pool_size, proposal.prevalence_estimate) == (1, 1.0)


def test_sealed_and_controlled_communities_get_single_tubes_whatever_their_figures() -> None:
    proposals = propose_pool_sizes(
        {"131002001001": (0, 5000), "131002001002": (0, 5000)},
        single_tube_communities={"131002001002"},
    )

    assert proposals["131002001001"].pool_size == 20
    assert proposals["131002001002"].pool_size == 1
    assert proposals["131002001002"].reason == "sealed or controlled zone: single tubes"


def test_proposals_stay_within_the_largest_pool_allowed() -> None:
    proposal = propose_pool_sizes({"131002001001": (0, 5000)}, max_pool=10)["131002001001"]

    assert proposal.pool_size == 10


def test_wilson_bound_matches_the_published_interval_for_none_among_thirty() -> None:
    # The two-sided 95% Wilson interval for 0/30 is [0, 0.1135]: its upper
    # end is the one-sided 97.5% bound.
    assert wilson_upper_bound(0, 30, confidence=0.975) == pytest.approx(0.1135, abs=1e-4)


@pytest.mark.parametrize(
    ("observed", "arguments", "field"),
    [
        ({"131002001001": (31, 30)}, {}, "observed[131002001001]"),
        ({"131002001001": (-1, 30)}, {}, "observed[131002001001]"),
        ({"131002001001": (0, -30)}, {}, "observed[131002001001]"),
        ({"131002001001": (0, 30)}, {"allowed_sizes": (0, 10)}, "allowed_sizes"),
        ({"131002001001": (0, 30)}, {"max_pool": 0}, "max_pool"),
        ({"131002001001": (0, 30)}, {"confidence": 1.0}, "confidence"),
    ],
)
def test_bad_proposal_input_is_refused_naming_the_field(
    observed: dict[str, tuple[int, int]], arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        propose_pool_sizes(observed, **arguments)  # type: ignore[arg-type]

    assert refused.value.field == field


@settings(max_examples=150, deadline=None)
@given(
    sampled=st.integers(min_value=0, max_value=100_000),
    positive_share=st.floats(min_value=0.0, max_value=1.0),
    allowed_sizes=st.lists(st.integers(min_value=2, max_value=30), min_size=1, max_size=4),
)
def test_proposal_is_the_cheapest_allowed_size_at_a_conservative_estimate(
    sampled: int, positive_share: float, allowed_sizes: list[int]
) -> None:
    positives = round(sampled * positive_share)
    proposal = propose_pool_sizes({"c": (positives, sampled)}, allowed_sizes=allowed_sizes)["c"]

    assert proposal.prevalence_estimate > 0
    assert sampled == 0 or proposal.prevalence_estimate >= positives / sampled
    assert proposal.pool_size in {1, *allowed_sizes}
    assert proposal.tests_per_person <= 1.0
    for size in allowed_sizes:
        cost = dorfman_tests_per_person(proposal.prevalence_estimate, size)
        assert proposal.tests_per_person <= cost + 1e-12


def test_people_controlled_per_positive_at_zero_prevalence_is_the_tube_size() -> None:
    assert people_controlled_per_positive(0.0, 10) == 10.0

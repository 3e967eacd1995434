"""Pool-design planner for mass PCR testing: pure rules, no database, no I/O.

``plan_pooling`` compares four ways of testing a population of prevalence
``p`` and recommends the one with the fewest expected reactions (tests) per
person among those the round can run (lab rounds, swabs per person):

==============  =====================================================  ======  =====
design          expected tests per person E                            rounds  swabs
==============  =====================================================  ======  =====
individual      1                                                      1       1
dorfman         1/k + 1 - (1-p)^k                                      2       1
hierarchical3   1/k1 + (1-(1-p)^k1)/k2 + 1-(1-p)^k2   (k2 divides k1)  3       1
grid2d          (r+c)/(rc) + p + (1-p)(1-(1-p)^(c-1))(1-(1-p)^(r-1))   2       2
==============  =====================================================  ======  =====

All pooling is **swab pooling in the field** (混采: several persons' swabs
in one tube). Every later stage is a *re-sample*: each member of a positive
tube gives a new swab, into a smaller pooled tube or a single tube. No
design ever pools tubes in the laboratory or re-pools tubes that already
hold pooled swabs: every reaction tests exactly one tube
(``DesignEvaluation.tubes_per_reaction == 1``), which is within the national
limit of ``Policy.max_lab_pool_tubes`` (5) and forbids re-pooling outright.
The NHC 2022 pooling warning (see ``fangkong.policy``) is thus kept by
construction, and ``plan_pooling`` checks it again before allowing a design.

Single tubes in sealed and controlled zones are a zone rule, not a
prevalence rule: ``propose_pool_sizes`` takes the communities concerned in
``single_tube_communities``.

The formulas assume each person is positive independently with probability
``p`` and a perfect assay (no dilution loss, no false results); the tests
check every formula against a simulation of the procedure it describes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

from fangkong.errors import InvalidInput
from fangkong.policy import get_policy

DesignName = Literal["individual", "dorfman", "hierarchical3", "grid2d"]

DESIGN_ORDER: tuple[DesignName, ...] = ("individual", "dorfman", "hierarchical3", "grid2d")
"""The order alternatives are listed in; also the last tie-break (simpler first)."""

LARGEST_MAX_POOL = 1000
"""The largest ``max_pool`` the planner searches. The hierarchical and grid
searches grow with the square of ``max_pool``; no field tube holds anywhere
near 1000 swabs, so a larger value is a typing mistake, not a plan."""


# --- formulas ------------------------------------------------------------------


def positive_tube_probability(prevalence: float, swabs: int) -> float:
    """Probability that a tube holding ``swabs`` persons' swabs is positive:
    ``1 - (1-p)^swabs``, computed without the cancellation that loses all
    precision at the small prevalences pooling is made for."""
    if swabs <= 0 or prevalence <= 0.0:
        return 0.0
    if prevalence >= 1.0:
        return 1.0
    return -math.expm1(swabs * math.log1p(-prevalence))


def binary_entropy_bits(prevalence: float) -> float:
    """``h(p) = -p log2 p - (1-p) log2 (1-p)``; 0 at p = 0 and p = 1."""
    if prevalence <= 0.0 or prevalence >= 1.0:
        return 0.0
    return -prevalence * math.log2(prevalence) - (1.0 - prevalence) * math.log2(1.0 - prevalence)


def lower_bound_on_tests_per_person(prevalence: float, max_pool: int) -> float:
    """No design can use fewer expected tests per person than ``max(h(p), 1/K)``.

    ``h(p)``: each test answers yes or no, so finding who is positive among
    independent persons needs on average at least their entropy in bits.
    ``1/K``: every person's swab goes into at least one tube and no tube
    holds more than ``K`` swabs."""
    return max(binary_entropy_bits(prevalence), 1.0 / max_pool)


def dorfman_tests_per_person(prevalence: float, pool_size: int) -> float:
    """Dorfman two-stage testing: one pooled tube of ``k`` swabs, then a
    single-tube re-sample of every member of a positive tube."""
    return 1.0 / pool_size + positive_tube_probability(prevalence, pool_size)


def hierarchical_sub_pool_sizes(pool_size: int, sub_pool_size: int) -> tuple[int, ...]:
    """How the members of a positive first-stage tube of ``pool_size`` are
    re-sampled: tubes of ``sub_pool_size`` swabs, the last one holding the
    rest when the sizes do not divide."""
    whole, rest = divmod(pool_size, sub_pool_size)
    return (sub_pool_size,) * whole + ((rest,) if rest else ())


def hierarchical_tests_per_person(prevalence: float, pool_size: int, sub_pool_size: int) -> float:
    """Three-stage hierarchical testing: a tube of ``k1`` swabs; members of
    a positive tube re-sampled into tubes of ``k2``; members of a positive
    second-stage tube re-sampled into single tubes.

    Equals ``1/k1 + (1-(1-p)^k1)/k2 + 1-(1-p)^k2`` when ``k2`` divides
    ``k1``; otherwise the last second-stage tube is smaller, and a
    second-stage "tube" of one swab is already that person's single test, so
    it is not re-sampled a third time."""
    tests_per_first_tube = 1.0
    first_positive = positive_tube_probability(prevalence, pool_size)
    for size in hierarchical_sub_pool_sizes(pool_size, sub_pool_size):
        tests_per_first_tube += first_positive
        if size > 1:
            tests_per_first_tube += size * positive_tube_probability(prevalence, size)
    return tests_per_first_tube / pool_size


def grid_tests_per_person(prevalence: float, rows: int, columns: int) -> float:
    """Two-dimensional grid of ``rows`` x ``columns`` persons, each giving
    two swabs: one into its row tube (``columns`` swabs), one into its
    column tube (``rows`` swabs). A person at the crossing of a positive row
    and a positive column is re-sampled into a single tube: always when the
    person is positive, and when negative only if someone else in the row
    and someone else in the column is positive."""
    p = prevalence
    others_in_row_positive = positive_tube_probability(p, columns - 1)
    others_in_column_positive = positive_tube_probability(p, rows - 1)
    retest = p + (1.0 - p) * others_in_row_positive * others_in_column_positive
    return (rows + columns) / (rows * columns) + retest


def people_controlled_per_positive(prevalence: float, swabs_sharing_a_tube: int) -> float:
    """Expected persons put under temporary control per truly positive
    person, when everyone sharing a positive first-stage tube with someone
    is controlled: ``(1-(1-p)^n)/p`` with ``n`` the persons whose swabs
    share a first-stage tube with a given person, that person included
    (``k`` for a pooled tube, ``r+c-1`` for the row and column of a grid).
    At p = 0 it is the limit ``n``."""
    if prevalence <= 0.0:
        return float(swabs_sharing_a_tube)
    return positive_tube_probability(prevalence, swabs_sharing_a_tube) / prevalence


# --- plan ----------------------------------------------------------------------


@dataclass(frozen=True)
class DesignEvaluation:
    """One design at its best sizes for the given prevalence and ``max_pool``.

    ``sizes`` is the full shape: ``(1,)`` individual, ``(k,)`` Dorfman,
    ``(k1, k2)`` hierarchical, ``(r, c)`` grid. ``pool_size`` is the
    first-stage tube size (for the grid the row tube, ``c``)."""

    design: DesignName
    sizes: tuple[int, ...]
    pool_size: int
    tests_per_person: float
    lab_rounds: int
    swabs_per_person: int
    tubes_per_reaction: int
    people_controlled_per_positive: float
    allowed: bool
    not_allowed_because: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "sizes": list(self.sizes),
            "pool_size": self.pool_size,
            "tests_per_person": round(self.tests_per_person, 4),
            "lab_rounds": self.lab_rounds,
            "swabs_per_person": self.swabs_per_person,
            "tubes_per_reaction": self.tubes_per_reaction,
            "people_controlled_per_positive": round(self.people_controlled_per_positive, 3),
            "allowed": self.allowed,
            "not_allowed_because": self.not_allowed_because,
        }


@dataclass(frozen=True)
class PoolPlan:
    """The recommended design and every alternative that was weighed.

    Full precision is kept here; ``as_json`` rounds for display."""

    design: DesignName
    sizes: tuple[int, ...]
    pool_size: int
    tests_per_person: float
    lab_rounds: int
    lower_bound: float
    people_controlled_per_positive: float
    alternatives: tuple[DesignEvaluation, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "pool_size": self.pool_size,
            "tests_per_person": round(self.tests_per_person, 4),
            "lab_rounds": self.lab_rounds,
            "lower_bound": round(self.lower_bound, 4),
            "people_controlled_per_positive": round(self.people_controlled_per_positive, 3),
            "alternatives": [alternative.as_json() for alternative in self.alternatives],
        }


@dataclass(frozen=True)
class _Candidate:
    design: DesignName
    sizes: tuple[int, ...]
    tests_per_person: float
    lab_rounds: int
    swabs_per_person: int
    swabs_sharing_a_first_tube: int


def plan_pooling(
    prevalence: float,
    max_pool: int,
    *,
    lab_rounds: int = 2,
    swabs_per_person: int = 1,
    max_lab_pool_tubes: int | None = None,
) -> PoolPlan:
    """Recommend the design with the fewest expected tests per person among
    those needing at most ``lab_rounds`` sequential lab rounds and at most
    ``swabs_per_person`` swabs from each person at the first sampling.

    ``max_pool`` is the most swabs one field tube may hold. Designs tie-break
    on fewer lab rounds, then fewer swabs, then ``DESIGN_ORDER``, so where
    pooling is no better than single tubes (e.g. Dorfman's E >= 1 above
    p ~ 0.31) the plan is individual testing. ``prevalence`` 0 plans the
    largest pools; 1 plans single tubes. ``max_lab_pool_tubes`` defaults to
    the policy; no design pools in the laboratory (module docstring).
    """
    _check_prevalence(prevalence)
    _check_at_least_one("max_pool", max_pool)
    if max_pool > LARGEST_MAX_POOL:
        raise InvalidInput(
            "max_pool", f"must be at most {LARGEST_MAX_POOL} swabs per tube, got {max_pool}"
        )
    _check_at_least_one("lab_rounds", lab_rounds)
    _check_at_least_one("swabs_per_person", swabs_per_person)
    if max_lab_pool_tubes is None:
        max_lab_pool_tubes = get_policy().max_lab_pool_tubes
    _check_at_least_one("max_lab_pool_tubes", max_lab_pool_tubes)

    candidates = [
        candidate
        for candidate in (
            _Candidate("individual", (1,), 1.0, 1, 1, 1),
            _best_dorfman(prevalence, max_pool),
            _best_hierarchical(prevalence, max_pool),
            _best_grid(prevalence, max_pool),
        )
        if candidate is not None
    ]
    evaluations = tuple(
        _evaluate(candidate, prevalence, lab_rounds, swabs_per_person, max_lab_pool_tubes)
        for candidate in candidates
    )
    best = min(
        (evaluation for evaluation in evaluations if evaluation.allowed),
        key=lambda evaluation: (
            evaluation.tests_per_person,
            evaluation.lab_rounds,
            evaluation.swabs_per_person,
            DESIGN_ORDER.index(evaluation.design),
        ),
    )
    return PoolPlan(
        design=best.design,
        sizes=best.sizes,
        pool_size=best.pool_size,
        tests_per_person=best.tests_per_person,
        lab_rounds=best.lab_rounds,
        lower_bound=lower_bound_on_tests_per_person(prevalence, max_pool),
        people_controlled_per_positive=best.people_controlled_per_positive,
        alternatives=evaluations,
    )


def best_dorfman_pool_size(prevalence: float, max_pool: int) -> int:
    """The ``k`` in ``2..max_pool`` with the fewest Dorfman tests per person
    (the smallest such ``k`` on a tie). ``max_pool`` must be at least 2."""
    return min(range(2, max_pool + 1), key=lambda k: dorfman_tests_per_person(prevalence, k))


def _best_dorfman(prevalence: float, max_pool: int) -> _Candidate | None:
    if max_pool < 2:
        return None
    k = best_dorfman_pool_size(prevalence, max_pool)
    return _Candidate("dorfman", (k,), dorfman_tests_per_person(prevalence, k), 2, 1, k)


def _best_hierarchical(prevalence: float, max_pool: int) -> _Candidate | None:
    if max_pool < 3:
        return None
    k1, k2 = min(
        ((k1, k2) for k1 in range(3, max_pool + 1) for k2 in range(2, k1)),
        key=_hierarchical_scorer(prevalence, max_pool),
    )
    return _Candidate(
        "hierarchical3", (k1, k2), hierarchical_tests_per_person(prevalence, k1, k2), 3, 1, k1
    )


def _hierarchical_scorer(prevalence: float, max_pool: int) -> Callable[[tuple[int, int]], float]:
    """``hierarchical_tests_per_person`` over a table of tube positivities,
    because the search evaluates it for every pair of sizes."""
    positive = [positive_tube_probability(prevalence, n) for n in range(max_pool + 1)]

    def tests_per_person(sizes: tuple[int, int]) -> float:
        k1, k2 = sizes
        whole, rest = divmod(k1, k2)
        tubes = whole + (1 if rest else 0)
        tests = 1.0 + tubes * positive[k1] + whole * k2 * positive[k2]
        if rest > 1:
            tests += rest * positive[rest]
        return tests / k1

    return tests_per_person


def _best_grid(prevalence: float, max_pool: int) -> _Candidate | None:
    """E is symmetric in rows and columns, so only ``rows <= columns`` is
    searched; the row tube (``columns`` swabs) is the larger one."""
    if max_pool < 2:
        return None
    rows, columns = min(
        ((r, c) for c in range(2, max_pool + 1) for r in range(2, c + 1)),
        key=_grid_scorer(prevalence, max_pool),
    )
    return _Candidate(
        "grid2d",
        (rows, columns),
        grid_tests_per_person(prevalence, rows, columns),
        2,
        2,
        rows + columns - 1,
    )


def _grid_scorer(prevalence: float, max_pool: int) -> Callable[[tuple[int, int]], float]:
    """``grid_tests_per_person`` over a table of tube positivities."""
    positive = [positive_tube_probability(prevalence, n) for n in range(max_pool + 1)]
    negative_share = 1.0 - prevalence

    def tests_per_person(shape: tuple[int, int]) -> float:
        rows, columns = shape
        retest = prevalence + negative_share * positive[columns - 1] * positive[rows - 1]
        return (rows + columns) / (rows * columns) + retest

    return tests_per_person


def _evaluate(
    candidate: _Candidate,
    prevalence: float,
    lab_rounds: int,
    swabs_per_person: int,
    max_lab_pool_tubes: int,
) -> DesignEvaluation:
    tubes_per_reaction = 1  # every design pools swabs in the field, never tubes in the lab
    reasons = []
    if candidate.lab_rounds > lab_rounds:
        reasons.append(f"needs {candidate.lab_rounds} lab rounds, at most {lab_rounds} allowed")
    if candidate.swabs_per_person > swabs_per_person:
        reasons.append(
            f"needs {candidate.swabs_per_person} swabs per person, "
            f"at most {swabs_per_person} allowed"
        )
    if tubes_per_reaction > max_lab_pool_tubes:
        reasons.append(
            f"pools {tubes_per_reaction} tubes per reaction, at most {max_lab_pool_tubes} allowed"
        )
    return DesignEvaluation(
        design=candidate.design,
        sizes=candidate.sizes,
        pool_size=candidate.sizes[-1] if candidate.design == "grid2d" else candidate.sizes[0],
        tests_per_person=candidate.tests_per_person,
        lab_rounds=candidate.lab_rounds,
        swabs_per_person=candidate.swabs_per_person,
        tubes_per_reaction=tubes_per_reaction,
        people_controlled_per_positive=people_controlled_per_positive(
            prevalence, candidate.swabs_sharing_a_first_tube
        ),
        allowed=not reasons,
        not_allowed_because="; ".join(reasons) or None,
    )


# --- per-community proposal ----------------------------------------------------


@dataclass(frozen=True)
class PoolProposal:
    """The swab pool size proposed for a community's next round.

    ``pool_size`` 1 means single tubes (单采). ``prevalence_estimate`` is
    the conservative estimate the choice was made with, not the observed
    fraction."""

    pool_size: int
    prevalence_estimate: float
    tests_per_person: float
    positives: int
    sampled: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "pool_size": self.pool_size,
            "prevalence_estimate": round(self.prevalence_estimate, 6),
            "tests_per_person": round(self.tests_per_person, 4),
            "positives": self.positives,
            "sampled": self.sampled,
            "reason": self.reason,
        }


def wilson_upper_bound(positives: int, sampled: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound of a prevalence from the Wilson score
    interval.

    Chosen over the plain fraction because 0 positives among 30 persons does
    not show a prevalence of 0 (the bound is about 8%), and over the Jeffreys
    interval because it has a closed form with comparable coverage, so this
    stays a few lines of arithmetic without a beta-quantile routine. With
    nobody sampled nothing is known and the bound is 1."""
    if sampled == 0:
        return 1.0
    z = NormalDist().inv_cdf(confidence)
    observed = positives / sampled
    centre = observed + z * z / (2 * sampled)
    spread = z * math.sqrt(observed * (1 - observed) / sampled + z * z / (4 * sampled * sampled))
    # Clamped so rounding never puts the bound below the observed fraction.
    return max(observed, min(1.0, (centre + spread) / (1 + z * z / sampled)))


def propose_pool_sizes(
    observed: Mapping[str, tuple[int, int]],
    *,
    allowed_sizes: Sequence[int] | None = None,
    max_pool: int | None = None,
    single_tube_communities: Set[str] = frozenset(),
    confidence: float = 0.95,
) -> dict[str, PoolProposal]:
    """Propose each community's swab pool size for the next round from the
    previous round's ``(positives, persons sampled)`` there.

    The prevalence is estimated by ``wilson_upper_bound`` at ``confidence``
    (one-sided), so that a small clean sample does not earn the largest
    pools; among ``allowed_sizes`` no larger than ``max_pool``, and 1
    (single tubes), the size with the fewest Dorfman tests per person wins
    (the smaller size on a tie). Communities in ``single_tube_communities``
    (sealed or controlled zones, ``Policy.single_tube_zone_levels``) get
    single tubes whatever their figures. ``allowed_sizes`` defaults to
    ``Policy.swab_pool_sizes`` and ``max_pool`` to its largest size.
    """
    if allowed_sizes is None:
        allowed_sizes = get_policy().swab_pool_sizes
    for size in allowed_sizes:
        _check_at_least_one("allowed_sizes", size)
    if max_pool is None:
        max_pool = max(allowed_sizes, default=1)
    _check_at_least_one("max_pool", max_pool)
    if not 0.5 <= confidence < 1.0:
        raise InvalidInput("confidence", f"must be at least 0.5 and below 1, got {confidence}")
    sizes = sorted({1, *(size for size in allowed_sizes if size <= max_pool)})

    proposals: dict[str, PoolProposal] = {}
    for community_code, (positives, sampled) in observed.items():
        field = f"observed[{community_code}]"
        if sampled < 0 or positives < 0:
            raise InvalidInput(field, "positives and persons sampled cannot be negative")
        if positives > sampled:
            raise InvalidInput(
                field, f"{positives} positives is more than the {sampled} persons sampled"
            )
        estimate = wilson_upper_bound(positives, sampled, confidence)
        if community_code in single_tube_communities:
            proposals[community_code] = PoolProposal(
                1, estimate, 1.0, positives, sampled, "sealed or controlled zone: single tubes"
            )
            continue
        best = min(sizes, key=lambda k: _tests_per_person_with_pool(estimate, k))
        tests = _tests_per_person_with_pool(estimate, best)
        if sampled == 0:
            reason = "nobody sampled last round: single tubes until a round measures it"
        elif best == 1:
            reason = "pooling is no better than single tubes at this prevalence"
        else:
            reason = f"{best} swabs per tube: fewest tests per person"
        proposals[community_code] = PoolProposal(best, estimate, tests, positives, sampled, reason)
    return proposals


def _tests_per_person_with_pool(prevalence: float, pool_size: int) -> float:
    return 1.0 if pool_size == 1 else dorfman_tests_per_person(prevalence, pool_size)


# --- input checks --------------------------------------------------------------


def _check_prevalence(prevalence: float) -> None:
    if math.isnan(prevalence) or not 0.0 <= prevalence <= 1.0:
        raise InvalidInput("prevalence", f"must be a fraction from 0 to 1, got {prevalence}")


def _check_at_least_one(field: str, value: int) -> None:
    if value < 1:
        raise InvalidInput(field, f"must be at least 1, got {value}")

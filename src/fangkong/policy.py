"""Every policy number in one place, each with the source it comes from
(DESIGN.md habit 13). A command centre changes them by environment
(``FANGKONG_POLICY_<NAME>``, e.g. ``FANGKONG_POLICY_RESAMPLE_DEADLINE_HOURS=4``)
without a new release; ``fangkong policy`` prints the values in force.

Sources cited below:

- *NHC guide 3rd ed.*: National Health Commission, 《区域新型冠状病毒核酸检测组织
  实施指南（第三版）》 (Regional nucleic acid testing organisation guide,
  3rd edition), 2022.
- *NHC pooling warning*: the National Health Commission's 2022 warning on
  pooled testing: no laboratory pooling of more than five tubes, and no
  re-pooling of tubes that already hold pooled swabs.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Policy(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FANGKONG_POLICY_", extra="ignore")

    # --- mass testing -------------------------------------------------------
    swab_pool_sizes: tuple[int, ...] = Field(
        (5, 10, 20),
        description="swabs per tube a round may use in the field (混采): 5:1, 10:1, 20:1; "
        "source: NHC guide 3rd ed. (10:1 and 20:1) and its 2020 predecessor (5:1)",
    )
    single_tube_zone_levels: tuple[str, ...] = Field(
        ("sealed", "controlled"),
        description="risk-zone levels where every person is sampled into a single tube "
        "(单采); source: NHC guide 3rd ed.",
    )
    exempt_below_age_years: int = Field(
        3,
        ge=0,
        le=18,
        description="infants younger than this leave a round's denominator; local practice "
        "in 2022 round notices (varied from 1 to 3 years), set by the command centre",
    )
    resample_deadline_hours: float = Field(
        6,
        gt=0,
        description="from a positive pooled result to each member's individual single-tube "
        "re-sampling; NHC guide 3rd ed. asks for immediate control and re-sampling; "
        "6 hours is this project's default for 'immediately'",
    )
    result_overdue_hours: float = Field(
        12,
        gt=0,
        description="a collected tube without a result after this long is overdue; NHC guide "
        "3rd ed.: results in principle within 6 hours, at most 12",
    )
    max_lab_pool_tubes: int = Field(
        5,
        ge=1,
        description="the most tubes a laboratory may pool into one reaction; source: NHC "
        "pooling warning (2022). Pooled tubes are never re-pooled.",
    )

    @field_validator("swab_pool_sizes")
    @classmethod
    def _sizes_are_pools(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(size < 2 for size in value):
            raise ValueError("swab pool sizes must be whole numbers of at least 2")
        return tuple(sorted(set(value)))


@lru_cache
def get_policy() -> Policy:
    """The policy in force; tests call ``get_policy.cache_clear()`` after
    changing the environment."""
    return Policy()

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
- *Protocol 8th ed.*: 《新型冠状病毒肺炎防控方案（第八版）》 (COVID-19 prevention
  and control protocol, 8th edition, State Council joint prevention and
  control mechanism, 2021), in force in Hebei in March 2022. The 9th
  edition (June 2022) shortened the quarantines; a command centre following
  it changes the values below.
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

    # --- contact tracing ----------------------------------------------------
    close_contact_lookback_days: int = Field(
        4,
        ge=0,
        le=21,
        description="close contacts are those exposed from this many days before a case's "
        "symptom onset (or, without symptoms, before the positive sample); Protocol 8th ed.",
    )
    close_contact_measure: str = Field(
        "centralized_quarantine",
        description="measure for close contacts (密接): 14 days of centralized quarantine, "
        "then 7 of home health monitoring; Protocol 8th ed.",
    )
    secondary_contact_measure: str = Field(
        "centralized_quarantine",
        description="measure for secondary contacts (次密接): 7 days of centralized "
        "quarantine; Protocol 8th ed. (the 9th ed. makes it home quarantine)",
    )
    companion_measure: str = Field(
        "health_monitoring",
        description="measure for spatiotemporal companions (时空伴随者): home health "
        "monitoring with tests; local practice in 2022 notices, set by the command centre",
    )
    general_contact_measure: str = Field(
        "health_monitoring",
        description="measure for general contacts (一般接触者): health monitoring; "
        "Protocol 8th ed.",
    )
    close_contact_deadline_hours: float = Field(
        12,
        gt=0,
        description="from a close contact's identification to their being under the measure; "
        "the protocol asks for 'as soon as possible'; 12 hours is this project's default",
    )
    secondary_contact_deadline_hours: float = Field(
        24,
        gt=0,
        description="from identification to control for a secondary contact; this project's "
        "default, set by the command centre",
    )
    companion_deadline_hours: float = Field(
        24,
        gt=0,
        description="from identification to the start of health monitoring for a "
        "spatiotemporal companion; this project's default",
    )
    general_contact_deadline_hours: float = Field(
        48,
        gt=0,
        description="from identification to the start of health monitoring for a general "
        "contact; this project's default",
    )

    # --- quarantine and hospitals ---------------------------------------------
    close_contact_quarantine_days: int = Field(
        14,
        ge=1,
        le=28,
        description="days of centralized quarantine for a close contact, counted from the "
        "last exposure; Protocol 8th ed. (the 9th ed.: 7 days)",
    )
    secondary_contact_quarantine_days: int = Field(
        7,
        ge=1,
        le=28,
        description="days of quarantine for a secondary contact, counted from the last "
        "exposure of their close contact; Protocol 8th ed.",
    )
    home_quarantine_days: int = Field(
        7,
        ge=1,
        le=28,
        description="days of home quarantine (居家隔离), counted from the last exposure; "
        "Protocol 8th ed. (for persons who cannot be quarantined centrally, and the "
        "home health monitoring after a close contact's centralized quarantine)",
    )
    close_contact_home_monitoring_days: int = Field(
        7,
        ge=0,
        le=28,
        description="days of home health monitoring (居家健康监测) that follow a close "
        "contact's release from centralized quarantine, 0 for none; Protocol 8th ed. "
        "('14 + 7'; the 9th ed.: 7 days centralized + 3 at home)",
    )
    home_monitoring_test_days: tuple[int, ...] = Field(
        (2, 7),
        description="test days of the home health monitoring after centralized quarantine; "
        "Protocol 8th ed.",
    )
    close_contact_test_days: tuple[int, ...] = Field(
        (1, 4, 7, 14),
        description="days of a close contact's quarantine with a nucleic-acid test, day 1 "
        "being the first day of the stay; Protocol 8th ed. (Hebei sites added day 10 in "
        "March 2022: set 1,4,7,10,14)",
    )
    secondary_contact_test_days: tuple[int, ...] = Field(
        (1, 4, 7),
        description="test days of a secondary contact's quarantine; Protocol 8th ed.",
    )
    home_quarantine_test_days: tuple[int, ...] = Field(
        (1, 4, 7),
        description="test days of home quarantine; Protocol 8th ed.",
    )
    child_companion_below_age: int = Field(
        14,
        ge=0,
        le=18,
        description="a child younger than this may share a room with a parent or guardian "
        "of the same household (the one exception to one person one room besides a "
        "carer); Protocol 8th ed. allows a companion for children and persons needing "
        "care, the age is set by the command centre",
    )
    floor_buffer_rooms: int = Field(
        1,
        ge=0,
        le=5,
        description="empty rooms left between two exposure groups placed on one floor; "
        "this project's default for keeping groups apart (三区两通道 practice)",
    )
    release_health_check_hours: float = Field(
        24,
        gt=0,
        description="a release needs a health check without symptoms this recent; this "
        "project's default (daily health checks in quarantine, Protocol 8th ed.)",
    )
    home_check_grace_hours: float = Field(
        24,
        gt=0,
        description="a home under quarantine without a check-in for this long is listed as "
        "missed; daily checks by the community worker, Protocol 8th ed.",
    )
    hospital_admission_deadline_hours: float = Field(
        2,
        gt=0,
        description="from a case's confirmation to admission in a designated hospital; "
        "Protocol 8th ed. ('within 2 hours')",
    )
    capacity_forecast_days: int = Field(
        3,
        ge=1,
        le=14,
        description="days ahead the room forecast looks, and days of new close contacts "
        "its trend averages; this project's default",
    )

    def quarantine_days_for(self, category: str) -> int:
        return {
            "close": self.close_contact_quarantine_days,
            "secondary": self.secondary_contact_quarantine_days,
        }.get(category, self.home_quarantine_days)

    def test_days_for(self, category: str, kind: str) -> tuple[int, ...]:
        """The test days of a stay of ``kind`` for a person of ``category``."""
        if kind != "centralized":
            return self.home_quarantine_test_days
        if category == "close":
            return self.close_contact_test_days
        return self.secondary_contact_test_days

    def measure_for(self, category: str) -> str:
        return {
            "close": self.close_contact_measure,
            "secondary": self.secondary_contact_measure,
            "companion": self.companion_measure,
            "general": self.general_contact_measure,
        }[category]

    def deadline_hours_for(self, category: str) -> float:
        return {
            "close": self.close_contact_deadline_hours,
            "secondary": self.secondary_contact_deadline_hours,
            "companion": self.companion_deadline_hours,
            "general": self.general_contact_deadline_hours,
        }[category]

    @field_validator(
        "close_contact_measure",
        "secondary_contact_measure",
        "companion_measure",
        "general_contact_measure",
    )
    @classmethod
    def _known_measure(cls, value: str) -> str:
        measures = ("centralized_quarantine", "home_quarantine", "health_monitoring", "none")
        if value not in measures:
            raise ValueError(f"unknown measure {value!r}; use one of {', '.join(measures)}")
        return value

    @field_validator(
        "close_contact_test_days",
        "secondary_contact_test_days",
        "home_quarantine_test_days",
        "home_monitoring_test_days",
    )
    @classmethod
    def _test_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(day < 1 for day in value):
            raise ValueError("test days are day numbers of the stay, from 1")
        return tuple(sorted(set(value)))

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

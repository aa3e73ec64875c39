"""The requirement catalogue: every requirement id the suite can check (docs/architecture.md §4).

The catalogue is data (`requirements.toml` next to this module) so that the report's
compliance matrix, the Gherkin tags and the validators all speak the same ids.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from harness.spec.findings import Severity


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    step: int
    severity: Severity
    statement: str
    source: str
    # Who the check is about. Most requirements judge the recorder under test; a few judge a
    # decision of the flow that arec itself plays (its SIP Server / Media Server emulation), so
    # they pass whatever the recorder does and the report must say so.
    judged_on: str = "recorder"
    # Tolerances of the check, as data (e.g. `position_samples`): what "within tolerance" means
    # is part of the requirement, not a constant buried in the check.
    tolerance: Mapping[str, float] = field(default_factory=dict)

    @property
    def display_statement(self) -> str:
        if self.judged_on == "recorder":
            return self.statement
        return f"{self.statement} [judged on arec's own {self.judged_on} emulation, not on the recorder]"


JUDGED_ON = frozenset({"recorder", "SIP Server", "Media Server"})


class UnknownRequirement(KeyError):
    """A tag or a finding named an id that is not in the catalogue."""


@cache
def load_catalogue() -> dict[str, Requirement]:
    text = resources.files("harness.spec").joinpath("requirements.toml").read_text(encoding="utf-8")
    catalogue: dict[str, Requirement] = {}
    for entry in tomllib.loads(text)["requirement"]:
        requirement = Requirement(
            id=entry["id"],
            step=int(entry["step"]),
            severity=Severity(entry["severity"]),
            statement=entry["statement"],
            source=entry["source"],
            judged_on=entry.get("judged_on", "recorder"),
            tolerance={str(k): float(v) for k, v in entry.get("tolerance", {}).items()},
        )
        if requirement.judged_on not in JUDGED_ON:
            raise ValueError(f"{requirement.id}: judged_on must be one of {sorted(JUDGED_ON)}")
        if requirement.id in catalogue:
            raise ValueError(f"duplicate requirement id in catalogue: {requirement.id}")
        if not 1 <= requirement.step <= 10:
            raise ValueError(f"{requirement.id}: seed step must be 1..10, got {requirement.step}")
        catalogue[requirement.id] = requirement
    return catalogue


def requirement(requirement_id: str) -> Requirement:
    try:
        return load_catalogue()[requirement_id]
    except KeyError:
        raise UnknownRequirement(requirement_id) from None

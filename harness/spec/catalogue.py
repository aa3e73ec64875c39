"""The requirement catalogue: every requirement id the suite can check (DESIGN.md §4).

The catalogue is data (`requirements.toml` next to this module) so that the report's
compliance matrix, the Gherkin tags and the validators all speak the same ids.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
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
        )
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

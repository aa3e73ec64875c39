"""Traceability: Gherkin tags, validator finding ids and the requirement catalogue agree (docs/architecture.md §4).

1. Every tag in features/**/*.feature that looks like a requirement id is in the catalogue.
2. Every finding id a validator can emit (its EMITTED_REQUIREMENTS) is in the catalogue.
3. Every MUST requirement of the seed steps the suite covers (all ten) is exercised by
   at least one scenario tag, or by a named unit/integration test (`EXERCISED_BY_TESTS`), or is
   listed — with the reason — in `NOT_YET_EXERCISED`, so the gap stays visible instead of
   failing every run. Stale entries in either list fail the test, so both lists only shrink.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from harness import validate_cli
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Severity
from harness.validators import recording, rtp, sip

ROOT = Path(__file__).resolve().parents[3]
FEATURES = ROOT / "features"
REQUIREMENT_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
COVERED_STEPS = tuple(range(1, 11))  # features 01-10: every seed step of the Genesys flow

# MUST requirements that no scenario tags yet but that a test checks against a recorder's real
# behaviour (the reference recorder), as "path::test function" — verified to exist below.
EXERCISED_BY_TESTS: dict[str, tuple[str, ...]] = {
    # Empty: the step 6 edge cases (video port 0, 488, CANCEL/487, malformed/400) are scenarios
    # now (features/06_session_edge_cases.feature), the SIPREC refusals too (features/15_siprec.feature).
}

# MUST requirements exercised neither by a scenario tag nor by a recorder test: the gap.
# Their *checks* are unit-tested (named), but no scenario runs a recorder against them yet.
NOT_YET_EXERCISED: dict[str, str] = {
    # Empty: REP-PAYLOAD-FIDELITY is a scenario now (features/06_media_server_replicates.feature,
    # the call's original RTP legs in the capture next to the replicas).
}


def _feature_tags() -> dict[str, set[str]]:
    """Requirement-shaped tags → the feature files that carry them."""
    tags: dict[str, set[str]] = {}
    for feature in sorted(FEATURES.rglob("*.feature")):
        for line in feature.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if not stripped.startswith("@"):
                continue
            for token in stripped.split():
                if token.startswith("#"):
                    break  # a comment after the tags
                name = token.lstrip("@")
                if REQUIREMENT_ID.match(name):
                    tags.setdefault(name, set()).add(feature.relative_to(ROOT).as_posix())
    return tags


def _must_ids() -> set[str]:
    return {r.id for r in load_catalogue().values() if r.severity is Severity.MUST and r.step in COVERED_STEPS}


def test_features_exist_and_carry_requirement_tags() -> None:
    assert sorted(FEATURES.glob("*.feature")), "no feature files found"
    assert _feature_tags(), "no requirement tags found in the feature files"


def test_every_feature_tag_is_in_the_catalogue() -> None:
    catalogue = load_catalogue()
    unknown = {tag: sorted(files) for tag, files in _feature_tags().items() if tag not in catalogue}
    assert unknown == {}, f"tags naming no catalogue requirement: {unknown}"


@pytest.mark.parametrize("module", [sip, rtp, recording, validate_cli], ids=lambda m: m.__name__)
def test_every_emitted_finding_id_is_in_the_catalogue(module: ModuleType) -> None:
    emitted: tuple[str, ...] = module.EMITTED_REQUIREMENTS
    assert emitted, f"{module} declares no EMITTED_REQUIREMENTS"
    missing = [rid for rid in emitted if rid not in load_catalogue()]
    assert missing == []


def test_every_must_requirement_is_exercised_or_listed() -> None:
    tagged = set(_feature_tags())
    unexercised = _must_ids() - tagged - set(EXERCISED_BY_TESTS) - set(NOT_YET_EXERCISED)
    assert unexercised == set(), f"MUST requirements exercised by no scenario tag or test: {sorted(unexercised)}"


def test_the_lists_are_not_stale() -> None:
    """An id a scenario now tags must leave both lists; every listed id is a covered-step MUST."""
    tagged = set(_feature_tags())
    listed = set(EXERCISED_BY_TESTS) | set(NOT_YET_EXERCISED)
    assert listed & tagged == set(), "remove these from the lists: a scenario tags them now"
    assert listed <= _must_ids(), sorted(listed - _must_ids())
    assert set(EXERCISED_BY_TESTS).isdisjoint(NOT_YET_EXERCISED)
    assert all(reason.strip() for reason in NOT_YET_EXERCISED.values())


def test_named_tests_exist() -> None:
    for rid, tests in EXERCISED_BY_TESTS.items():
        assert tests, rid
        for ref in tests:
            path, _, function = ref.partition("::")
            source = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^(async )?def {re.escape(function)}\(", source, re.MULTILINE), f"{rid}: {ref} not found"
    for rid, reason in NOT_YET_EXERCISED.items():
        for ref in re.findall(r"(tests/\S+?\.py)::\s*(\w+)", reason.replace('"', "")):
            source = (ROOT / ref[0]).read_text(encoding="utf-8")
            assert f"def {ref[1]}(" in source, f"{rid}: {ref} not found"

"""pytest plugin `arec` (entry point pytest11): requirement-id markers and recorder options.

Gherkin tags are requirement ids (docs/architecture.md §5): each catalogue id is registered as a marker so
`--strict-markers` rejects a tag that names an unknown id, and the report can map every
scenario to the requirements it exercises.
"""

from __future__ import annotations

import os
import re

import pytest

from harness.spec.catalogue import load_catalogue

# Scenarios tagged @soak (the hour-long call of features/12_long_calls_and_timers.feature) run only
# when asked for: `--arec-soak` or AREC_SOAK=1 (README "Long calls and the soak"). CI and the
# default `make report` / `make test` deselect them, so they stay minutes long.
SOAK_MARKER = "soak"
SOAK_ENV = "AREC_SOAK"

# Requirement ids look like ARE-06-TWO-INVITES-PER-CALL, SDP-ANSWER-RECVONLY, REC-PAUSE-GAP.
REQUIREMENT_TAG = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("arec", "arec recorder conformance")
    group.addoption("--arec-recorder", default="reference", metavar="reference|sip:HOST:PORT",
                    help="recorder under test (default: the reference recorder, started per scenario)")
    group.addoption("--arec-recordings", default=None, metavar="DIR",
                    help="where an external recorder writes its recordings")
    group.addoption("--arec-profile", default=None, metavar="FILE",
                    help="recorder profile (TOML) of the recorder under test; see docs/recorder-profiles.md")
    group.addoption("--arec-recorder-cmd", default=None, metavar="CMD",
                    help="command starting a recorder double per scenario ({port} {rtp_low} {rtp_high} {dir})")
    group.addoption("--arec-pool-size", default=2, type=int, metavar="N",
                    help="instances of the recorder under test in a Resource Manager pool (at least the "
                         "feature's own size; features/13_high_availability.feature)")
    group.addoption("--arec-impair", default=None, metavar="KNOBS",
                    help="impair every replicated stream of every scenario, e.g. 'loss=0.02,jitter=20,seed=7' "
                         "(harness/media/impairments.py lists the knobs)")
    group.addoption("--arec-soak", action="store_true", default=False,
                    help=f"also run the scenarios tagged @{SOAK_MARKER} (an hour-long call; also {SOAK_ENV}=1)")


def pytest_configure(config: pytest.Config) -> None:
    # Registered here as well as in pyproject.toml: an installed suite runs without that file.
    config.addinivalue_line("markers", "integration: uses sockets, subprocesses (SIPp, tcpdump) or real time")
    config.addinivalue_line("markers", f"{SOAK_MARKER}: an hour-long scenario, run only with --arec-soak or {SOAK_ENV}=1")
    for requirement in load_catalogue().values():
        config.addinivalue_line(
            "markers", f"{requirement.id}: [{requirement.severity.value}] step {requirement.step}: "
            f"{requirement.statement}"
        )


def requirement_ids(item: pytest.Item) -> list[str]:
    """The requirement ids a test exercises: its markers that look like catalogue ids."""
    catalogue = load_catalogue()
    return sorted({m.name for m in item.iter_markers() if m.name in catalogue})


def soak_enabled(option: bool, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Whether the @soak scenarios run: asked for on the command line or in the environment."""
    return option or environ.get(SOAK_ENV, "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak_enabled(bool(config.getoption("--arec-soak", default=False)), os.environ):
        return
    soak = [item for item in items if item.get_closest_marker(SOAK_MARKER) is not None]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item.get_closest_marker(SOAK_MARKER) is None]

"""Gherkin bindings for features/: the scenario's fixtures and report hooks (thin: the logic is in
harness.conformance).

Every scenario gets its own recorder process (reference recorder by default), its own ports,
capture and recordings directory, so scenarios are independent and run in parallel (xdist).

The steps live in the steps_*.py modules, one area each; the star imports below make the step
fixtures pytest-bdd generated there visible to every feature (harness/bdd/stepdefs.py explains how).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_bdd.parser import Step

# Each module's __all__ is exactly its step fixtures (harness/bdd/stepdefs.py).
from harness.bdd.steps_call import *  # noqa: F403
from harness.bdd.steps_edge_cases import *  # noqa: F403
from harness.bdd.steps_high_availability import *  # noqa: F403
from harness.bdd.steps_impaired import *  # noqa: F403
from harness.bdd.steps_impaired import impair_each_stream
from harness.bdd.steps_long_calls import *  # noqa: F403
from harness.bdd.steps_midcall import *  # noqa: F403
from harness.bdd.steps_recorder_tlib_client import *  # noqa: F403
from harness.bdd.steps_recording import *  # noqa: F403
from harness.bdd.steps_replication import *  # noqa: F403
from harness.bdd.steps_session_timers import *  # noqa: F403
from harness.bdd.steps_sessions import *  # noqa: F403
from harness.bdd.steps_siprec import *  # noqa: F403
from harness.bdd.steps_tlib import *  # noqa: F403
from harness.bdd.steps_transactions import *  # noqa: F403
from harness.conformance.high_availability import HaScenario
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import attach_evidence, scenario_verdicts
from harness.emulators.tlib_endpoint import TlibEndpoint
from harness.recorders.launcher import REFERENCE_COMMAND, ManagedRecorder
from harness.recorders.under_test import REFERENCE_CAPABILITIES, SIP_ONLY, RecorderUnderTest, parse_sip_target

# -- the recorder under test and the scenario run ------------------------------------------------


@pytest.fixture
def tlib_endpoint() -> Iterator[TlibEndpoint]:
    """The scenario's T-Server on TCP: listening before the recorder starts, stopped after it."""
    with TlibEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def recorder_tlib_config(tmp_path: Path) -> Path:
    """The recorder's T-Lib configuration, empty until a Given step gives it DNs and rules."""
    path = tmp_path / "recorder-tlib.toml"
    path.write_text("", encoding="utf-8")
    return path


@pytest.fixture
def recorder_under_test(request: pytest.FixtureRequest, tmp_path: Path, tlib_endpoint: TlibEndpoint,
                        recorder_tlib_config: Path) -> Iterator[RecorderUnderTest]:
    choice: str = request.config.getoption("--arec-recorder")
    command: str | None = request.config.getoption("--arec-recorder-cmd")
    profile: str | None = request.config.getoption("--arec-profile")
    if profile:
        from harness.recorders.launcher import recorder_for
        from harness.recorders.profile import load_profile

        with recorder_for(load_profile(profile), tmp_path / "recorder", tlib=tlib_endpoint.address,
                          tlib_config=recorder_tlib_config) as recorder:
            yield recorder
        return
    if choice == "reference" or command:
        slot = zlib.crc32(f"{request.node.nodeid}{os.getpid()}".encode())
        managed = ManagedRecorder(command or REFERENCE_COMMAND, tmp_path / "recordings", slot=slot,
                                  name="reference recorder" if not command else shlex.split(command)[-1],
                                  capabilities=REFERENCE_CAPABILITIES if not command else SIP_ONLY,
                                  tlib=tlib_endpoint.address, tlib_config=recorder_tlib_config)
        with managed.running() as recorder:
            yield recorder
        return
    host, port, transport = parse_sip_target(choice)
    recordings = request.config.getoption("--arec-recordings")
    yield RecorderUnderTest(choice, host, port, transport, Path(recordings) if recordings else None, None)


@pytest.fixture
def ha(request: pytest.FixtureRequest, tmp_path: Path, recorder_under_test: RecorderUnderTest,
       tlib_endpoint: TlibEndpoint, recorder_tlib_config: Path) -> Iterator[HaScenario]:
    """A high-availability scenario (features/13_high_availability.feature): the recorder under
    test, and for a pool a second instance started from the same command (harness.recorders.launcher)."""
    scenario = HaScenario(tmp_path / "ha", [recorder_under_test],
                          pool_size=int(request.config.getoption("--arec-pool-size")))
    with contextlib.ExitStack() as stack:
        command: str | None = request.config.getoption("--arec-recorder-cmd")
        if recorder_under_test.managed and not request.config.getoption("--arec-profile"):
            def another() -> tuple[RecorderUnderTest, Callable[[], None]]:
                index = len(scenario.members)
                slot = zlib.crc32(f"{request.node.nodeid}{os.getpid()}-{index}".encode())
                member = ManagedRecorder(command or REFERENCE_COMMAND, tmp_path / f"recordings-{index}", slot=slot,
                                         name=f"{recorder_under_test.name} (instance {index + 1})",
                                         capabilities=recorder_under_test.capabilities,
                                         tlib=tlib_endpoint.address, tlib_config=recorder_tlib_config,
                                         log_path=tmp_path / f"recorder-{index}.log")
                return stack.enter_context(member.running()), member.kill

            scenario.another_member = another
        elif request.config.getoption("--arec-profile"):
            from harness.recorders.launcher import ProfileRecorder
            from harness.recorders.profile import load_profile

            profile = load_profile(request.config.getoption("--arec-profile"))
            process = profile.process
            locator = recorder_under_test.locator
            # One profile started again: only a per-scenario process on a free port, in the
            # reference layout (the pool's recordings are looked up there), outside a namespace.
            if (process is not None and process.scope == "scenario" and not process.netns and profile.port == 0
                    and (locator is None or locator.spec.layout == "reference")):
                def another_of_profile() -> tuple[RecorderUnderTest, Callable[[], None]]:
                    index = len(scenario.members)
                    member = ProfileRecorder(profile, tmp_path / f"recorder-{index}", tlib=tlib_endpoint.address,
                                             tlib_config=recorder_tlib_config)
                    return stack.enter_context(member.running()), member.kill

                scenario.another_member = another_of_profile
        stack.callback(scenario.close)
        yield scenario


@pytest.fixture
def run(request: pytest.FixtureRequest, recorder_under_test: RecorderUnderTest, tmp_path: Path,
        tlib_endpoint: TlibEndpoint, recorder_tlib_config: Path) -> Iterator[ScenarioRun]:
    # Rules reach a recorder the harness started with {tlib_config}; others cannot be given any.
    config = recorder_tlib_config if recorder_under_test.managed else None
    scenario = ScenarioRun(recorder_under_test, tmp_path, endpoint=tlib_endpoint, recorder_tlib_config=config)
    knobs: str | None = request.config.getoption("--arec-impair")
    profile: str | None = request.config.getoption("--arec-profile")
    if not knobs and profile:
        from harness.recorders.profile import load_profile

        knobs = load_profile(profile, check_directories=False).impairments
    if knobs:
        impair_each_stream(scenario, knobs)
    scenario.start_capture()
    try:
        yield scenario
    finally:
        scenario.close()


@pytest.fixture
def edge_calls() -> dict[str, str]:
    """Probe name -> the Call-ID its SIPp run used (ScenarioRun has slots: no ad-hoc attributes).

    Used by the edge-case steps (steps_edge_cases.py); a fixture must live here to be visible."""
    return {}


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: object, scenario: object) -> None:
    scenario_verdicts(reset=True)


def pytest_bdd_before_step(request: pytest.FixtureRequest, feature: object, scenario: object, step: Step,
                           step_func: object) -> None:
    # A Then step's MUST failure is collected and the scenario goes on (the later Then steps
    # still judge); Given and When steps fail at once (harness.conformance.verdict).
    scenario_verdicts().start_step(step.type)


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_after_step(request: pytest.FixtureRequest, feature: object, scenario: object, step: Step,
                          step_func: object, step_func_args: object) -> None:
    failure = scenario_verdicts().take_step_failure()
    if failure is not None:
        # The step failed although it did not raise: report it failed (the Allure listener stops
        # the step with this exception; its own after_step then finds the step already stopped).
        request.config.hook.pytest_bdd_step_error(request=request, feature=feature, scenario=scenario, step=step,
                                                  step_func=step_func, step_func_args=step_func_args,
                                                  exception=failure)


@pytest.hookimpl(trylast=True)
def pytest_bdd_after_scenario(request: pytest.FixtureRequest, feature: object, scenario: object) -> None:
    if "run" in request.fixturenames:
        attach_evidence(request.getfixturevalue("run"))
    verdicts = scenario_verdicts()
    verdicts.deferring = False
    error = verdicts.final_error()
    if error is not None:
        verdicts.failures.clear()
        # One failure naming every failed id: the test (JUnit, Allure) fails with it.
        raise error


def pytest_bdd_step_error(request: pytest.FixtureRequest, feature: object, scenario: object, step: object,
                          step_func: object, step_func_args: object, exception: Exception) -> None:
    # A failed step still leaves its evidence in the report: that is what a reader needs most.
    if "run" in request.fixturenames:
        attach_evidence(request.getfixturevalue("run"))

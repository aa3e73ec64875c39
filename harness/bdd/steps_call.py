"""Steps that set up and drive the call: DN options, session mode, the call, its release (and
SIP Server's decision to record it, seed step 1)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from harness.bdd.helpers import not_applicable_unless
from harness.bdd.stepdefs import step_fixtures
from harness.checks import initiation
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.emulators.sip_server import SessionMode, Side

SIDES = {"customer": Side.CUSTOMER, "agent": Side.AGENT}
MODES = {"two-session": SessionMode.TWO_SESSIONS, "single-session": SessionMode.SINGLE_SESSION,
         "siprec": SessionMode.SIPREC}

# -- Given ---------------------------------------------------------------------------------------


@given("the recorder under test is running")
def _recorder_running(run: ScenarioRun) -> None:
    run.note(f"recorder under test: {run.recorder.name} at {run.recorder.host}:{run.recorder.port}/"
             f"{run.recorder.transport}; capture: {run.capture_method}")


@given(parsers.parse('agent DN "{dn}" is configured with record=true'))
@given(parsers.parse('customer DN "{dn}" is configured with record=true'))
def _dn_records(run: ScenarioRun, dn: str) -> None:
    run.sip_server.configure_dn(dn, record=True)


@given(parsers.parse('customer DN "{dn}" has no recording option'))
@given(parsers.parse('agent DN "{dn}" has no recording option'))
def _dn_plain(run: ScenarioRun, dn: str) -> None:
    run.sip_server.configure_dn(dn, record=False)


@given(parsers.parse("the Media Server replicates in {mode} mode"))
def _mode(run: ScenarioRun, mode: str) -> None:
    not_applicable_unless(mode in run.recorder.capabilities.session_modes,
                          f"the recorder does not support {mode} mode")
    run.set_mode(MODES[mode])


@given(parsers.parse('a call from "{customer}" to "{agent}" negotiated with {codec}'))
def _call(run: ScenarioRun, customer: str, agent: str, codec: str) -> None:
    # The default mode (two sessions) too must be one the recorder takes: a SIPREC-only
    # recorder is not judged on the ARE flows.
    mode = run.sip_server.mode.value
    not_applicable_unless(mode in run.recorder.capabilities.session_modes,
                          f"the recorder does not support {mode} mode")
    not_applicable_unless(codec.upper() in run.recorder.capabilities.codecs,
                          f"the recorder does not record {codec} (profile [capabilities] codecs)")
    run.place_call(customer, agent, codec)


@given(parsers.parse("the Media Server sends the recording INVITE of the {side} stream first"))
def _invite_order(run: ScenarioRun, side: str) -> None:
    first = SIDES[side]
    run.invite_order = (first, *[s for s in Side if s is not first])


@given("the Media Server sends no RTP")
def _no_rtp(run: ScenarioRun) -> None:
    run.send_rtp = False


# -- When ----------------------------------------------------------------------------------------


@when(parsers.parse("the call is established and lasts {seconds:d} seconds"))
def _established(run: ScenarioRun, seconds: int) -> None:
    run.establish(seconds)


@when("the call is released")
def _released(run: ScenarioRun) -> None:
    run.release()


@when(parsers.parse("the Media Server ends the {side} stream's session first"))
def _end_first(run: ScenarioRun, side: str) -> None:
    run.release(first=SIDES[side])


@when(parsers.parse("the Media Server ends the {side} stream's session"))
def _end_one(run: ScenarioRun, side: str) -> None:
    run.end_stream_session(SIDES[side])


@when(parsers.parse("the {side} stream goes on for {seconds:d} more seconds"))
def _goes_on(run: ScenarioRun, side: str, seconds: int) -> None:
    run.keep_talking(seconds)


@when("the Media Server side sends an OPTIONS ping to the recorder")
def _options(run: ScenarioRun) -> None:
    run.options_ping()


# -- Then: SIP Server's recording decision (step 1) ---------------------------------------------


@then(parsers.parse('SIP Server decided to record the call from the "{dn}" side'))
def _decided(run: ScenarioRun, dn: str) -> None:
    judge(initiation.recording_decision(run.job.record_dn if run.job else None, dn,
                                        calluuid=run.call.calluuid if run.call else None),
          ["ARE-01-DN-ALWAYS-RECORD"], "recording decision")


@then("SIP Server decided not to record the call")
def _not_decided(run: ScenarioRun) -> None:
    judge(initiation.recording_decision(run.job.record_dn if run.job else None, None,
                                        trigger=run.job.trigger if run.job else None,
                                        calluuid=run.call.calluuid if run.call else None),
          ["ARE-01-DN-ALWAYS-RECORD"], "no recording decision")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())

"""Steps of the SIPREC feature (features/15_siprec.feature): the call recorded over one SIPREC
recording session (RFC 7866), its metadata over the call's life (RFC 7865), and the SRS's
participant map. The session itself is driven by harness.conformance.siprec; the verdicts
come from harness.checks.siprec (through the SIP validator and the recording evidence)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from harness.bdd.helpers import not_applicable_unless, sessions_of_call
from harness.bdd.stepdefs import step_fixtures
from harness.checks.siprec import (
    extension_refused,
    new_stream_accepted,
    not_a_recording_session,
    recording_session_seen,
    snapshot_requested,
)
from harness.conformance import siprec
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.emulators.sip_server import SessionMode
from harness.recorders.under_test import SIPREC_MODE

_OFFER_ANSWER_IDS = ["SRS-RS-ACCEPTED", "SRS-FEATURE-TAG", "SRS-NO-INITIAL-METADATA", "SRS-EXTENSIONS-IGNORED",
                     "SRS-OFFER-SIPREC", "SRS-OFFER-LABELS", "SRS-METADATA-WELLFORMED",
                     "SRS-METADATA-LABELS-ASSOCIATED"]


@given("the call is recorded over SIPREC")
def _siprec_mode(run: ScenarioRun) -> None:
    not_applicable_unless(SIPREC_MODE in run.recorder.capabilities.session_modes,
                          "the recorder is not a SIPREC recording server (profile session_modes)")
    run.set_mode(SessionMode.SIPREC)


@given("the SRC sends no metadata in the INVITE")
def _no_initial_metadata(run: ScenarioRun) -> None:
    run.media_server.siprec_initial_metadata = False


@given("the SRC's metadata carries a vendor extension element")
def _vendor_extension(run: ScenarioRun) -> None:
    run.media_server.siprec_vendor_extension = True


@when("the SRC sends the metadata by re-INVITE")
def _late_metadata(run: ScenarioRun) -> None:
    siprec.send_full_metadata(run)


@when("the SRC sends a partial metadata update: the customer is put on hold")
def _hold(run: ScenarioRun) -> None:
    siprec.send_update(run, "hold")


@when(parsers.parse('the SRC sends a partial metadata update: the agent transfers the call to "{dn}"'))
def _transfer(run: ScenarioRun, dn: str) -> None:
    siprec.send_update(run, "transfer", dn)


@when(parsers.parse('the SRC sends a partial metadata update by UPDATE: the agent transfers the call to "{dn}"'))
def _transfer_by_update(run: ScenarioRun, dn: str) -> None:
    siprec.send_update(run, "transfer", dn, by_update=True)


@when("the SRC answers the SRS's metadata snapshot request with the complete metadata")
def _answer_snapshot(run: ScenarioRun) -> None:
    siprec.answer_snapshot_request(run)


@then("the SRS asked the SRC for a metadata snapshot")
def _snapshot_asked(run: ScenarioRun) -> None:
    findings = []
    for dialog in (d for d in sessions_of_call(run) if d.siprec):
        findings += snapshot_requested(siprec.srs_requests(run, dialog.call_id), call_id=dialog.call_id,
                                       calluuid=run.call.calluuid if run.call else None)
    judge(findings, ["SRS-SNAPSHOT-REQUEST"], "metadata snapshot requested")


@when(parsers.parse('the agent transfers the call to "{dn}", who joins in a new stream'))
def _transfer_new_stream(run: ScenarioRun, dn: str) -> None:
    siprec.send_transfer_new_stream(run, dn)


@then("the SRS accepted the new stream and answered it recvonly on its own port")
def _new_stream(run: ScenarioRun) -> None:
    src = siprec.client(run)
    findings = []
    exchanges = 0
    for dialog in (d for d in sessions_of_call(run) if d.siprec):
        for request, final in siprec.reoffer_exchanges(run, dialog.call_id):
            exchanges += 1
            findings += new_stream_accepted(request, final, previous_labels=set(src.labels), call_id=dialog.call_id)
    judge(findings, ["SRS-NEW-STREAM-ACCEPTED"], "new stream accepted",
          not_exercised=[] if exchanges else ["SRS-NEW-STREAM-ACCEPTED"])


@when("the SRC pauses the recording")
def _pause(run: ScenarioRun) -> None:
    siprec.pause(run)


@when("the SRC resumes the recording")
def _resume(run: ScenarioRun) -> None:
    siprec.resume(run)


@then("the SRS accepted the SIPREC recording session with +sip.srs in its Contact")
def _accepted(run: ScenarioRun) -> None:
    sessions = [d for d in sessions_of_call(run) if d.siprec]
    src = siprec.client(run)
    findings = [*run.evidence().sip.findings,
                *recording_session_seen(len(sessions), calluuid=run.call.calluuid if run.call else None)]
    # What this run's offer could not exercise: a recorder is judged on missing metadata only
    # when the SRC sent none, on extensions only when there were some.
    not_exercised = [rid for rid, used in (("SRS-NO-INITIAL-METADATA", not src.initial_metadata),
                                           ("SRS-EXTENSIONS-IGNORED", src.vendor_extension)) if not used]
    judge(findings, _OFFER_ANSWER_IDS, "SIPREC recording session accepted", not_exercised=not_exercised)


@then("the recording keeps the metadata's participant map, each participant's audio in its stream")
def _participant_map(run: ScenarioRun) -> None:
    ids = ["SRS-METADATA-KEPT", "SRS-PARTICIPANT-AUDIO"]
    findings = siprec.recording_verdict(run)
    if findings is None:
        # A third-party layout keeps its participant map in its own format (not read yet).
        judge([], ids, "SIPREC participant map", not_applicable=ids)
        return
    judge(findings, ids, "SIPREC participant map")


@when("the SRC sends a recording INVITE that also requires an extension the SRS cannot know")
def _probe_unknown_extension(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    edge_calls["siprec-unknown-extension"] = siprec.probe(run, "unknown-extension")


@when("the SRC sends a recording INVITE without +sip.src in its Contact")
def _probe_no_src(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    edge_calls["siprec-no-src"] = siprec.probe(run, "no-src")


@then("the SRS answered 420 Bad Extension naming that extension in Unsupported")
def _answered_420(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["siprec-unknown-extension"]
    _invite, final = siprec.probe_exchange(run, call_id)
    judge(extension_refused(siprec.UNKNOWN_EXTENSION, final, call_id=call_id), ["SRS-REQUIRE-420"],
          "unknown extension refused")


@then("the SRS did not take it for a recording session")
def _not_rs(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["siprec-no-src"]
    invite, final = siprec.probe_exchange(run, call_id)
    findings = [] if invite is None else not_a_recording_session(invite, final)
    judge(findings, ["SRS-NOT-RS"], "not a recording session",
          not_exercised=["SRS-NOT-RS"] if invite is None else [])


__all__ = step_fixtures(globals())

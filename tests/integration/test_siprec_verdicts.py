"""SIPREC verdicts end to end (issue 12): features/15_siprec.feature against the reference
recorder (every SIPREC requirement passed or not exercised, never failed) and against the
faulty doubles, each failing exactly the requirement it breaks. Same harness as
tests/integration/test_truthful_verdicts.py: a child pytest, the Allure labels read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_truthful_verdicts import PYTHON, REPO, _labels, _run, _violation

pytestmark = pytest.mark.integration

_BASIC = "labelled_stream and PCMU"


def _siprec_profile(tmp_path: Path, fault: str) -> Path:
    """The double as a SIPREC SRS profile: reference layout (recording.json with the participant
    map), session_modes = ["siprec"] (a recorder started by --arec-recorder-cmd is SIP-only)."""
    command = (f"env PYTHONPATH={REPO} {PYTHON} -m tests.doubles.faulty_recorder --fault {fault} "
               "--listen 127.0.0.1:{port} --recordings {recordings}")
    path = tmp_path / f"{fault}.toml"
    path.write_text(f'name = "faulty SRS ({fault})"\n[sip]\naddress = "sip:127.0.0.1:0"\n[process]\n'
                    f'command = {json.dumps(command)}\nready_line = "^ready "\nready_timeout_s = 15\n'
                    'scope = "scenario"\n[recordings]\ndirectory = "{work_dir}/recordings"\nlayout = "reference"\n'
                    'settle_s = 2.0\n[capabilities]\nsession_modes = ["siprec"]\npause_profiles = ["reinvite"]\n',
                    encoding="utf-8")
    return path


def test_the_reference_recorder_passes_every_siprec_scenario(tmp_path: Path) -> None:
    code, output, results = _run(tmp_path, "labelled_stream or complete_metadata_sent_later or vendor_extension_elements"
                                           " or partial_metadata_updates or by_update_instead_of or asks_for_a_snapshot"
                                           " or over_siprec_by or session_carrying_both or adds_a_participant_in_a_new or pause_and_resume_by_reinvite_ainactive"
                                           " or extension_the_srs_lacks or without_sipsrc")
    assert code == 0 and "15 passed" in output, output[-3000:]
    seen: dict[str, set[str]] = {}
    for result in results:
        for rid, verdicts in _labels(result).items():
            seen.setdefault(rid, set()).update(verdicts)
    assert all(v <= {"passed", "not exercised", "not applicable"} for v in seen.values()), seen
    for rid in ("SRS-RS-ACCEPTED", "SRS-FEATURE-TAG", "SRS-NO-INITIAL-METADATA", "SRS-EXTENSIONS-IGNORED",
                "SRS-METADATA-KEPT", "SRS-PARTICIPANT-AUDIO", "SRS-OFFER-LABELS", "SDP-ANSWER-INACTIVE",
                "REC-PAUSE-NO-AUDIO", "SRS-NOT-RS", "SRS-REQUIRE-420", "SRS-SNAPSHOT-REQUEST",
                "SRS-NEW-STREAM-ACCEPTED"):
        assert "passed" in seen.get(rid, set()), (rid, seen.get(rid))


@pytest.mark.parametrize(("fault", "keyword", "expected"), [
    ("ignore-metadata", _BASIC, {"SRS-METADATA-KEPT"}),
    ("swap-participants", _BASIC, {"SRS-PARTICIPANT-AUDIO", "REC-STREAM-CHANNEL"}),
    ("sendrecv", _BASIC, {"SDP-ANSWER-RECVONLY"}),
    ("no-srs-tag", _BASIC, {"SRS-FEATURE-TAG"}),
    ("reject-no-metadata", "complete_metadata_sent_later", {"SRS-NO-INITIAL-METADATA"}),
    ("accept-half-siprec", "without_sipsrc", {"SRS-NOT-RS"}),
    ("ignore-require", "extension_the_srs_lacks", {"SRS-REQUIRE-420"}),
    ("ignore-update-metadata", "by_update_instead_of", {"SRS-METADATA-KEPT"}),
    ("ignore-snapshot", "asks_for_a_snapshot", {"SRS-METADATA-KEPT"}),
    ("refuse-new-stream", "adds_a_participant_in_a_new", {"SRS-NEW-STREAM-ACCEPTED"}),
    # Features 09 and 10 in SIPREC mode (their SIPREC rows).
    ("inactive-answered-recvonly", "over_siprec_by", {"SDP-ANSWER-INACTIVE"}),
    ("ignore-bye", "session_carrying_both and siprec", {"ARE-10-FILES-FINALISED"}),
])
def test_each_siprec_double_fails_its_requirement(tmp_path: Path, fault: str, keyword: str,
                                                  expected: set[str]) -> None:
    code, output, results = _run(tmp_path, keyword, "--arec-profile", str(_siprec_profile(tmp_path, fault)))
    assert code == 1 and "1 failed" in output, output[-3000:]
    assert expected <= _violation(output), output[-3000:]
    labels = _labels(results[0])
    for rid in expected:
        assert "failed" in labels.get(rid, set()), (rid, labels)


def test_an_srs_that_never_asks_for_a_snapshot_is_warned(tmp_path: Path) -> None:
    """RFC 7866 §9.2 leaves the request to the SRS: not asking is a warning, not a failure."""
    code, output, results = _run(tmp_path, "asks_for_a_snapshot", "--arec-profile",
                                 str(_siprec_profile(tmp_path, "no-snapshot-request")))
    assert code == 0 and "1 passed" in output, output[-3000:]  # SHOULD: warns, does not fail
    labels = _labels(results[0])
    assert labels["SRS-SNAPSHOT-REQUEST"] == {"warning"}, labels
    # The SRC then sends the metadata unasked: the map is judged as usual.
    assert labels["SRS-METADATA-KEPT"] == {"passed"}, labels


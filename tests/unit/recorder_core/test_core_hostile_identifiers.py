"""Hostile identifiers in the recording Request-URI: every INVITE gets a final response, and no
untrusted value reaches a log line, recording.json or a file name unescaped (CWE-117, CWE-22).

Before the fix: raw UTF-8 / backslash / comma parameters got 400 "Bad Request" from the strict
URI parser (and no final response at all on the running recorder), and `%0A` in `calluuid`
was decoded and logged as a forged line of its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reference_recorder.storage import safe_component
from tests.unit.recorder_core.helpers import Driver, recording_uri, render


def _invite(driver: Driver, call_id: str, *, calluuid: str = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP",
            dn: str = "5551234") -> int:
    uri = recording_uri(dn, calluuid=calluuid)
    finals = [r for r in driver.send(render("invite_pcmu.sip", uri=uri, call_id=call_id, cseq=1, to_tag=""))
              if r.status >= 200]
    assert len(finals) == 1, "every INVITE gets exactly one final response"
    return finals[0].status


@pytest.fixture
def driver(tmp_path: Path) -> Driver:
    return Driver(tmp_path / "rec")


@pytest.mark.parametrize(
    ("calluuid", "dn"),
    [("ünï€-x", "5551234"), ("CALL1", "..\\..\\x"), ("a,b", "c,d"), ("..", "../../etc/passwd")],
)
def test_storable_identifiers_get_200_and_sanitised_file_names(driver: Driver, calluuid: str, dn: str) -> None:
    # The Request-URI carries them unescaped (raw UTF-8, backslash, comma) or as `..` paths.
    assert _invite(driver, "hostile-1", calluuid=calluuid, dn=dn) == 200
    driver.advance(1.5)  # past one checkpoint: recording.json rewritten with the streams
    (doc,) = driver.documents()
    assert (doc["calluuid"], doc["streams"][0]["dn"]) == (calluuid, dn)  # stored faithfully in the JSON
    (json_path,) = driver.root.rglob("recording.json")
    assert json_path.parent.parent.name == safe_component(calluuid)
    for path in driver.root.rglob("*"):
        assert path.resolve().is_relative_to(driver.root.resolve())
        assert re.fullmatch(r"[A-Za-z0-9._-]+", path.name), path.name  # safe_component's alphabet


@pytest.mark.parametrize(
    ("calluuid", "reason"),
    [
        ("X%0A2026-12-03%2000:00:00%2C000%20ERROR%20FORGED", "Invalid calluuid"),
        ("X%00Y", "Invalid calluuid"),
        ("X%0D%0AY", "Invalid calluuid"),
        ("A" * 300, "Invalid calluuid"),
    ],
)
def test_unstorable_identifiers_get_400_with_a_reason(driver: Driver, calluuid: str, reason: str) -> None:
    uri = recording_uri("5551234", calluuid=calluuid)
    finals = [r for r in driver.send(render("invite_pcmu.sip", uri=uri, call_id="bad-1", cseq=1, to_tag=""))
              if r.status >= 200]
    assert [(r.status, r.reason) for r in finals] == [(400, reason)]
    assert driver.documents() == [] and driver.ports.live == set()


def test_percent_encoded_line_breaks_cannot_forge_a_log_line(driver: Driver) -> None:
    forged = "X%0A2026-12-03%2000:00:00%2C000%20ERROR%20FORGED%00"
    _invite(driver, "forge-1", calluuid=forged)
    _invite(driver, "forge-2", calluuid="ok", dn="a\\b")
    assert driver.log_lines, "the core logs what it refused and accepted"
    for line in driver.log_lines:
        assert "\n" not in line and "\r" not in line and "\x00" not in line, line
    assert any("X\\n2026-12-03 00:00:00,000 ERROR FORGED\\x00" in line for line in driver.log_lines)
    assert any("dn=a\\\\b" in line for line in driver.log_lines)  # backslash escaped too


def test_recording_json_holds_no_raw_control_bytes(driver: Driver) -> None:
    # JSON's own escapes (RFC 8259 §7) are the file's escaping: a value with quotes and
    # backslashes round-trips; a control character never gets as far as the file (400).
    assert _invite(driver, "json-1", calluuid='q"u\\o"te', dn="x\\y") == 200
    assert _invite(driver, "json-2", calluuid="nul%00", dn="x") == 400
    driver.advance(1.5)
    (json_path,) = driver.root.rglob("recording.json")
    raw = json_path.read_bytes()
    assert all(b >= 0x20 or b in b"\n" for b in raw)  # only the layout's own line breaks
    assert json.loads(raw)["calluuid"] == 'q"u\\o"te' and json.loads(raw)["streams"][0]["dn"] == "x\\y"

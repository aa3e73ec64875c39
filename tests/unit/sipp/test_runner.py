"""harness.sipp (leg, command, process, results): command lines, offers and trace parsing (no process started)."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.sipp.command import SIPP_MISSING, TracePaths, build_command, sipp_available
from harness.sipp.leg import PCMA, Scenario, SippLeg, Transport
from harness.sipp.results import SippResult, explain_exit, parse_error_log, parse_stat_csv, significant_errors
from harness.sipp.twin import Direction

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "sipp"
CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
TRACES = TracePaths(Path("/w"))


def leg(**kw: object) -> SippLeg:
    args: dict[str, object] = dict(recorder_host="127.0.0.1", recorder_port=5060, record_id="0A1B2C3D4E5F",
                                   calluuid=CALLUUID, dn="7001", record_dn="7001")
    args.update(kw)
    return SippLeg(**args)  # type: ignore[arg-type]


def single(**kw: object) -> SippLeg:
    return leg(scenario=Scenario.SINGLE, other_dn="7002", media_ports=(40000, 40002), **kw)


def opt(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def keys(cmd: list[str]) -> dict[str, str]:
    return {cmd[i + 1]: cmd[i + 2] for i, a in enumerate(cmd) if a == "-key"}


# -- command lines --------------------------------------------------------------------------

def test_leg_command_udp() -> None:
    cmd = build_command(leg(), TRACES, local_port=5070, media_port=30000, twin=("127.0.0.1", 4000))
    assert cmd[0] == "sipp" and cmd[1] == "127.0.0.1:5060"
    assert opt(cmd, "-sf").endswith("scenarios/are_leg_uac.xml")
    assert opt(cmd, "-t") == "u1"
    assert opt(cmd, "-p") == "5070" and opt(cmd, "-mp") == "30000"
    assert opt(cmd, "-i") == opt(cmd, "-ci") == opt(cmd, "-mi") == "127.0.0.1"
    assert opt(cmd, "-m") == "1" and "-nostdin" in cmd
    assert opt(cmd, "-recv_timeout") == "5000"
    assert opt(cmd, "-3pcc") == "127.0.0.1:4000"
    assert opt(cmd, "-message_file") == "/w/messages.log"
    assert opt(cmd, "-error_file") == "/w/errors.log"
    assert opt(cmd, "-stf") == "/w/stats.csv"
    assert {"-trace_msg", "-trace_err", "-trace_stat", "-trace_screen"} <= set(cmd)
    assert "-cid_str" not in cmd
    assert keys(cmd) == {"record_id": "0A1B2C3D4E5F", "rec_host": "127.0.0.1:5060",
                         "ruri": f"sip:record=0A1B2C3D4E5F@127.0.0.1:5060;calluuid={CALLUUID};dn=7001;recordDN=7001"}


def test_leg_command_tcp_call_id_timeout_and_uri_host() -> None:
    cmd = build_command(leg(transport=Transport.TCP, call_id="arec-1@mcp", recv_timeout_ms=1500,
                            uri_host="rec1.example:5060"),
                        TRACES, local_port=5070, media_port=30000, twin=("127.0.0.1", 4000), sipp="/opt/sipp")
    assert cmd[0] == "/opt/sipp"
    assert opt(cmd, "-t") == "t1"
    assert opt(cmd, "-cid_str") == "arec-1@mcp"
    assert opt(cmd, "-recv_timeout") == "1500"
    assert keys(cmd)["rec_host"] == "rec1.example:5060"
    assert cmd[1] == "127.0.0.1:5060"  # where SIPp sends, independent of the URI host


def test_single_session_command() -> None:
    cmd = build_command(single(), TRACES, local_port=5070, media_port=30000, twin=("127.0.0.1", 4000))
    assert opt(cmd, "-sf").endswith("scenarios/are_single_uac.xml")
    assert ";dn=7001;otherDN=7002;recordDN=7001" in keys(cmd)["ruri"]


def test_options_command_has_no_twin() -> None:
    o = leg(scenario=Scenario.OPTIONS, media_ports=())
    cmd = build_command(o, TRACES, local_port=5070, media_port=30000)
    assert opt(cmd, "-sf").endswith("scenarios/options_uac.xml")
    assert "-3pcc" not in cmd
    assert keys(cmd) == {"rec_host": "127.0.0.1:5060"}
    with pytest.raises(ValueError, match="no twin"):
        build_command(o, TRACES, local_port=5070, media_port=30000, twin=("127.0.0.1", 4000))


def test_invite_scenarios_need_the_twin() -> None:
    with pytest.raises(ValueError, match="twin"):
        build_command(leg(), TRACES, local_port=5070, media_port=30000)


# -- the recording URI and validation ---------------------------------------------------------

def test_request_uri_two_session_and_single_session() -> None:
    assert leg().request_uri == f"sip:record=0A1B2C3D4E5F@127.0.0.1:5060;calluuid={CALLUUID};dn=7001;recordDN=7001"
    assert single().request_uri == (f"sip:record=0A1B2C3D4E5F@127.0.0.1:5060;calluuid={CALLUUID};"
                                    "dn=7001;otherDN=7002;recordDN=7001")


@pytest.mark.parametrize("bad", [
    {"record_id": "a;b"}, {"dn": "70 01"}, {"calluuid": "X\r\nVia: evil"}, {"record_dn": ""},
    {"call_id": "50%@x"}, {"recorder_host": "h o"}, {"recorder_port": 0}, {"local_port": 70000},
    {"media_ports": (40000, 40002)}, {"other_dn": "7002"}, {"telephone_event_pt": 0},
    {"telephone_event_pt": 50}, {"recv_timeout_ms": 0},
])
def test_invalid_leg_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        leg(**bad)


def test_single_needs_other_dn_and_two_ports() -> None:
    with pytest.raises(ValueError, match="other_dn"):
        leg(scenario=Scenario.SINGLE, media_ports=(40000, 40002))
    with pytest.raises(ValueError, match="2 m=audio"):
        leg(scenario=Scenario.SINGLE, other_dn="7002")


# -- offers ---------------------------------------------------------------------------------

def test_offer_matches_golden_file() -> None:
    # docs/genesys-flow.md §4.8: one codec + telephone-event 101, ptime 20, sendonly; CRLF line ends.
    assert leg().offer_sdp() == (FIX / "offer_leg_pcmu_te.sdp").read_bytes()


def test_single_offer_inactive_reinvite_matches_golden_file() -> None:
    sdp = single(telephone_event_pt=None).offer_sdp(3, Direction.INACTIVE)
    assert sdp == (FIX / "offer_single_pcmu_inactive_v3.sdp").read_bytes()
    assert sdp.count(b"m=audio ") == 2 and sdp.count(b"a=inactive") == 2


def test_offer_pcma_and_version() -> None:
    sdp = leg(codec=PCMA, telephone_event_pt=None).offer_sdp(2).decode()
    assert "m=audio 40000 RTP/AVP 8\r\n" in sdp and "a=rtpmap:8 PCMA/8000\r\n" in sdp
    assert "telephone-event" not in sdp
    assert re.search(r"^o=MCP \d+ 2 IN IP4 127\.0\.0\.1\r$", sdp, re.M)
    with pytest.raises(ValueError):
        leg().offer_sdp(0)


def test_the_two_legs_of_a_call_get_different_session_ids() -> None:
    o1 = leg().offer_sdp().split(b"\r\n")[1]
    o2 = leg(dn="7002").offer_sdp().split(b"\r\n")[1]
    assert o1 != o2


# -- the scenario files ---------------------------------------------------------------------

SIPP_KEYWORDS = {"transport", "local_ip", "local_port", "branch", "pid", "call_number", "call_id", "len",
                 "next_url", "routes", "peer_tag_param", "cseq", "$answer", "$offer"}


@pytest.mark.parametrize("scenario", list(Scenario))
def test_scenario_file_is_xml_and_uses_exactly_our_keys(scenario: Scenario) -> None:
    text = scenario.path.read_text()
    root = ET.fromstring(text.encode("iso-8859-1"))
    assert root.tag == "scenario"
    used = set(re.findall(r"\[([$A-Za-z_]+)\]", text.split("-->", 1)[1])) - SIPP_KEYWORDS
    if scenario is Scenario.SIPREC:
        used -= {"$offer_ct", "$offer_type"}  # the re-INVITE's Content-Type, read from the twin command
    sample = {Scenario.LEG: leg(), Scenario.SINGLE: single(),
              Scenario.OPTIONS: leg(scenario=Scenario.OPTIONS, media_ports=()),
              Scenario.SIPREC: leg(scenario=Scenario.SIPREC, media_ports=(40000, 40002),
                                   labels=("5551234", "7001"))}[scenario]
    assert used == {k for k, _ in sample.sipp_keys()}
    if scenario.uses_twin:
        assert '[file name="offer.sdp"]' in text
        assert root.find("sendCmd") is not None and root.find("recvCmd") is not None


# -- traces ---------------------------------------------------------------------------------

def test_stat_csv_of_a_successful_call() -> None:
    stats = parse_stat_csv((FIX / "stats_ok.csv").read_text())
    assert stats["SuccessfulCall(C)"] == "1"
    assert stats["FailedCall(C)"] == "0"
    assert stats["OutgoingCall(C)"] == "1"


def test_stat_csv_of_an_unanswered_call() -> None:
    stats = parse_stat_csv((FIX / "stats_noanswer.csv").read_text())
    assert stats["SuccessfulCall(C)"] == "0"
    assert stats["FailedCall(C)"] == "1"


def test_stat_csv_without_rows() -> None:
    assert parse_stat_csv("") == {}
    assert parse_stat_csv("StartTime;SuccessfulCall(C)\n") == {}


def test_error_log_entries() -> None:
    entries = parse_error_log((FIX / "errors_noanswer.log").read_text())
    assert len(entries) == 1
    assert "receive timeout" in entries[0] and "aborting call" in entries[0]
    assert significant_errors(entries) == entries
    busy = parse_error_log((FIX / "errors_port_in_use.log").read_text())
    assert busy and "Address already in use" in busy[0]


def test_error_log_entries_are_split_without_newlines_and_benign_ones_dropped() -> None:
    text = ("The following events occurred:\n"
            "2026-01-01\t10:00:00.000001\t1767261600.000001: Call-Id: x, receive timeout on message s:8, "
            "jumping to label 8"
            "2026-01-01\t10:00:00.000002\t1767261600.000002: Failed to delete FD from epoll, errno = 1"
            "2026-01-01\t10:00:01.000000\t1767261601.000000: Aborting call on unexpected message")
    entries = parse_error_log(text)
    assert len(entries) == 3
    assert significant_errors(entries) == [entries[2]]


@pytest.mark.parametrize(("code", "words"), [
    (0, "all calls succeeded"), (1, "failed"), (97, "internal"), (254, "port in use"),
    (255, "fatal"), (None, "still running"), (-9, "signal 9"), (42, "unknown"),
])
def test_exit_code_explanations(code: int | None, words: str) -> None:
    assert words in explain_exit(code)


def test_result_ok_needs_exit_zero_and_one_successful_call() -> None:
    stats = parse_stat_csv((FIX / "stats_ok.csv").read_text())
    base = dict(stats=stats, errors=[], message_log=Path("m"), error_log=Path("e"), stat_file=Path("s"),
                command=["sipp"])
    assert SippResult(exit_code=0, **base).ok  # type: ignore[arg-type]
    assert not SippResult(exit_code=1, **base).ok  # type: ignore[arg-type]
    failed = SippResult(exit_code=1, **{**base, "stats": parse_stat_csv((FIX / "stats_noanswer.csv").read_text())})  # type: ignore[arg-type]
    assert failed.failed_calls == 1 and "failed=1" in failed.summary()


def test_sipp_available() -> None:
    assert sipp_available("definitely-not-a-sipp-binary-xyz") == SIPP_MISSING
    assert sipp_available(sys.executable) is None


def test_calls_places_them_at_once() -> None:
    # The capacity probe needs capacity+1 sessions open together: -m/-l that many, and a rate
    # high enough that they all start before the first one ends.
    o = leg(scenario=Scenario.OPTIONS, media_ports=())
    cmd = build_command(o, TRACES, local_port=5070, media_port=30000, calls=7)
    assert opt(cmd, "-m") == opt(cmd, "-l") == "7" and int(opt(cmd, "-r")) >= 7
    single = build_command(o, TRACES, local_port=5070, media_port=30000)
    assert opt(single, "-m") == "1" and "-r" not in single

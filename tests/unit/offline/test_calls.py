"""Findings are tied to calls by their `calluuid` / `call_id` fields, never by message text."""

from __future__ import annotations

from pathlib import Path

from harness.offline.calls import CallResolver, check_legs_per_call, group_by_call
from harness.offline.result import NO_CALL
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Evidence, Finding, Severity
from harness.validators.pcap import read_capture
from harness.validators.sip import ExpectedMode, SipReport, validate_sip
from tests.unit.validators.builders import ether, sip_flow, udp, write_pcap

CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"


def _sip(tmp_path: Path, legs: tuple[str, ...] = ("leg_a", "leg_b"),
         parts: tuple[str, ...] = ("invite", "ok", "ack", "bye", "bye_ok")) -> SipReport:
    frames = [(1000.0 + i * 0.01, ether(udp(s, d, m))) for i, (s, d, m) in enumerate(sip_flow(legs, parts))]
    return validate_sip(read_capture(write_pcap(tmp_path / "sip.pcap", frames)), mode=ExpectedMode.ANY)


def _finding(message: str, **where: str) -> Finding:
    return Finding("RTP-SEQ-CONTINUITY", Severity.SHOULD, message, Evidence(), **where)  # type: ignore[arg-type]


def test_fields_name_the_call(tmp_path: Path) -> None:
    sip = _sip(tmp_path)
    resolver = CallResolver(sip)
    call_id = next(iter(sip.dialogs))
    assert resolver.resolve(_finding("x", call_id=call_id)) == CALLUUID  # Call-ID → its calluuid
    assert resolver.resolve(_finding("x", calluuid="OTHER")) == "OTHER"
    assert resolver.resolve(_finding("x", call_id="unknown@host")) == "Call-ID unknown@host"


def test_message_text_is_not_parsed(tmp_path: Path) -> None:
    sip = _sip(tmp_path)
    call_id = next(iter(sip.dialogs))
    text = f"RTP stream 127.0.0.1:20000 -> 127.0.0.2:30000 (Call-ID {call_id}, m-line 0)"
    assert CallResolver(sip).resolve(_finding(text)) == NO_CALL


def test_sip_findings_carry_call_id_and_calluuid(tmp_path: Path) -> None:
    sip = _sip(tmp_path, ("leg_a",), ("invite", "ok"))  # the 2xx is never ACKed
    findings, modes = check_legs_per_call(sip)
    assert modes == set() and findings == []  # a lone leg without otherDN: leg count not judged
    (never_acked,) = [f for f in sip.findings if f.requirement_id == "SIP-DIALOG-ESTABLISHED"]
    assert never_acked.call_id == next(iter(sip.dialogs)) and never_acked.calluuid == CALLUUID


def test_rtp_findings_carry_call_and_stream(tmp_path: Path) -> None:
    from harness.offline import validate_capture
    from tests.unit.validators.builders import rtp_stream

    sip_frames = [(1000.0 + i * 0.01, ether(udp(s, d, m)))
                  for i, (s, d, m) in enumerate(sip_flow(("leg_a", "leg_b"), ("invite", "ok", "ack")))]
    lossy = rtp_stream(("127.0.0.1", 20000), ("127.0.0.2", 30000), [*range(1, 20), *range(22, 60)], ssrc=0xA)
    result = validate_capture(write_pcap(tmp_path / "lossy.pcap", sorted(sip_frames + lossy, key=lambda f: f[0])))
    (seq,) = [f for f in result.findings if f.requirement_id == "RTP-SEQ-CONTINUITY"]
    assert seq.stream == "127.0.0.1:20000 -> 127.0.0.2:30000 SSRC 0x0000000A"
    assert seq.call_id in result.sip.dialogs and seq.calluuid == CALLUUID
    (call,) = [c for c in result.calls if "RTP-SEQ-CONTINUITY" in c.by_requirement]
    assert call.call == CALLUUID


def test_two_legs_give_two_session_mode(tmp_path: Path) -> None:
    _findings, modes = check_legs_per_call(_sip(tmp_path))
    assert modes == {ExpectedMode.TWO_SESSIONS}


def test_group_by_call_orders_calls_and_requirements() -> None:
    a = Finding("RTP-SEQ-CONTINUITY", Severity.SHOULD, "a", Evidence())
    b = Finding("SIP-MESSAGE-WELLFORMED", Severity.MUST, "b", Evidence())
    groups = group_by_call([(NO_CALL, a), ("CALL2", a), ("CALL1", b), ("CALL1", a)])
    assert [g.call for g in groups] == ["CALL1", "CALL2", NO_CALL]
    catalogue = list(load_catalogue())
    expected = sorted(["SIP-MESSAGE-WELLFORMED", "RTP-SEQ-CONTINUITY"], key=catalogue.index)
    assert list(groups[0].by_requirement) == expected  # catalogue order

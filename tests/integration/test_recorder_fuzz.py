"""Robustness of the RUNNING reference recorder against hostile SIP datagrams (ARE-09, RFC 3261 §18.3).

Hypothesis sends mutated, truncated, oversize and garbage datagrams (built from valid ARE
INVITEs, in-dialog requests and OPTIONS) to the recorder's SIP port. After every example the
recorder must still answer Resource Manager's OPTIONS ping with 200 within 2 s and still be
running; at the end a normal two-session call must still be recorded completely, and the
recorder must never have logged an unexpected exception.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.media.rtp_source import RtpStreamSource
from tests.integration.recorder_fuzz_helpers import (
    drain,
    fuzz_datagrams,
    hang_up_accepted,
    options_bytes,
    ping,
)
from tests.integration.recorder_harness import (
    UdpLeg,
    answered_port,
    in_dialog_bytes,
    invite_bytes,
    reference_recorder,
)

pytestmark = pytest.mark.integration

FUZZ_CALLUUID = "FUZZFUZZFUZZFUZZFUZZFUZZFUZZFUZZ"
NORMAL_CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"


def _uri(port: int, dn: str, calluuid: str, extra: str = "") -> str:
    return f"sip:record=0A1B2C3D@127.0.0.1:{port};calluuid={calluuid};dn={dn};recordDN=7001{extra}"


def _bases(local: tuple[str, int], port: int) -> list[bytes]:
    """Valid datagrams of every kind the recorder sees, as seeds for the mutations."""
    uri = _uri(port, "5551234", FUZZ_CALLUUID)
    second = "m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n"
    return [
        options_bytes(local, "fz-options"),
        invite_bytes(call_id="fz-inv", uri=uri, local=local, media_port=40000),
        invite_bytes(call_id="fz-single", uri=_uri(port, "1", FUZZ_CALLUUID, ";otherDN=2"), local=local,
                     media_port=40000, extra_media=second),
        invite_bytes(call_id="fz-g729", uri=uri, local=local, media_port=40000, codec="G729"),
        invite_bytes(call_id="fz-evil", uri=_uri(port, "..%2F..", "..%2F..%2Fetc"), local=local, media_port=40000),
        invite_bytes(call_id="fz-re", uri=uri, local=local, media_port=40000, direction="inactive", cseq=2,
                     to_tag="no-such-tag", version=2),
        in_dialog_bytes("ACK", call_id="fz-inv", uri=uri, local=local, to_tag="no-such-tag", cseq=1),
        in_dialog_bytes("BYE", call_id="fz-inv", uri=uri, local=local, to_tag="no-such-tag", cseq=2),
        in_dialog_bytes("INFO", call_id="fz-inv", uri=uri, local=local, to_tag="no-such-tag", cseq=3),
    ]


def _recording(root: Path, calluuid: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for path in root.glob(f"{calluuid}/*/recording.json"):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if doc.get("complete"):
                return doc
        time.sleep(0.05)
    raise AssertionError(f"recording of {calluuid} not complete after {timeout}s: {doc}")


def _normal_call(recorder_addr: tuple[str, int], packets: int) -> None:
    """Two per-party sessions (GVP-MSRec), `packets` x 20 ms of time-coded RTP each, BYEs."""
    legs = {dn: UdpLeg(recorder_addr) for dn in ("5551234", "7001")}
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dests, tags = [], {}
        for index, (dn, leg) in enumerate(legs.items()):
            uri = _uri(recorder_addr[1], dn, NORMAL_CALLUUID)
            leg.send(invite_bytes(call_id=f"normal-{dn}", uri=uri, local=leg.local, media_port=40000))
            ok = leg.final_response()
            assert ok.status == 200, (ok.status, ok.reason)
            tags[dn] = ok.to.tag or ""
            leg.send(in_dialog_bytes("ACK", call_id=f"normal-{dn}", uri=uri, local=leg.local, to_tag=tags[dn],
                                     cseq=1))
            dests.append((RtpStreamSource.create(index, "PCMU", rng=index), (recorder_addr[0], answered_port(ok))))
        start = time.monotonic()
        for n in range(packets):
            for source, dest in dests:
                rtp.sendto(source.packet(n), dest)
            time.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
        for dn, leg in legs.items():
            leg.send(in_dialog_bytes("BYE", call_id=f"normal-{dn}", uri=_uri(recorder_addr[1], dn, NORMAL_CALLUUID),
                                     local=leg.local, to_tag=tags[dn], cseq=2))
            assert leg.final_response("BYE").status == 200
    finally:
        rtp.close()
        for leg in legs.values():
            leg.close()


def test_recorder_survives_fuzzed_sip_and_still_records(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    with reference_recorder(root) as recorder:
        stderr = recorder.stderr
        addr = (recorder.host, recorder.port)
        fuzz = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pinger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fuzz.bind(("127.0.0.1", 0))
        pinger.bind(("127.0.0.1", 0))
        bases = _bases(fuzz.getsockname()[:2], recorder.port)
        stats = {"examples": 0, "datagrams": 0, "hung_up": 0}

        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(st.lists(fuzz_datagrams(bases), min_size=1, max_size=4))
        def one_example(datagrams: list[bytes]) -> None:
            stats["examples"] += 1
            for data in datagrams:
                fuzz.sendto(data[:65507], addr)  # the largest UDP/IPv4 payload
                stats["datagrams"] += 1
            reply = ping(pinger, addr, timeout=2.0)
            assert recorder.process.poll() is None, "recorder exited"
            assert reply is not None, "no answer to OPTIONS within 2 s"
            assert reply.status == 200
            # A mutation may still be a valid INVITE: end what it opened, as Media Server would.
            stats["hung_up"] += hang_up_accepted(drain(fuzz), fuzz, addr)

        try:
            one_example()
            assert stats["examples"] >= 100, stats
            print(f"fuzz: {stats}, recorder log lines: {len(stderr.lines)}")  # shown with -s
            _normal_call(addr, packets=50)
            doc = _recording(root, NORMAL_CALLUUID, timeout=10.0)
            reply = ping(pinger, addr)
            assert reply is not None and reply.status == 200
        finally:
            fuzz.close()
            pinger.close()
        assert recorder.process.poll() is None

    assert {c["dn"]: c["index"] for c in doc["channels"]} == {"5551234": 0, "7001": 1}
    for stream in doc["streams"]:
        assert stream["rtp_stats"]["packets"] == 50 and stream["rtp_stats"]["lost"] == 0
    # Nothing the peer put in a URI made the recorder write outside its root (CWE-22).
    assert [p.name for p in tmp_path.iterdir()] == ["rec"]
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root.resolve()), path
    # The adapter catches and logs anything the core raises: there must be none of that.
    assert stderr.matching("unexpected error") == [], stderr.matching("unexpected error")[:3]
    assert stderr.matching("Traceback") == []

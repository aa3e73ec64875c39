"""The synthetic capture (no CAP_NET_RAW) rebuilds the RTP that was really sent, also after a pause.

Run-time control splits a stream into pacer pieces (each log counts from 0) and moves the
timestamps on resume; the rebuilt RTP must still match, packet for packet, what tcpdump saw on
loopback in the same run: same SSRC, sequence numbers, timestamps, marker bits and payloads.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from harness.capture.pcap_capture import LoopbackCapture, capture_available
from harness.conformance.run import ScenarioRun
from harness.emulators.runtime_control import PauseProfile
from harness.emulators.tlib_endpoint import TlibEndpoint
from harness.protocol.tlib import EventACK, RecordOp
from harness.recorders.launcher import REFERENCE_COMMAND, ManagedRecorder
from harness.recorders.under_test import REFERENCE_CAPABILITIES
from harness.validators.pcap import read_capture

pytestmark = pytest.mark.integration

RtpKey = tuple[int, int, int, bool, bytes]  # ssrc, seq, timestamp, marker, payload


def _rtp_from(pcap: Path, ports: set[int]) -> dict[int, list[RtpKey]]:
    """The RTP of the Media Server's stream sockets, per source port, in sequence order."""
    streams: dict[int, list[RtpKey]] = {}
    for d in read_capture(pcap):
        if d.src[1] not in ports or len(d.payload) < 12 or d.payload[0] >> 6 != 2:
            continue
        p = d.payload
        key = (int.from_bytes(p[8:12], "big"), int.from_bytes(p[2:4], "big"), int.from_bytes(p[4:8], "big"),
               bool(p[1] & 0x80), p[12:])
        streams.setdefault(d.src[1], []).append(key)
    return {port: sorted(keys, key=lambda k: (k[2], k[1])) for port, keys in streams.items()}


@pytest.mark.parametrize("profile", [PauseProfile.RTP_STOPS, PauseProfile.SILENCE])
def test_synthetic_rtp_equals_the_tcpdump_capture_across_a_pause(
        profile: PauseProfile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, why = capture_available()
    if not ok:
        pytest.skip(f"needs tcpdump with CAP_NET_RAW to compare against: {why}")
    monkeypatch.setenv("AREC_CAPTURE", "synthetic")
    config = tmp_path / "recorder-tlib.toml"
    config.write_text("")
    with TlibEndpoint() as endpoint:
        managed = ManagedRecorder(REFERENCE_COMMAND, tmp_path / "recordings", slot=zlib.crc32(str(tmp_path).encode()),
                                  capabilities=REFERENCE_CAPABILITIES, tlib=endpoint.address, tlib_config=config)
        with managed.running() as recorder:
            real = LoopbackCapture(tmp_path / "tcpdump.pcap", recorder.capture_filter)
            real.start()
            run = ScenarioRun(recorder, tmp_path / "run", endpoint=endpoint, pause_profile=profile)
            run.work_dir.mkdir()
            try:
                run.start_capture()
                assert run.capture_method != "tcpdump"
                run.sip_server.configure_dn("7001", record=True)
                run.tlib_client("agent desktop", "7001")
                run.place_call("5551234", "7001", "PCMU")
                run.establish(0.6)
                assert isinstance(run.tlib_request("agent desktop", RecordOp.PAUSE), EventACK)
                run.keep_talking(0.5)
                assert isinstance(run.tlib_request("agent desktop", RecordOp.RESUME), EventACK)
                run.keep_talking(0.5)
                run.release()
                evidence = run.evidence()
            finally:
                run.close()
                real.stop()
    assert run.active is not None and run.control is not None
    ports = {s.local_port for s in run.active.streams}
    assert all(len(run.control.pieces(s)) >= 2 for s in run.active.streams)  # the pause really split them
    synthetic = _rtp_from(evidence.pcap, ports)
    captured = _rtp_from(tmp_path / "tcpdump.pcap", ports)
    assert set(captured) == ports
    for port in ports:
        assert len(captured[port]) > 40
        assert synthetic[port] == captured[port], f"stream from port {port} differs"

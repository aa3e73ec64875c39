"""linphonec 5.1 (Debian `linphone-cli`) as a recorder under test, in its own network namespace.

What this pins down is what linphonec really does with one Genesys Media Server leg, so the
verdicts arec gives with examples/linphone/profile.toml can be checked against it (README there):

* the Genesys Request-URI user `record=<RecordID>` is accepted like any other user: 200;
* the `a=sendonly` PCMU offer is answered `a=recvonly`, PCMU, with linphonec's own address;
* it sends no RTP back, only STUN binding requests (20 bytes) to the offered RTP port;
* the received audio is written to `linphone.wav` (8 kHz mono PCM 16): the stream's time-code
  decodes from it, segments in order.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dpkt
import numpy as np
import pytest
import soundfile

from harness.capture.pcap_capture import LoopbackCapture
from harness.media.timecode import decode_timecode
from harness.protocol.sdp import SessionDescription
from harness.recorders.netns import NamespaceHandle, namespace_for_recorder
from harness.sipp.leg import SippLeg
from tests.integration.endpoint_support import (
    free_udp_port,
    record_one_leg,
    start_in_namespace,
    stop_endpoint,
)

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "linphone"
PORT = 5060  # the namespace is ours alone: the standard port cannot clash
CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
RECORD_ID = "0A1B2C3D4E5F6789"
PACKETS = 100  # 2 s of 20 ms packets: 10 time-code segments (1.2 s left linphonec too few on a loaded host)
STUN_MAGIC_COOKIE = 0x2112A442  # RFC 5389 §6


@pytest.fixture(autouse=True)
def _need_tools() -> None:
    missing = [tool for tool in ("linphonec", "sipp", "ip", "tcpdump") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup.sh (apt-get install linphone-cli ...)")


@dataclass
class Linphone:
    ns: NamespaceHandle
    recordings: Path
    log: Path


@pytest.fixture
def linphone(tmp_path: Path) -> Iterator[Linphone]:
    with namespace_for_recorder() as ns:
        recordings = tmp_path / "recordings"
        log = tmp_path / "linphonec.out"
        proc = start_in_namespace(ns, ["sh", str(EXAMPLE / "start-linphone.sh"), ns.recorder_address, str(PORT),
                                       str(tmp_path), str(recordings)], log, b"linphonec is ready")
        try:
            yield Linphone(ns, recordings, log)
        finally:
            stop_endpoint(proc)  # the script sends `quit`: linphonec ends its calls and closes the WAV


def _is_stun(payload: bytes) -> bool:
    """RFC 5389 §6: first two bits 0 (never RTP version 2), magic cookie at bytes 4..8."""
    return len(payload) >= 20 and payload[0] >> 6 == 0 and struct.unpack("!I", payload[4:8])[0] == STUN_MAGIC_COOKIE


def test_genesys_leg_is_answered_recvonly_and_the_received_audio_is_recorded(
        linphone: Linphone, tmp_path: Path) -> None:
    host = linphone.ns.host_address
    leg = SippLeg(recorder_host=linphone.ns.recorder_address, recorder_port=PORT, record_id=RECORD_ID,
                  calluuid=CALLUUID, dn="7001", record_dn="7001", local_ip=host, media_ip=host,
                  media_ports=(free_udp_port(host),), recv_timeout_ms=4000)
    pcap = tmp_path / "veth.pcap"
    with LoopbackCapture(pcap, f"host {linphone.ns.recorder_address}", interface=linphone.ns.host_ifname):
        answer = record_one_leg(linphone.ns, leg, tmp_path / "leg", PACKETS)

    # Any Request-URI user is accepted: the Genesys one got a 200, answered recvonly, PCMU only.
    messages = (tmp_path / "leg" / "messages.log").read_text()
    assert f"INVITE sip:record={RECORD_ID}@{linphone.ns.recorder_address}:{PORT};calluuid={CALLUUID}" in messages
    assert "SIP/2.0 200 Ok" in messages
    assert answer.connection_ip == linphone.ns.recorder_address
    assert answer.directions == ("recvonly",)
    assert isinstance(answer.parsed, SessionDescription)
    assert answer.parsed.media[0].formats[0] == "0"  # PCMU (RFC 3551 static payload type 0) first

    # All RTP reached it; what it sent to our RTP port is STUN only, never RTP (recvonly kept).
    rtp_port, our_port = answer.audio_ports[0], leg.media_ports[0]
    with pcap.open("rb") as f:
        udp = [ip.data for _, buf in dpkt.pcap.Reader(f)
               if isinstance(ip := dpkt.ethernet.Ethernet(buf).data, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP)]
    assert sum(1 for u in udp if u.dport == rtp_port) == PACKETS
    back = [bytes(u.data) for u in udp if u.dport == our_port]
    assert all(_is_stun(p) for p in back), [p[:12].hex() for p in back]

    # One file per process, the decoded received audio: the time-code reads back in order.
    assert sorted(p.name for p in linphone.recordings.iterdir()) == ["linphone.wav"]
    wav = linphone.recordings / "linphone.wav"
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    samples, rate = soundfile.read(str(wav), dtype="int16")
    track = decode_timecode(np.asarray(samples), rate)
    counters = track.counters_of(0)
    assert track.streams_present() == (0,)
    # Its audio flow control may drop packets (a loaded host: its start-up and last segments):
    # in order, most present.
    assert len(counters) >= 6 and list(counters) == sorted(set(counters)) and counters[-1] < PACKETS // 10

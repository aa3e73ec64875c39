"""baresip 1.0 (Debian `baresip-core`) as a recorder under test, in its own network namespace.

What these tests pin down is what baresip really does with a Genesys Media Server leg, so the
verdicts arec gives with examples/baresip/profile.toml can be checked against it (README there):

* the Genesys Request-URI user `record=<RecordID>` matches no account: 404, nothing written;
* with an account whose user is that `record=<id>`, the `a=sendonly` offer is answered 200
  with `a=recvonly`, yet the received-audio file (`dump-*-dec.wav`) stays empty;
* the same leg offered `a=sendrecv` is recorded: the time-code of the stream decodes from
  `dump-*-dec.wav` (so "empty" above is baresip's doing, not a file we failed to read).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dpkt
import numpy as np
import pytest
import soundfile

from harness.capture.pcap_capture import LoopbackCapture
from harness.media.timecode import decode_timecode
from harness.recorders.netns import NamespaceHandle, namespace_for_recorder
from harness.sipp.leg import SippLeg
from harness.sipp.process import SippProcess
from harness.sipp.twin import AnsweredLeg, Direction, SippLegError
from tests.integration.endpoint_support import (
    free_udp_port,
    record_one_leg,
    start_in_namespace,
    stop_endpoint,
)

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "baresip"
PORT = 5060  # the namespace is ours alone: the standard port cannot clash
CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
RECORD_ID = "0A1B2C3D4E5F6789"
PACKETS = 60  # 1.2 s of 20 ms packets: 6 time-code segments


@pytest.fixture(autouse=True)
def _need_tools() -> None:
    missing = [tool for tool in ("baresip", "sipp", "ip", "tcpdump") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup.sh (apt-get install baresip-core ...)")


@dataclass
class Baresip:
    ns: NamespaceHandle
    recordings: Path
    log: Path


def _start(ns: NamespaceHandle, work: Path, account_user: str) -> tuple[subprocess.Popen[bytes], Path]:
    recordings = work / "recordings"
    proc = start_in_namespace(ns, ["sh", str(EXAMPLE / "start-baresip.sh"), ns.recorder_address, str(PORT),
                                   str(work), str(recordings), account_user],
                              work / "baresip.log", b"baresip is ready")
    return proc, recordings


@pytest.fixture
def baresip(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Baresip]:
    account_user: str = getattr(request, "param", "recorder")
    with namespace_for_recorder() as ns:
        proc, recordings = _start(ns, tmp_path, account_user)
        try:
            yield Baresip(ns, recordings, tmp_path / "baresip.log")
        finally:
            stop_endpoint(proc)


class _SendrecvLeg(SippLeg):
    """The same leg with an `a=sendrecv` offer (not what Genesys sends: a control)."""

    def offer_sdp(self, version: int = 1, direction: Direction = Direction.SENDRECV) -> bytes:
        return super().offer_sdp(version, Direction.SENDRECV)


def _leg(rec: Baresip, record_id: str = RECORD_ID, *, sendrecv: bool = False) -> SippLeg:
    host = rec.ns.host_address
    cls = _SendrecvLeg if sendrecv else SippLeg
    return cls(recorder_host=rec.ns.recorder_address, recorder_port=PORT, record_id=record_id, calluuid=CALLUUID,
               dn="7001", record_dn="7001", local_ip=host, media_ip=host, media_ports=(free_udp_port(host),),
               recv_timeout_ms=4000)


def _record_one_leg(rec: Baresip, leg: SippLeg, work: Path) -> AnsweredLeg:
    """INVITE, 1.2 s of time-coded RTP (stream 0) to the answered port, BYE."""
    return record_one_leg(rec.ns, leg, work, PACKETS)


def _wavs(rec: Baresip, kind: str) -> list[Path]:
    return sorted(rec.recordings.glob(f"dump-*-{kind}.wav"))


@pytest.mark.parametrize("baresip", ["recorder"], indirect=True)
def test_genesys_request_uri_is_answered_404_and_nothing_is_recorded(baresip: Baresip, tmp_path: Path) -> None:
    leg = _leg(baresip)
    with SippProcess(leg, tmp_path / "leg") as proc:
        with pytest.raises(SippLegError):
            proc.control.wait_answer(8)
        proc.wait(5)
    log = (tmp_path / "leg" / "messages.log").read_text()
    assert f"INVITE sip:record={RECORD_ID}@{baresip.ns.recorder_address}:{PORT};calluuid={CALLUUID}" in log
    assert "SIP/2.0 404 Not Found" in log
    assert f"UA not found: record={RECORD_ID}" in baresip.log.read_text(errors="replace")
    assert list(baresip.recordings.iterdir()) == []


@pytest.mark.parametrize("baresip", [f"record={RECORD_ID}"], indirect=True)
def test_sendonly_offer_is_answered_recvonly_but_the_received_audio_is_not_written(
        baresip: Baresip, tmp_path: Path) -> None:
    pcap = tmp_path / "veth.pcap"
    with LoopbackCapture(pcap, f"host {baresip.ns.recorder_address}", interface=baresip.ns.host_ifname):
        leg = _leg(baresip)
        answer = _record_one_leg(baresip, leg, tmp_path / "leg")
    assert answer.connection_ip == baresip.ns.recorder_address
    assert answer.directions == ("recvonly",)
    # The RTP did reach baresip (the capture listens on the host end of the veth pair)...
    rtp_port, our_port = answer.audio_ports[0], leg.media_ports[0]
    with pcap.open("rb") as f:
        udp = [ip.data for _, buf in dpkt.pcap.Reader(f)
               if isinstance(ip := dpkt.ethernet.Ethernet(buf).data, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP)]
    assert sum(1 for u in udp if u.dport == rtp_port) == PACKETS
    # recvonly kept: baresip sent no RTP back (RTCP goes to our port + 1, RFC 3550 §11).
    assert not [u for u in udp if u.dport == our_port]
    # ...and baresip opened its files, but wrote no received audio into them.
    dec = _wavs(baresip, "dec")
    assert len(dec) == 1 and len(_wavs(baresip, "enc")) == 1
    info = soundfile.info(str(dec[0]))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert info.frames == 0


@pytest.mark.parametrize("baresip", [f"record={RECORD_ID}"], indirect=True)
def test_sendrecv_offer_is_recorded_in_the_dec_file(baresip: Baresip, tmp_path: Path) -> None:
    answer = _record_one_leg(baresip, _leg(baresip, sendrecv=True), tmp_path / "leg")
    assert answer.directions == ("sendrecv",)
    dec = _wavs(baresip, "dec")
    assert len(dec) == 1
    samples, rate = soundfile.read(str(dec[0]), dtype="int16")
    track = decode_timecode(np.asarray(samples), rate)
    counters = track.counters_of(0)
    assert track.streams_present() == (0,)
    # The jitter buffer may cost the first segment; the rest arrive whole and in order.
    assert len(counters) >= 4 and list(counters) == list(range(counters[0], counters[0] + len(counters)))

"""In-memory driver of `RecorderCore`: fixture datagrams, a fake port allocator, a manual clock.

The fixtures in ``tests/fixtures/recorder_core/`` are whole SIP datagrams with CRLF kept. Their
header section holds ``{{NAME}}`` placeholders (Request-URI, Call-ID, CSeq, To tag) because the
recorder picks its own To tag at run time; `render` only substitutes inside the header section
and checks that the body -- and therefore its Content-Length -- is byte-for-byte the file's.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.protocol.sdp import parse_sdp
from harness.protocol.sip.message import SipParseError, SipResponse, parse_message
from reference_recorder.core import RecorderConfig, RecorderCore
from reference_recorder.storage import RecordingStore
from tests.unit.sip_uas.helpers import only_copied_from_to_is_malformed

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "recorder_core"
MS = ("127.0.0.1", 5070)  # where the fixtures' Via says Media Server sends from
RM = ("127.0.0.1", 5090)  # Resource Manager's OPTIONS pinger
CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
T0 = 1_700_000_000.0  # epoch seconds: the recorder's clock is wall time (recording t0)


def recording_uri(dn: str, *, record_id: str = "0A1B2C3D", calluuid: str | None = CALLUUID,
                  other_dn: str | None = None, record_dn: str = "7001") -> str:
    params = f";calluuid={calluuid}" if calluuid is not None else ""
    params += f";dn={dn}"
    if other_dn is not None:
        params += f";otherDN={other_dn}"
    return f"sip:record={record_id}@127.0.0.1:5060{params};recordDN={record_dn}"


def render(name: str, **values: str | int) -> bytes:
    """The fixture `name` with ``{{KEY}}`` placeholders in its header section filled in."""
    raw = (FIXTURES / name).read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"{name}: no CRLF CRLF (fixture lost its CRLF line ends?)"
    assert b"{{" not in body, f"{name}: placeholders belong in the header section only"
    text = head.decode()
    for key, value in values.items():
        text = text.replace("{{" + key.upper() + "}}", str(value))
    assert "{{" not in text, f"{name}: unfilled placeholder in {text!r}"
    return text.encode() + sep + body


def rtp_packet(seq: int, timestamp: int, *, pt: int = 0, ssrc: int = 0x1234ABCD, payload: bytes | None = None,
               marker: bool = False) -> bytes:
    """A minimal RFC 3550 §5.1 packet: V=2, no CSRC/extension, 20 ms of G.711 by default."""
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return header + (payload if payload is not None else bytes([0x55]) * 160)


@dataclass
class FakePorts:
    """`MediaPorts` without sockets: hands out even ports, records every release."""

    next_port: int = 30000
    limit: int | None = None  # raise OSError after this many live ports (like an exhausted range)
    allocated: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    bad_releases: list[int] = field(default_factory=list)

    @property
    def live(self) -> set[int]:
        return set(self.allocated) - set(self.released)

    def allocate(self) -> int:
        if self.limit is not None and len(self.live) >= self.limit:
            raise OSError("no free RTP port")
        port = self.next_port
        self.next_port += 2  # RFC 3550 §11: even RTP port, the odd one left for RTCP
        self.allocated.append(port)
        return port

    def release(self, port: int) -> None:
        if port not in self.live:
            self.bad_releases.append(port)  # double release or a port we never handed out
            return
        self.released.append(port)


@dataclass
class Leg:
    """What a test remembers of one recording session it opened."""

    call_id: str
    uri: str
    to_tag: str
    ports: list[int]
    cseq: int = 1


class Driver:
    """A `RecorderCore` plus a manual clock, fake ports and a temporary recordings root."""

    def __init__(self, root: Path, *, capacity: int = 100, ports: FakePorts | None = None,
                 rtp_timeout_s: float | None = None) -> None:
        self.log_lines: list[str] = []  # what the core logged
        self.now = T0
        self.ports = ports or FakePorts()
        self.root = root
        config = RecorderConfig(recordings_root=root, sip_address=("127.0.0.1", 5060),
                                media_address="127.0.0.1", capacity=capacity, rtp_timeout_s=rtp_timeout_s)
        # fsync off: the crash-safety of the store has its own tests; here it only costs time.
        # The store is the adapter's: the driver runs the core's storage work as the adapter's
        # storage thread would (`run_storage`), after every input unless `auto_storage` is off.
        self.store = RecordingStore(root, fsync=False, jitter_window=config.jitter_window_s)
        self.core = RecorderCore(config, self.ports, log=self.log_lines.append)
        self.auto_storage = True
        self.storage_errors: list[BaseException] = []
        self.unparsed: list[bytes] = []  # responses echoing a malformed From/To (see responses)

    # -- SIP ---------------------------------------------------------------------------------
    def send(self, data: bytes, source: tuple[str, int] = MS) -> list[SipResponse]:
        """Feed one datagram; every response the core queued, parsed with our codec."""
        self.core.receive_sip(data, source, self.now)
        if self.auto_storage:
            self.run_storage()
        return self.responses()

    def responses(self) -> list[SipResponse]:
        out: list[SipResponse] = []
        for outgoing in self.core.data_to_send():
            try:
                message = parse_message(outgoing.data)
            except SipParseError as err:
                # A response to a request whose From/To was malformed carries them verbatim (RFC
                # 3261 §8.2.6.2 "MUST equal"): the one kind of response that may not parse back.
                assert only_copied_from_to_is_malformed(outgoing.data), (err, outgoing.data)
                self.unparsed.append(outgoing.data)
                continue
            assert isinstance(message, SipResponse), outgoing.data
            out.append(message)
        return out

    def final(self, data: bytes, source: tuple[str, int] = MS) -> SipResponse:
        finals = [r for r in self.send(data, source) if r.status >= 200]
        assert len(finals) == 1, [(r.status, r.reason) for r in finals]
        return finals[0]

    def open_leg(self, call_id: str, uri: str, fixture: str = "invite_pcmu.sip", *, ack: bool = True,
                 cseq: int = 1) -> Leg:
        ok = self.final(render(fixture, uri=uri, call_id=call_id, cseq=cseq, to_tag=""))
        assert ok.status == 200, (ok.status, ok.reason)
        ports = [m.port for m in parse_sdp(ok.body).media]
        assert ok.to.tag
        leg = Leg(call_id, uri, ok.to.tag, ports, cseq)
        if ack:
            assert self.send(self.in_dialog("ack.sip", leg, cseq=cseq)) == []
        return leg

    @staticmethod
    def in_dialog(fixture: str, leg: Leg, *, cseq: int | None = None) -> bytes:
        if cseq is None:
            leg.cseq += 1
            cseq = leg.cseq
        return render(fixture, call_id=leg.call_id, cseq=cseq, to_tag=leg.to_tag)

    def reinvite(self, leg: Leg, fixture: str) -> SipResponse:
        leg.cseq += 1
        data = render(fixture, uri=leg.uri, call_id=leg.call_id, cseq=leg.cseq, to_tag=f";tag={leg.to_tag}")
        ok = self.final(data)
        if ok.status == 200:
            assert self.send(self.in_dialog("ack.sip", leg, cseq=leg.cseq)) == []
        return ok

    def bye(self, leg: Leg, *, settle: bool = True) -> SipResponse:
        """BYE on `leg`; with `settle`, also let the core's after-BYE grace period run out."""
        response = self.final(self.in_dialog("bye.sip", leg))
        if settle:
            self.settle()
        return response

    def settle(self) -> None:
        """Advance past the grace the core gives RTP queued behind a BYE (`bye_grace_s`)."""
        self.advance(self.core.config.bye_grace_s + 0.01)

    # -- RTP and time ------------------------------------------------------------------------
    def rtp(self, port: int, packets: Iterator[bytes] | list[bytes], *, ptime: float = 0.02) -> None:
        """Deliver packets 20 ms apart on `port`, firing the core's timer as the adapter would."""
        for data in packets:
            self.core.receive_rtp(port, data, MS, self.now)
            self.advance(ptime)

    def run_storage(self) -> None:
        """Do the disk work the core handed out, as the adapter's storage worker would."""
        while work := self.core.storage_work():
            for item in work:
                error: BaseException | None = None
                try:
                    self.store.run(item)
                except Exception as failure:  # noqa: BLE001 - reported to the core, as the adapter does
                    error = failure
                    self.storage_errors.append(failure)
                self.core.storage_done(item, error, self.now)

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every deadline that falls due on the way (like the adapter)."""
        end = self.now + seconds
        while (deadline := self.core.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.core.on_timer(self.now)
            if self.auto_storage:
                self.run_storage()
        self.now = end

    # -- output ------------------------------------------------------------------------------
    def documents(self) -> list[dict[str, Any]]:
        docs = [json.loads(p.read_text()) for p in sorted(self.root.rglob("recording.json"))]
        return sorted(docs, key=lambda d: (d["t0"], d["record_id"], d["version"]))

"""Property: whatever arrives, `RecorderCore` never raises, and everything it sends is SIP.

Random interleavings of valid ARE datagrams (GVP-MSRec INVITEs, in-dialog ACK/BYE/INFO/re-INVITE
with the real or a wrong To tag, OPTIONS pings), mutated and truncated copies of them, garbage,
random bytes and well-formed RTP on allocated and unallocated ports, and timer firings. RFC 3261
§18.3: a malformed datagram is answered if possible or dropped -- never a crash; every queued
output must parse with our codec as a response. At the end `close` leaves no port bound and
every recording complete.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.protocol.sip.message import SipResponse
from tests.unit.recorder_core.helpers import (
    MS,
    RM,
    Driver,
    FakePorts,
    recording_uri,
    render,
    rtp_packet,
)

CALL_IDS = ("fz-a", "fz-b", "fz-c")
URIS = (
    recording_uri("5551234"),
    recording_uri("7001"),
    recording_uri("7001", record_id="OTHER-ID"),
    recording_uri("5551234", other_dn="7001"),
    recording_uri("7001", calluuid="SECONDCALL"),
    recording_uri("7001", calluuid=None),
    "sip:recorder@127.0.0.1:5060",
    "sip:record=x@127.0.0.1;calluuid=%2e%2e%2f%2e%2e;dn=..%2Fetc",
)
INVITES = ("invite_pcmu.sip", "invite_pcma.sip", "invite_two_m_lines.sip", "invite_g729_only.sip",
           "invite_text_body.sip")
IN_DIALOG = ("ack.sip", "bye.sip", "info.sip", "reinvite_inactive.sip", "reinvite_sendonly.sip")
SOURCES = (MS, RM, ("127.0.0.1", 1), ("::1", 5070))


def _mutate(data: bytes, draw: st.DataObject) -> bytes:
    kind = draw.draw(st.sampled_from(("truncate", "flip", "insert", "drop_line", "lf_only", "dup_line",
                                      "splice_header")))
    pos = draw.draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "truncate":
        return data[:pos]
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ draw.draw(st.integers(1, 255))]) + data[pos + 1:] if data else data
    if kind == "insert":
        return data[:pos] + draw.draw(st.binary(min_size=1, max_size=16)) + data[pos:]
    lines = data.split(b"\r\n")
    index = draw.draw(st.integers(0, len(lines) - 1))
    if kind == "drop_line":
        return b"\r\n".join(lines[:index] + lines[index + 1:])
    if kind == "lf_only":
        return data.replace(b"\r\n", b"\n")
    if kind == "dup_line":
        return b"\r\n".join(lines[:index] + [lines[index]] + lines[index:])
    header = draw.draw(st.sampled_from((b"Content-Length: 99999", b"Content-Length: -1", b"CSeq: 1 BYE",
                                        b"Require: siprec", b"Via: SIP/2.0/UDP", b"Call-ID:", b"To: <tel:1>",
                                        b"Content-Type: application/sdp", b"Max-Forwards: 0")))
    return b"\r\n".join(lines[:index] + [header] + lines[index:])


class _Fuzzer:
    def __init__(self, driver: Driver, draw: st.DataObject) -> None:
        self.driver = driver
        self.draw = draw
        self.tags: dict[str, str] = {}  # Call-ID -> the To tag the recorder gave its 2xx
        self.uris: dict[str, str] = {}
        self.cseq = 10

    def _note(self, responses: list[SipResponse]) -> None:
        for r in responses:
            event(f"sent {r.status} {r.cseq.method}")  # --hypothesis-show-statistics: what was reached
            if r.status == 200 and r.cseq.method == "INVITE" and r.to.tag and r.call_id not in self.tags:
                self.tags[r.call_id] = r.to.tag

    def valid_datagram(self) -> bytes:
        d = self.draw
        self.cseq += 1
        what = d.draw(st.sampled_from(("invite", "in_dialog", "in_dialog", "options")))
        call_id = d.draw(st.sampled_from(CALL_IDS))
        if what == "options":
            return render("options.sip", cseq=self.cseq)
        if what == "invite":
            uri = d.draw(st.sampled_from(URIS))
            self.uris.setdefault(call_id, uri)
            return render(d.draw(st.sampled_from(INVITES)), uri=uri, call_id=call_id,
                          cseq=d.draw(st.sampled_from((1, self.cseq))), to_tag="")
        fixture = d.draw(st.sampled_from(IN_DIALOG))
        if len(self.tags) > 0 and d.draw(st.integers(0, 4)) > 0:  # mostly in a live dialog, with its tag
            call_id = d.draw(st.sampled_from(sorted(self.tags)))
            tag = self.tags[call_id]
        else:
            tag = "not-our-tag"
        if fixture.startswith("reinvite"):
            return render(fixture, uri=self.uris.get(call_id, URIS[0]), call_id=call_id, cseq=self.cseq,
                          to_tag=f";tag={tag}")
        cseq = 1 if fixture == "ack.sip" and d.draw(st.booleans()) else self.cseq
        return render(fixture, call_id=call_id, cseq=cseq, to_tag=tag)

    def step(self) -> None:
        d, driver = self.draw, self.driver
        op = d.draw(st.sampled_from(("sip", "sip", "mutated", "garbage", "rtp", "rtp_bytes", "timer")))
        if op in ("sip", "mutated", "garbage"):
            if op == "garbage":
                data = d.draw(st.binary(max_size=400))
            else:
                data = self.valid_datagram()
                if op == "mutated":
                    data = _mutate(data, d)
            self._note(driver.send(data, d.draw(st.sampled_from(SOURCES))))  # parses every output
        elif op in ("rtp", "rtp_bytes"):
            live = sorted(driver.ports.live)
            on_live = len(live) > 0 and d.draw(st.booleans())
            port = d.draw(st.sampled_from(live)) if on_live else d.draw(st.integers(1, 65535))
            if op == "rtp":
                data = rtp_packet(d.draw(st.integers(0, 0xFFFF)), d.draw(st.integers(0, 0xFFFFFFFF)),
                                  pt=d.draw(st.sampled_from((0, 8, 13, 101, 127))),
                                  ssrc=d.draw(st.sampled_from((1, 2, 0xFFFFFFFF))),
                                  payload=d.draw(st.one_of(st.none(), st.binary(max_size=400))),
                                  marker=d.draw(st.booleans()))
            else:
                data = d.draw(st.binary(max_size=300))
            driver.core.receive_rtp(port, data, MS, driver.now)
            event("rtp on a live port" if port in live else "rtp on an unknown port")
        else:
            driver.advance(d.draw(st.sampled_from((0.0, 0.02, 0.2, 1.0, 5.0, 33.0))))
            self._note(driver.responses())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), steps=st.integers(1, 40), port_limit=st.sampled_from((None, 3)))
def test_core_never_raises_and_only_sends_parseable_responses(
    data: st.DataObject, steps: int, port_limit: int | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        driver = Driver(Path(tmp) / "rec", capacity=2, ports=FakePorts(limit=port_limit))
        fuzzer = _Fuzzer(driver, data)
        for _ in range(steps):
            fuzzer.step()
            assert driver.ports.bad_releases == []
            # A port is bound exactly while a live stream listens on it: nothing leaked, nothing
            # routed to a released port (white-box: the core's port -> stream table).
            assert driver.ports.live == set(driver.core._streams_by_port)
            if driver.core.active_sessions == 0:
                assert driver.ports.live == set()
        driver.core.close(driver.now + 1.0)
        driver.run_storage()  # the adapter finalises what close() handed out
        driver.responses()  # whatever close() queued must parse too
        assert driver.ports.live == set() and driver.ports.bad_releases == []
        root = Path(tmp) / "rec"
        assert all(doc["complete"] for doc in driver.documents())
        for path in Path(tmp).rglob("*"):
            assert path.resolve().is_relative_to(root.resolve()), path

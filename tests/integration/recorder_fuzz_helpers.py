"""Helpers for the robustness tests and the ingest benchmark of the running reference recorder.

Complements `tests.integration.recorder_harness` (which starts the recorder and drives legs):
a stderr drain (the harness pipes the recorder's stderr; a chatty run would fill the 64 KiB
pipe and block the recorder), OPTIONS liveness pings matched by Call-ID, hypothesis strategies
that mutate valid datagrams, and clean-up of any session a mutated INVITE managed to open.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
from collections.abc import Sequence

from hypothesis import strategies as st

from harness.protocol.sip.message import SipParseError, SipResponse, parse_message

_ping_ids = itertools.count(1)


def options_bytes(local: tuple[str, int], call_id: str, cseq: int = 1) -> bytes:
    """An out-of-dialog OPTIONS like Resource Manager's liveness ping (GVP-Scale)."""
    return (f"OPTIONS sip:recorder@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK-{call_id}-{cseq};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:rm@{local[0]}>;tag=rm-{call_id}\r\nTo: <sip:recorder@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} OPTIONS\r\nAccept: application/sdp\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def ping(sock: socket.socket, recorder: tuple[str, int], timeout: float = 2.0) -> SipResponse | None:
    """Send OPTIONS from `sock`; its final response, or None if none came within `timeout`.

    Matching is by a fresh Call-ID, so late answers to earlier (fuzzed) datagrams are skipped.
    """
    call_id = f"ping-{next(_ping_ids)}-{time.monotonic_ns()}"
    sock.sendto(options_bytes(sock.getsockname()[:2], call_id), recorder)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return None
        with contextlib.suppress(SipParseError):
            message = parse_message(data)
            if isinstance(message, SipResponse) and message.call_id == call_id and message.status >= 200:
                return message
    return None


def drain(sock: socket.socket, wait: float = 0.0) -> list[bytes]:
    """Every datagram waiting on `sock` (after up to `wait` seconds for the first one)."""
    out: list[bytes] = []
    sock.settimeout(wait)  # 0: non-blocking
    try:
        while True:
            data, _ = sock.recvfrom(65535)
            out.append(data)
            sock.settimeout(0)
    except (BlockingIOError, TimeoutError):
        pass
    return out


def hang_up_accepted(datagrams: Sequence[bytes], sock: socket.socket, recorder: tuple[str, int]) -> int:
    """ACK + BYE every 2xx-to-INVITE among `datagrams` (a fuzzed INVITE may be a valid one).

    The ACK and BYE copy From/To/Call-ID from the response (RFC 3261 §13.2.2.4, §15.1.1), so
    whatever dialog the recorder built, it is ended and its RTP ports go back to the pool.
    """
    local = sock.getsockname()[:2]
    done: set[str] = set()
    for data in datagrams:
        try:
            message = parse_message(data)
        except SipParseError:
            continue
        if not (isinstance(message, SipResponse) and 200 <= message.status < 300
                and message.cseq.method == "INVITE" and message.call_id not in done):
            continue
        done.add(message.call_id)
        headers = message.headers
        common = (f"From: {headers.get('From')}\r\nTo: {headers.get('To')}\r\nCall-ID: {message.call_id}\r\n"
                  f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        target = f"sip:recorder@{recorder[0]}:{recorder[1]}"
        n = message.cseq.number
        sock.sendto((f"ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK-a{n}-"
                     f"{len(done)};rport\r\nCSeq: {n} ACK\r\n" + common).encode(), recorder)
        sock.sendto((f"BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK-b{n}-"
                     f"{len(done)};rport\r\nCSeq: {n + 1} BYE\r\n" + common).encode(), recorder)
    return len(done)


# -- hypothesis strategies --------------------------------------------------------------------------
_SPLICES = (b"Content-Length: 99999", b"Content-Length: -1", b"Content-Length: 0", b"CSeq: 1 BYE",
            b"CSeq: 99999999999 INVITE", b"Require: siprec", b"Via: SIP/2.0/UDP", b"Call-ID:",
            b"To: <tel:+15551234>", b"Content-Type: multipart/mixed;boundary=x", b"Max-Forwards: 0",
            b"m=audio 0 RTP/AVP 0", b"m=video 9 RTP/AVP 96", b"c=IN IP4 0.0.0.0", b"a=inactive",
            b"\xff\xfe\x00", b"X" * 300, b" folded continuation", b"\t", b"")


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """One mutation of `base`: truncation, bit flips, inserted bytes, dropped/duplicated/spliced
    lines, LF-only line ends, or the datagram repeated back to back."""
    kind = draw(st.sampled_from(("truncate", "flip", "insert", "drop_line", "dup_line", "splice", "lf_only",
                                 "doubled", "as_is")))
    pos = draw(st.integers(0, max(0, len(base) - 1)))
    if kind == "truncate":
        return base[:pos]
    if kind == "flip":
        flips = draw(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(1, 255)), min_size=1,
                              max_size=4))
        out = bytearray(base)
        for at, mask in flips:
            out[at] ^= mask
        return bytes(out)
    if kind == "insert":
        return base[:pos] + draw(st.binary(min_size=1, max_size=32)) + base[pos:]
    if kind == "lf_only":
        return base.replace(b"\r\n", b"\n")
    if kind == "doubled":
        return base + base
    if kind == "as_is":
        return base
    lines = base.split(b"\r\n")
    index = draw(st.integers(0, len(lines) - 1))
    if kind == "drop_line":
        return b"\r\n".join(lines[:index] + lines[index + 1:])
    if kind == "dup_line":
        return b"\r\n".join(lines[:index + 1] + lines[index:])
    return b"\r\n".join(lines[:index] + [draw(st.sampled_from(_SPLICES))] + lines[index:])


def fuzz_datagrams(bases: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Mutated copies of `bases`, plus raw garbage, empty datagrams and oversize ones."""
    return st.one_of(
        st.sampled_from(bases).flatmap(mutated),
        st.binary(max_size=600),
        st.just(b"\r\n\r\n"),  # RFC 5626 §3.5.1 keep-alive style CRLFs
        st.integers(1, 4).map(lambda k: b"INVITE sip:a@b SIP/2.0\r\n" + b"X-Pad: " + b"y" * (15000 * k)),
    )

"""Benchmark: RTP packets/s the running reference recorder ingests before it loses any.

Starts `python -m reference_recorder` as a subprocess, then for each aggregate rate (default
2k, 5k, 10k, 15k, 20k, 30k, 40k pps) opens N two-stream calls (two per-party UDP recording
sessions each, the GVP-MSRec INVITE of tests/integration/recorder_harness), sends time-coded
G.711 RTP to every answered port for a few seconds, waits until the recorder has read what is
queued on its sockets, BYEs every session and reads each stream's ``rtp_stats`` (packets,
lost) from ``recording.json``.

Two verdicts per level, because the recorder's 4 MiB socket buffers hide overload for a while:
* ``loss_free``: every stream received every packet sent to it (``packets == sent``,
  ``lost == 0``, no kernel drops) once the recorder was given time to drain;
* ``real_time``: loss_free and the backlog left after the last packet was at most the
  recorder's after-BYE grace (``RecorderConfig.bye_grace_s``), i.e. nothing would have been lost
  had Media Server sent its BYE right after its last packet, as it does. The headline
  ``max_loss_free_pps`` uses this one; the run stops at the first level that misses it.

Streams run at 50 pps (20 ms) until the call count reaches --max-calls; above that the
packetisation interval shrinks (10 ms, 5 ms ...) so timestamps stay real-time consistent. The
sender pre-builds every datagram and sends in 2 ms batches from one thread (docs/tooling.md:
plain sendto manages ~150k pps). Recorder CPU is read from /proc/<pid>/stat (utime + stime);
queue length and kernel drops from the ``rx_queue`` / ``drops`` columns of /proc/net/udp.

Writes bench/results/recorder_ingest.json. Not a test: numbers depend on the machine and its
load. Run from the repo root:

    .venv/bin/python bench/bench_recorder_ingest.py [--rates 2000,5000,...] [--seconds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.media.rtp_source import RtpStreamSource  # noqa: E402
from harness.media.timecode import MAX_STREAMS  # noqa: E402
from harness.protocol.sdp import parse_sdp  # noqa: E402
from harness.protocol.sip.message import SipParseError, SipResponse, parse_message  # noqa: E402
from harness.recorders.launcher import stop_process  # noqa: E402
from reference_recorder.core import RecorderConfig  # noqa: E402
from tests.integration.recorder_harness import free_udp_port, in_dialog_bytes, invite_bytes  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
BATCH_S = 0.002
BASE_PTIME_MS = 20
# The recorder's default after-BYE grace.
BYE_GRACE_S = RecorderConfig(recordings_root=Path(), sip_address=("127.0.0.1", 0), media_address="127.0.0.1").bye_grace_s
TIMECODE_STREAMS = MAX_STREAMS  # distinct time-code signals; further streams reuse them with their own SSRC


# -- the recorder process ------------------------------------------------------------------------
@dataclass
class Recorder:
    process: subprocess.Popen[str]
    address: tuple[str, int]
    root: Path
    rtp_range: tuple[int, int]
    log: list[str] = field(default_factory=list)

    def _stat(self) -> list[str]:
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces

    def cpu_seconds(self) -> float:
        """utime + stime of the recorder process (proc(5): fields 14 and 15, in clock ticks)."""
        fields = self._stat()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def runqueue_wait_seconds(self) -> float:
        """Time the recorder was runnable but waiting for a CPU (/proc/<pid>/schedstat, field 2)."""
        return int(Path(f"/proc/{self.process.pid}/schedstat").read_text().split()[1]) / 1e9

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def udp_counters(self) -> tuple[int, int]:
        """(bytes waiting in receive queues, kernel drops) over the recorder's RTP ports.

        From /proc/net/udp (``rx_queue`` and ``drops`` columns); a datagram dropped because the
        socket's receive buffer was full is counted in ``drops``.
        """
        low, high = self.rtp_range
        queued = drops = 0
        with contextlib.suppress(OSError):
            for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
                parts = line.split()
                port = int(parts[1].split(":")[1], 16)
                if low <= port <= high:
                    queued += int(parts[4].split(":")[1], 16)
                    drops += int(parts[-1])
        return queued, drops

    def wait_drained(self, timeout: float) -> float:
        """Seconds until the recorder has read every queued RTP datagram (None -> timeout)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.udp_counters()[0] == 0:
                return time.monotonic() - start
            time.sleep(0.01)
        return timeout


@contextlib.contextmanager
def start_recorder(root: Path, capacity: int, ports_needed: int, profile: str | None = None) -> Iterator[Recorder]:
    for _attempt in range(5):
        port = free_udp_port()
        low = random.randrange(20000, 60000 - 2 * ports_needed - 10, 2)
        high = low + 2 * ports_needed + 8
        # --profile-recorder: the recorder's event loop under cProfile (written when it exits on SIGTERM).
        prefix = ["-m", "cProfile", "-o", profile] if profile else []
        cmd = [sys.executable, *prefix, "-m", "reference_recorder", "--listen", f"127.0.0.1:{port}",
               "--recordings", str(root), "--capacity", str(capacity), "--rtp-ports", f"{low}-{high}"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None and proc.stderr is not None
        if proc.stdout.readline().startswith("ready"):
            break
        proc.wait(5)
    else:
        raise SystemExit("recorder did not start")
    recorder = Recorder(proc, ("127.0.0.1", port), root, (low, high))
    stderr = proc.stderr

    def drain() -> None:  # a full stderr pipe would block the recorder
        with contextlib.suppress(ValueError, OSError):
            for line in stderr:
                recorder.log.append(line.rstrip())

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield recorder
    finally:
        stop_process(proc)


# -- the peer: a bare socket sink on the same ports, same machine, same run ------------------------
_SINK = r"""
import selectors, socket, sys
low, high = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
socks = []
for port in range(low, high + 1, 2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # as the recorder's
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    socks.append(s)
sel.register(sys.stdin, selectors.EVENT_READ)
print("ready", flush=True)
received = 0
while True:
    for key, _ in sel.select():
        if key.fileobj is sys.stdin:
            if not sys.stdin.readline():
                sys.exit(0)
            print(received, flush=True)
            continue
        recv = key.fileobj.recv
        try:
            while True:
                recv(2048)
                received += 1
        except BlockingIOError:
            pass
"""


@dataclass
class Sink(Recorder):
    """A selectors loop that only counts datagrams: the most a Python process on this machine
    reads (the physical limit the recorder is compared with)."""

    def received(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())


@contextlib.contextmanager
def start_sink(ports_needed: int) -> Iterator[Sink]:
    for _attempt in range(5):  # a random range: another process may hold one of its ports
        low = random.randrange(20000, 60000 - 2 * ports_needed - 10, 2)
        high = low + 2 * ports_needed - 2
        proc = subprocess.Popen([sys.executable, "-c", _SINK, str(low), str(high)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        if proc.stdout.readline().startswith("ready"):
            break
        proc.wait(5)
    else:
        raise SystemExit("sink did not start")
    try:
        yield Sink(proc, ("127.0.0.1", 0), Path(), (low, high))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(5)


def run_sink_level(sink: Sink, rate: int, seconds: float, max_calls: int) -> dict[str, Any]:
    """The recorder's level (same streams, same schedule) against the bare sink."""
    ptime_ms = BASE_PTIME_MS
    while ptime_ms > 1 and 2 * max_calls * 1000 / ptime_ms < rate:
        ptime_ms //= 2
    per_stream = 1000 / ptime_ms
    calls = max(1, min(max_calls, round(rate / (2 * per_stream))))
    low = sink.rtp_range[0]
    sessions = [Session(f"sink-{i}", "", "", low + 2 * i, "") for i in range(2 * calls)]
    schedule = build_schedule(sessions, "127.0.0.1", per_stream, seconds, ptime_ms)
    before, drops0, cpu0 = sink.received(), sink.udp_counters()[1], sink.cpu_seconds()
    wall0 = time.monotonic()
    sent, elapsed, send_errors = blast(schedule)
    backlog_s = sink.wait_drained(timeout=20.0)
    cpu, wall = sink.cpu_seconds() - cpu0, time.monotonic() - wall0
    received = sink.received() - before
    drops = sink.udp_counters()[1] - drops0
    loss_free = received == sent and send_errors == 0 and drops == 0
    return {"target_pps": rate, "streams": len(sessions), "sent": sent, "received": received,
            "achieved_pps": round(sent / elapsed, 1) if elapsed else None, "kernel_udp_drops": drops,
            "backlog_after_last_packet_s": round(backlog_s, 3),
            "processed_pps": round(received / (elapsed + backlog_s), 1) if received else 0.0,
            "sink_cpu_percent": round(100 * cpu / wall, 1), "loss_free": loss_free,
            "real_time": loss_free and backlog_s <= BYE_GRACE_S}


# -- SIP: open and close the recording sessions ------------------------------------------------------
@dataclass
class Session:
    call_id: str
    uri: str
    to_tag: str
    rtp_port: int
    calluuid: str


class Signalling:
    """One UDP socket playing Media Server for every session; requests one at a time."""

    def __init__(self, recorder: tuple[str, int]) -> None:
        self.recorder = recorder
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.local: tuple[str, int] = self.sock.getsockname()

    def _final(self, call_id: str, method: str, timeout: float = 5.0) -> SipResponse:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            data, _ = self.sock.recvfrom(65535)
            with contextlib.suppress(SipParseError):
                msg = parse_message(data)
                if (isinstance(msg, SipResponse) and msg.call_id == call_id and msg.cseq.method == method
                        and msg.status >= 200):
                    return msg
        raise TimeoutError(f"no final response to {method} {call_id}")

    def open(self, call_id: str, calluuid: str, dn: str) -> Session:
        uri = f"sip:record=BENCH@127.0.0.1:{self.recorder[1]};calluuid={calluuid};dn={dn};recordDN=7001"
        invite = invite_bytes(call_id=call_id, uri=uri, local=self.local, media_port=40000)
        for attempt in range(3):  # retransmitted as timer A would (RFC 3261 §17.1.1.2): a busy host loses one
            self.sock.sendto(invite, self.recorder)
            try:
                ok = self._final(call_id, "INVITE")
                break
            except TimeoutError:
                if attempt == 2:
                    raise
        if ok.status != 200:
            raise RuntimeError(f"INVITE {call_id}: {ok.status} {ok.reason}")
        tag = ok.to.tag or ""
        self.sock.sendto(in_dialog_bytes("ACK", call_id=call_id, uri=uri, local=self.local, to_tag=tag, cseq=1),
                         self.recorder)
        return Session(call_id, uri, tag, parse_sdp(ok.body).media[0].port, calluuid)

    def close(self, session: Session) -> None:
        self.sock.sendto(in_dialog_bytes("BYE", call_id=session.call_id, uri=session.uri, local=self.local,
                                         to_tag=session.to_tag, cseq=2), self.recorder)
        self._final(session.call_id, "BYE")


# -- RTP: pre-built, time-ordered datagrams ------------------------------------------------------------
def build_schedule(sessions: list[Session], host: str, pps: float, seconds: float,
                   ptime_ms: int) -> list[tuple[float, bytes, tuple[str, int]]]:
    """(offset, datagram, destination) for every packet, sorted by offset; phases spread over
    one packet interval (independent calls start at unrelated moments)."""
    period = 1.0 / pps
    count = int(seconds * pps)
    sources = [RtpStreamSource.create(i, "PCMU", ptime_ms=ptime_ms, rng=i) for i in range(TIMECODE_STREAMS)]
    payloads = [[src.payload(n) for n in range(count)] for src in sources]
    spp = sources[0].samples_per_packet
    schedule: list[tuple[float, bytes, tuple[str, int]]] = []
    rng = random.Random(7)
    for s, session in enumerate(sessions):
        ssrc, seq0, ts0 = rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32)
        phase = period * s / len(sessions)
        dest = (host, session.rtp_port)
        stream_payloads = payloads[s % TIMECODE_STREAMS]
        for n in range(count):
            header = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, (seq0 + n) & 0xFFFF,
                                 (ts0 + n * spp) & 0xFFFFFFFF, ssrc)
            schedule.append((phase + n * period, header + stream_payloads[n], dest))
    schedule.sort(key=lambda item: item[0])
    return schedule


def blast(schedule: list[tuple[float, bytes, tuple[str, int]]]) -> tuple[int, float, int]:
    """Send on time in BATCH_S batches; returns (sent, seconds, send errors)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sendto = sock.sendto
    errors = sent = 0
    t0 = time.monotonic() + 0.05
    i, total = 0, len(schedule)
    while i < total:
        now = time.monotonic() - t0
        if schedule[i][0] > now:
            time.sleep(min(BATCH_S, schedule[i][0] - now))
            continue
        horizon = now + BATCH_S
        while i < total and schedule[i][0] <= horizon:
            _, data, dest = schedule[i]
            try:
                sendto(data, dest)
                sent += 1
            except OSError:  # ENOBUFS on a saturated loopback: counted, not retried
                errors += 1
            i += 1
    elapsed = time.monotonic() - t0
    sock.close()
    return sent, elapsed, errors


# -- one level -------------------------------------------------------------------------------------
def read_stats(root: Path, calluuids: list[str], timeout: float) -> dict[str, list[dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    docs: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        for calluuid in calluuids:
            if calluuid in docs:
                continue
            path = root / calluuid / "BENCH" / "recording.json"
            with contextlib.suppress(OSError, ValueError):
                doc = json.loads(path.read_text())
                if doc.get("complete"):
                    docs[calluuid] = doc["streams"]
        if len(docs) == len(calluuids):
            break
        time.sleep(0.1)
    return docs


def run_level(recorder: Recorder, level: int, rate: int, seconds: float, max_calls: int) -> dict[str, Any]:
    # 50 pps per stream until --max-calls calls would be needed, then shorter packets (10, 5 ms ...)
    # so that fewer calls carry the rate and timestamps stay real-time consistent.
    ptime_ms = BASE_PTIME_MS
    while ptime_ms > 1 and 2 * max_calls * 1000 / ptime_ms < rate:
        ptime_ms //= 2
    per_stream = 1000 / ptime_ms
    calls = max(1, min(max_calls, round(rate / (2 * per_stream))))
    sig = Signalling(recorder.address)
    sessions: list[Session] = []
    for c in range(calls):
        calluuid = f"BENCH{level:02d}CALL{c:04d}".ljust(32, "0")
        for dn in ("5551234", "7001"):
            sessions.append(sig.open(f"bench-{level}-{c}-{dn}", calluuid, dn))
    schedule = build_schedule(sessions, recorder.address[0], per_stream, seconds, ptime_ms)
    drops0, cpu0, wait0 = recorder.udp_counters()[1], recorder.cpu_seconds(), recorder.runqueue_wait_seconds()
    wall0 = time.monotonic()
    sent, elapsed, send_errors = blast(schedule)
    # Wait until the recorder has read every queued datagram before the BYEs: the level then
    # measures throughput, and the backlog is reported apart (see the module docstring).
    backlog_s = recorder.wait_drained(timeout=20.0)
    cpu = recorder.cpu_seconds() - cpu0
    starved = recorder.runqueue_wait_seconds() - wait0
    wall = time.monotonic() - wall0
    drops = recorder.udp_counters()[1] - drops0
    for session in sessions:
        sig.close(session)
    sig.sock.close()
    docs = read_stats(recorder.root, sorted({s.calluuid for s in sessions}), timeout=15.0)
    per_stream_sent = sent // len(sessions) if not send_errors else None
    received = lost = 0
    short = 0
    for streams in docs.values():
        for stream in streams:
            stats = stream["rtp_stats"]
            received += stats.get("packets", 0)
            lost += max(0, stats.get("lost", 0))
            if per_stream_sent is not None and stats.get("packets", 0) < per_stream_sent:
                short += 1
    missing = sent - received
    return {
        "target_pps": rate,
        "calls": calls,
        "streams": len(sessions),
        "ptime_ms": ptime_ms,
        "pps_per_stream": per_stream,
        "seconds": seconds,
        "sent": sent,
        "send_errors": send_errors,
        "achieved_pps": round(sent / elapsed, 1) if elapsed else None,
        "received": received,
        "missing": missing,
        "rtp_lost": lost,
        "streams_short": short,
        "recordings_read": len(docs),
        "kernel_udp_drops": drops,
        "backlog_after_last_packet_s": round(backlog_s, 3),
        "processed_pps": round(received / (elapsed + backlog_s), 1) if received else 0.0,
        "recorder_cpu_percent": round(100 * cpu / wall, 1),
        # Runnable but not running (other processes on the CPUs, e.g. the sender itself).
        "recorder_runqueue_wait_percent": round(100 * starved / wall, 1),
        "recorder_rss_mib": round(recorder.rss_mib(), 1),
        "loss_free": (loss_free := missing == 0 and lost == 0 and send_errors == 0 and len(docs) == calls),
        # Nothing would have been lost had Media Server sent its BYE right after the last packet:
        # the recorder still takes RTP for `bye_grace_s` after a BYE (reference_recorder.core).
        "real_time": loss_free and backlog_s <= BYE_GRACE_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="2000,5000,10000,15000,20000,30000,40000",
                        help="aggregate packet rates to try, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="blast length per rate")
    parser.add_argument("--max-calls", type=int, default=200, help="two-stream calls per level at most")
    parser.add_argument("--keep-going", action="store_true", help="try every rate even after a lossy one")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "recorder_ingest.json"))
    parser.add_argument("--no-peer", action="store_true", help="skip the bare socket sink at each rate")
    parser.add_argument("--profile-recorder", metavar="FILE", help="run the recorder under cProfile, stats to FILE")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    started = time.monotonic()
    levels: list[dict[str, Any]] = []
    peer: list[dict[str, Any]] = []
    peer_done = args.no_peer
    with (tempfile.TemporaryDirectory(prefix="arec-bench-") as tmp,
          start_recorder(Path(tmp) / "rec", capacity=4 * args.max_calls, ports_needed=4 * args.max_calls,
                         profile=args.profile_recorder) as rec,
          start_sink(2 * args.max_calls) as sink):
        recorder_done = False
        for level, rate in enumerate(rates):
            if recorder_done and peer_done:
                break
            if not peer_done:  # the peer at the same rate, right before the recorder (same machine load)
                peer.append(run_sink_level(sink, rate, args.seconds, args.max_calls))
                print(f"{rate:>6} pps target, bare sink: received {peer[-1]['received']} of {peer[-1]['sent']}, "
                      f"backlog {peer[-1]['backlog_after_last_packet_s']} s, CPU {peer[-1]['sink_cpu_percent']}%"
                      f" -> {'OK' if peer[-1]['real_time'] else 'LOSS'}", flush=True)
                peer_done = not peer[-1]["real_time"] and not args.keep_going
            if recorder_done:
                continue
            result = run_level(rec, level, rate, args.seconds, args.max_calls)
            levels.append(result)
            print(f"{rate:>6} pps target: sent {result['sent']} ({result['achieved_pps']} pps) to "
                  f"{result['streams']} streams, received {result['received']}, lost {result['rtp_lost']}, "
                  f"kernel drops {result['kernel_udp_drops']}, backlog {result['backlog_after_last_packet_s']} s, "
                  f"recorder CPU {result['recorder_cpu_percent']}% (waiting for a CPU "
                  f"{result['recorder_runqueue_wait_percent']}%)"
                  f" -> {'OK' if result['real_time'] else 'LOSS' if not result['loss_free'] else 'BEHIND'}",
                  flush=True)
            recorder_done = not result["real_time"] and not args.keep_going
        errors = [line for line in rec.log if "Traceback" in line or "unexpected error" in line]
    real_time = [lv for lv in levels if lv["real_time"]]
    drained = [lv for lv in levels if lv["loss_free"]]
    result_doc = {
        "benchmark": "recorder_ingest",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        # Headline: highest aggregate rate with zero loss even with BYE right after the last packet.
        "max_loss_free_pps": max((lv["target_pps"] for lv in real_time), default=None),
        # Lenient: zero loss when the recorder is given time to empty its 4 MiB socket buffers.
        "max_loss_free_pps_with_drain": max((lv["target_pps"] for lv in drained), default=None),
        "max_processed_pps": max((lv["processed_pps"] for lv in levels), default=None),
        "levels": levels,
        # The peer: a bare selectors socket sink on as many ports, same schedule, same run.
        "peer_bare_sink_max_real_time_pps": max((lv["target_pps"] for lv in peer if lv["real_time"]), default=None),
        "peer_bare_sink": peer,
        "recorder_errors_logged": len(errors),
        "total_seconds": round(time.monotonic() - started, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rmem_max": int(Path("/proc/sys/net/core/rmem_max").read_text()),
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result_doc, indent=2) + "\n")
    print(f"highest loss-free rate: {result_doc['max_loss_free_pps']} pps "
          f"(with drain: {result_doc['max_loss_free_pps_with_drain']}); wrote {out}")


if __name__ == "__main__":
    main()

"""The running reference recorder over real UDP/TCP sockets (issue 2 'Done when').

A plain Python UAC plays Media Server: two recording INVITEs of one call, ACKs, time-coded
RTP on each answered port, BYEs; then the WAV contents and recording.json are checked with
the audio time-code oracle.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from harness.media.rtp_source import RtpStreamSource
from harness.media.timecode import SEGMENT_SAMPLES, decode_timecode
from harness.protocol.sdp import parse_sdp
from harness.protocol.sip.message import SipResponse, StreamFramer, parse_message
from tests.integration.recorder_harness import (
    UdpLeg,
    answered_port,
    in_dialog_bytes,
    invite_bytes,
    reference_recorder,
)

pytestmark = pytest.mark.integration

CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
PACKETS = 100  # 2 s at 20 ms


def _uri(port: int, dn: str, record_id: str = "0A1B2C3D", calluuid: str = CALLUUID, extra: str = "") -> str:
    return f"sip:record={record_id}@127.0.0.1:{port};calluuid={calluuid};dn={dn};recordDN=7001{extra}"


def _establish(leg: UdpLeg, call_id: str, uri: str, codec: str = "PCMU") -> tuple[str, int]:
    leg.send(invite_bytes(call_id=call_id, uri=uri, local=leg.local, media_port=40000, codec=codec))
    ok = leg.final_response()
    assert ok.status == 200, (ok.status, ok.reason)
    to_tag = ok.to.tag
    assert to_tag
    leg.send(in_dialog_bytes("ACK", call_id=call_id, uri=uri, local=leg.local, to_tag=to_tag, cseq=1))
    return to_tag, answered_port(ok)


def _send_rtp(streams: list[tuple[RtpStreamSource, socket.socket, tuple[str, int]]], packets: int) -> None:
    start = time.monotonic()
    for n in range(packets):
        for source, sock, dest in streams:
            sock.sendto(source.packet(n), dest)
        delay = start + (n + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _decoded_streams(samples: np.ndarray) -> dict[int, list[int]]:
    track = decode_timecode(samples)
    return {s: list(track.counters_of(s)) for s in track.streams_present()}


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_two_sessions_of_one_call_are_recorded_into_the_right_channels(tmp_path: Path, codec: str) -> None:
    with reference_recorder(tmp_path / "rec") as recorder:
        legs = {dn: UdpLeg((recorder.host, recorder.port)) for dn in ("5551234", "7001")}
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            streams, tags = [], {}
            for index, (dn, leg) in enumerate(legs.items()):
                uri = _uri(recorder.port, dn)
                tags[dn], port = _establish(leg, f"call-{dn}", uri, codec)
                streams.append((RtpStreamSource.create(index, codec, rng=index), rtp, (recorder.host, port)))
            _send_rtp(streams, PACKETS)
            for dn, leg in legs.items():
                leg.send(in_dialog_bytes("BYE", call_id=f"call-{dn}", uri=_uri(recorder.port, dn),
                                         local=leg.local, to_tag=tags[dn], cseq=2))
                assert leg.final_response("BYE").status == 200
            (doc,) = recorder.wait_complete(1)
        finally:
            rtp.close()
            for leg in legs.values():
                leg.close()

    (directory,) = recorder.recording_dirs()
    assert directory == (tmp_path / "rec" / CALLUUID / "0A1B2C3D").resolve()
    assert doc["calluuid"] == CALLUUID and doc["record_id"] == "0A1B2C3D" and doc["complete"] is True
    channels = {c["dn"]: c["index"] for c in doc["channels"]}  # type: ignore[union-attr,index]
    assert channels == {"5551234": 0, "7001": 1}

    stereo, rate = soundfile.read(directory / "call-stereo.wav", dtype="int16")
    assert rate == 8000 and stereo.shape[1] == 2
    # 2 s of audio in 200 ms segments: the oracle finds ~10 whole segments per channel (the
    # first/last may be cut by the start and end of the file), in order, of the right stream.
    expected_segments = PACKETS * 160 // SEGMENT_SAMPLES
    for dn, stream_index in (("5551234", 0), ("7001", 1)):
        decoded = _decoded_streams(stereo[:, channels[dn]])
        assert set(decoded) == {stream_index}, f"channel of {dn} holds streams {set(decoded)}"
        counters = decoded[stream_index]
        assert counters == sorted(counters) and len(counters) >= expected_segments - 1
        mono_files = list(directory.glob(f"stream-*-{dn}.wav"))
        assert len(mono_files) == 1
        mono, _ = soundfile.read(mono_files[0], dtype="int16")
        assert set(_decoded_streams(mono)) == {stream_index}
    stats = {s["dn"]: s for s in doc["streams"]}  # type: ignore[union-attr,index]
    for dn in channels:
        assert stats[dn]["codec"] == codec
        assert stats[dn]["rtp_stats"]["packets"] == PACKETS and stats[dn]["rtp_stats"]["lost"] == 0


def test_single_session_with_two_m_lines_records_both_streams(tmp_path: Path) -> None:
    with reference_recorder(tmp_path / "rec") as recorder:
        leg = UdpLeg((recorder.host, recorder.port))
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        uri = _uri(recorder.port, "5551234", extra=";otherDN=7001")
        second = ("m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendonly\r\n")
        leg.send(invite_bytes(call_id="single", uri=uri, local=leg.local, media_port=40000, extra_media=second))
        ok = leg.final_response()
        assert ok.status == 200
        answer = parse_sdp(ok.body)
        assert [m.direction(answer) for m in answer.media] == ["recvonly", "recvonly"]
        ports = [m.port for m in answer.media]
        assert ports[0] != ports[1] and 0 not in ports
        leg.send(in_dialog_bytes("ACK", call_id="single", uri=uri, local=leg.local, to_tag=ok.to.tag or "", cseq=1))
        _send_rtp([(RtpStreamSource.create(i, "PCMU", rng=i), rtp, (recorder.host, ports[i])) for i in (0, 1)], 50)
        leg.send(in_dialog_bytes("BYE", call_id="single", uri=uri, local=leg.local, to_tag=ok.to.tag or "", cseq=2))
        assert leg.final_response("BYE").status == 200
        (doc,) = recorder.wait_complete(1)
        rtp.close()
        leg.close()
    channels = {c["dn"]: c["index"] for c in doc["channels"]}  # type: ignore[union-attr,index]
    assert channels == {"5551234": 0, "7001": 1}
    (directory,) = recorder.recording_dirs()
    stereo, _ = soundfile.read(directory / "call-stereo.wav", dtype="int16")
    assert set(_decoded_streams(stereo[:, 0])) == {0}
    assert set(_decoded_streams(stereo[:, 1])) == {1}


def test_pause_by_reinvite_inactive_writes_silence_for_the_paused_span(tmp_path: Path) -> None:
    with reference_recorder(tmp_path / "rec") as recorder:
        leg = UdpLeg((recorder.host, recorder.port))
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        uri = _uri(recorder.port, "7001")
        tag, port = _establish(leg, "pause", uri)
        source = RtpStreamSource.create(1, "PCMU", rng=3)
        dest = (recorder.host, port)
        _send_rtp([(source, rtp, dest)], 50)  # 1 s
        leg.send(invite_bytes(call_id="pause", uri=uri, local=leg.local, media_port=40000,
                              direction="inactive", cseq=2, to_tag=tag, version=2))
        paused = leg.final_response()
        assert paused.status == 200 and parse_sdp(paused.body).media[0].port == port
        leg.send(in_dialog_bytes("ACK", call_id="pause", uri=uri, local=leg.local, to_tag=tag, cseq=2))
        # Audio that keeps arriving while paused must not be recorded (PCI).
        for n in range(50, 100):
            rtp.sendto(source.packet(n), dest)
            time.sleep(0.02)
        leg.send(invite_bytes(call_id="pause", uri=uri, local=leg.local, media_port=40000,
                              direction="sendonly", cseq=3, to_tag=tag, version=3))
        assert leg.final_response().status == 200
        leg.send(in_dialog_bytes("ACK", call_id="pause", uri=uri, local=leg.local, to_tag=tag, cseq=3))
        for n in range(100, 150):
            rtp.sendto(source.packet(n), dest)
            time.sleep(0.02)
        leg.send(in_dialog_bytes("BYE", call_id="pause", uri=uri, local=leg.local, to_tag=tag, cseq=4))
        assert leg.final_response("BYE").status == 200
        (doc,) = recorder.wait_complete(1)
        rtp.close()
        leg.close()
    (directory,) = recorder.recording_dirs()
    (mono_file,) = directory.glob("stream-*.wav")
    mono, _ = soundfile.read(mono_file, dtype="int16")
    counters = _decoded_streams(mono)[1]
    # Packets 50..99 (segments 5..9) were sent while paused: none of their segments may appear.
    assert all(c < 5 or c >= 10 for c in counters), counters
    assert any(c >= 10 for c in counters) and any(c < 5 for c in counters)
    (pause,) = doc["streams"][0]["pauses"]  # type: ignore[index]
    assert 0.8 < pause["end"] - pause["start"] < 1.5, pause


def test_options_capacity_503_and_codec_488(tmp_path: Path) -> None:
    with reference_recorder(tmp_path / "rec", capacity=1) as recorder:
        leg = UdpLeg((recorder.host, recorder.port))
        leg.send(b"OPTIONS sip:rec@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-opt1\r\n"
                 b"From: <sip:rm@127.0.0.1>;tag=rm\r\nTo: <sip:rec@127.0.0.1>\r\nCall-ID: opt1\r\n"
                 b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (leg.local[0].encode(), leg.local[1]))
        assert leg.final_response("OPTIONS").status == 200
        # G.729 only: nothing we can decode -> 488 (RFC 3261 §21.4.26).
        leg.send(invite_bytes(call_id="g729", uri=_uri(recorder.port, "1"), local=leg.local, media_port=40000,
                              codec="G729"))
        assert leg.final_response().status == 488
        # First session fills the capacity of 1; the second gets 503 + Retry-After.
        _establish(leg, "first", _uri(recorder.port, "5551234"))
        leg.send(invite_bytes(call_id="second", uri=_uri(recorder.port, "7001"), local=leg.local, media_port=40002))
        busy = leg.final_response()
        assert busy.status == 503 and busy.headers.get("Retry-After")
        leg.close()


def test_video_is_refused_with_port_zero_and_audio_accepted(tmp_path: Path) -> None:
    with reference_recorder(tmp_path / "rec") as recorder:
        leg = UdpLeg((recorder.host, recorder.port))
        video = "m=video 40010 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n"
        leg.send(invite_bytes(call_id="av", uri=_uri(recorder.port, "7001"), local=leg.local,
                              media_port=40000, extra_media=video))
        ok = leg.final_response()
        answer = parse_sdp(ok.body)
        assert ok.status == 200
        assert [m.media for m in answer.media] == ["audio", "video"]
        assert answer.media[0].port != 0 and answer.media[1].port == 0
        leg.close()


def test_malformed_input_is_answered_or_dropped_and_service_continues(tmp_path: Path) -> None:
    with reference_recorder(tmp_path / "rec") as recorder:
        leg = UdpLeg((recorder.host, recorder.port))
        leg.send(b"\x00\xff garbage that is not SIP")
        leg.send(b"INVITE sip:record=x@127.0.0.1 SIP/3.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-v\r\n"
                 b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: v3\r\nCSeq: 1 INVITE\r\n"
                 b"Content-Length: 0\r\n\r\n" % (leg.local[0].encode(), leg.local[1]))
        assert leg.final_response().status == 505
        # A hostile calluuid/record id cannot escape the recordings root.
        _establish(leg, "evil", _uri(recorder.port, "7001", record_id="..%2F..%2Fescape", calluuid="..%2F..%2Fetc"))
        assert recorder.process.poll() is None
        _establish(leg, "after", _uri(recorder.port, "5551234"))  # still serving
        leg.close()
    root = (tmp_path / "rec").resolve()
    for path in tmp_path.rglob("*"):
        assert path.resolve().is_relative_to(root) or path.resolve() == root, path
    assert not (tmp_path / "etc").exists() and not (tmp_path / "escape").exists()


def test_tcp_transport(tmp_path: Path) -> None:
    with reference_recorder(tmp_path / "rec", transport="tcp") as recorder:
        sock = socket.create_connection((recorder.host, recorder.port), timeout=5)
        local = sock.getsockname()
        uri = _uri(recorder.port, "7001")
        sock.sendall(invite_bytes(call_id="tcp1", uri=uri, local=local, media_port=40000, transport="TCP"))
        framer = StreamFramer()
        final: SipResponse | None = None
        while final is None:
            for msg in framer.feed(sock.recv(65535)):
                if isinstance(msg, SipResponse) and msg.status >= 200:
                    final = msg
        assert final.status == 200
        tag = final.to.tag or ""
        sock.sendall(in_dialog_bytes("ACK", call_id="tcp1", uri=uri, local=local, to_tag=tag, cseq=1, transport="TCP"))
        sock.sendall(in_dialog_bytes("BYE", call_id="tcp1", uri=uri, local=local, to_tag=tag, cseq=2, transport="TCP"))
        bye_ok = None
        while bye_ok is None:
            for msg in framer.feed(sock.recv(65535)):
                if isinstance(msg, SipResponse) and msg.cseq.method == "BYE":
                    bye_ok = msg
        assert bye_ok.status == 200
        sock.close()
        (doc,) = recorder.wait_complete(1)
        assert json.loads(json.dumps(doc))["complete"] is True


def test_parse_message_is_used_for_replies() -> None:
    # Guard: the helper module speaks our codec (no second SIP parser in tests).
    assert parse_message.__module__ == "harness.protocol.sip.message"


def test_sigkill_mid_call_leaves_playable_wavs_and_valid_json(tmp_path: Path) -> None:
    """Written atomically; a crash leaves playable files holding all but the last checkpoint
    interval (1 s) of the audio received (README "Reliability")."""
    import signal

    with reference_recorder(tmp_path / "rec") as recorder:
        leg = UdpLeg((recorder.host, recorder.port))
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _, port = _establish(leg, "crash", _uri(recorder.port, "7001"))
        _send_rtp([(RtpStreamSource.create(1, "PCMU", rng=7), rtp, (recorder.host, port))], 150)  # 3 s
        sent_until = time.time()
        time.sleep(0.3)
        recorder.process.send_signal(signal.SIGKILL)
        recorder.process.wait(5)
        rtp.close()
        leg.close()
    (directory,) = recorder.recording_dirs()
    doc = json.loads((directory / "recording.json").read_text())  # valid JSON, not complete
    assert doc["complete"] is False and doc["calluuid"] == CALLUUID
    for name in ("call-stereo.wav", "stream-1-7001.wav"):
        audio, rate = soundfile.read(directory / name, dtype="int16", always_2d=True)
        assert rate == 8000
        # README "Reliability": a crash loses at most one checkpoint interval (1 s) of received
        # audio. The WAV covers every packet the JSON says had arrived at the last checkpoint
        # (the jitter window is written as a provisional tail, not held back: before, the
        # files ended 0.5 s short of the JSON's last packet) ...
        on_disk = len(audio) / 8000
        last_packet = max(st["last_packet"] for st in doc["streams"])
        assert on_disk >= last_packet - 0.05, (name, on_disk, last_packet)
        # ... and that checkpoint is at most 1 s older than the kill (0.3 s after the last RTP).
        assert on_disk >= sent_until - doc["t0"] - 1.0, (name, on_disk, sent_until - doc["t0"])
        index = next(c["index"] for c in doc["channels"] if c["dn"] == "7001") if audio.shape[1] == 2 else 0
        channel = audio[:, index]
        decoded = _decoded_streams(channel)
        assert set(decoded) == {1} and len(decoded[1]) >= 5, (name, decoded)

"""harness.conformance.long_call.ssrc_change_sent: feature 12's SSRC change becomes the evidence of
RTP-SSRC-CHANGE-RECORDED's one judge (harness.checks.impaired_media.impaired_recording), so a
recording that drops the new SSRC fails it and a complete one passes."""

from __future__ import annotations

from types import SimpleNamespace

from harness.checks.impaired_media import SEGMENT_SAMPLES, impaired_recording
from harness.checks.long_calls import Crossing, CrossingKind
from harness.conformance.long_call import ssrc_change_sent

DEST = ("127.0.0.1", 40000)


def _active(dn: str = "7001", port: int = 30000) -> SimpleNamespace:
    stream = SimpleNamespace(job=SimpleNamespace(dn=dn), destination=DEST, local_port=port,
                             source=SimpleNamespace(samples_per_packet=160))
    return SimpleNamespace(streams=[stream])


def _sent(packets: int, port: int = 30000) -> list[tuple[float, tuple[str, int], tuple[str, int], bytes]]:
    return [(i * 0.02, ("127.0.0.1", port), DEST, b"") for i in range(packets)]


def test_the_change_segment_is_the_first_affected_and_every_full_segment_is_required() -> None:
    change = Crossing("7001", CrossingKind.SSRC_CHANGE, 60, 1.2)
    (sent,) = ssrc_change_sent(_active(), _sent(150), [change])  # type: ignore[arg-type]
    assert sent.first_affected == {"RTP-SSRC-CHANGE-RECORDED": 6}
    assert sent.required == frozenset(range(15)) - {6}
    full = [(s, 100 + s * SEGMENT_SAMPLES) for s in range(15)]
    assert impaired_recording("RTP-SSRC-CHANGE-RECORDED", sent, full, []) == []
    (dropped,) = impaired_recording("RTP-SSRC-CHANGE-RECORDED", sent, full[:6], [])
    assert dropped.requirement_id == "RTP-SSRC-CHANGE-RECORDED" and "missing segments 7-14" in dropped.message


def test_a_wrap_alone_gives_no_ssrc_evidence() -> None:
    wrap = Crossing("7001", CrossingKind.SEQ_WRAP, 40, 0.8)
    assert ssrc_change_sent(_active(), _sent(150), [wrap]) == []  # type: ignore[arg-type]

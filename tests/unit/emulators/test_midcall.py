"""Mid-call emulation logic without sockets: SIP Server's sticky-side decision, the media
change options, a transfer's new RTP source (harness/emulators/midcall.py)."""

from __future__ import annotations

import random

import pytest

from harness.emulators.midcall import (
    MediaChange,
    MidCallChanges,
    TransferOutcome,
    consult_job,
    transfer_outcome,
)
from harness.emulators.sip_server import Side, SipServerEmulation
from harness.media.rtp_source import RtpStreamSource
from harness.protocol.rtp.seqnum import ts_distance


def test_recording_is_sticky_to_the_side_it_was_started_from() -> None:
    # docs/genesys-flow.md §3.5: started from the device that transfers away, it ends.
    assert transfer_outcome("7001", "7001") is TransferOutcome.ENDED
    assert transfer_outcome("5551234", "7001") is TransferOutcome.KEPT


def test_media_change_codec_is_checked() -> None:
    assert MediaChange(codec="pcma").codec == "pcma"
    with pytest.raises(ValueError, match="codec"):
        MediaChange(codec="G729")


class _Stream:
    def __init__(self, source: RtpStreamSource) -> None:
        self.source = source


@pytest.mark.parametrize("seed", range(20))
def test_a_new_source_is_far_from_the_old_timestamp_space(seed: int) -> None:
    old = RtpStreamSource.create(0, "PCMU", rng=seed)
    changes = MidCallChanges.__new__(MidCallChanges)
    changes.rng = random.Random(seed)
    fresh = MidCallChanges._new_source(changes, _Stream(old), 100, MediaChange(codec="PCMA"))  # type: ignore[arg-type]
    assert fresh.ssrc != old.ssrc and fresh.codec == "PCMA" and fresh.payload_type == 8
    assert abs(ts_distance(old.timestamp_of(100), fresh.timestamp_of(100))) >= 1 << 30


def test_a_codec_change_keeps_the_source() -> None:
    old = RtpStreamSource.create(1, "PCMA", rng=3)
    changes = MidCallChanges.__new__(MidCallChanges)
    changes.rng = random.Random(0)
    new = MidCallChanges._new_source(changes, _Stream(old), 50,  # type: ignore[arg-type]
                                     MediaChange(new_ssrc=False, new_port=False, codec="PCMU"))
    assert (new.ssrc, new.initial_seq, new.initial_timestamp) == (old.ssrc, old.initial_seq, old.initial_timestamp)
    assert (new.codec, new.payload_type) == ("PCMU", 0)


def test_a_consultation_is_a_call_of_its_own_when_recorded() -> None:
    server = SipServerEmulation()
    main = server.job_for(server.place_call("5551234", "7001", "PCMU"), Side.AGENT, "DN 7001 record=true")
    assert consult_job(server, main, "7002", record_consult=False) is None
    job = consult_job(server, main, "7002", record_consult=True)
    assert job is not None and job.call.calluuid != main.call.calluuid and job.call.conn_id != main.call.conn_id
    assert (job.call.customer_dn, job.call.agent_dn, job.record_dn) == ("7001", "7002", "7001")

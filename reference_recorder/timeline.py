"""Place one RTP stream's decoded audio on a sample timeline shared by the whole call.

RTP facts used (RFC 3550 §5.1, "timestamp"):
* "The timestamp reflects the sampling instant of the first octet in the RTP data packet.
  The sampling instant MUST be derived from a clock that increments monotonically and
  linearly in time" -- so, within one source, the timestamp distance between two packets
  *is* their distance on the output timeline, in samples (the RTP clock of G.711 is the
  8000 Hz sample clock, RFC 3551 §4.5.14).
* "...the timestamp would be increased by 160 for each such block, regardless of whether
  the block is transmitted in a packet or dropped as silent" -- a sender that stops
  sending (pause behaviour 1 of docs/genesys-flow.md §4.6, silence suppression) resumes with a
  timestamp jump; the gap is filled with silence of exactly that length.
* The timestamp is a 32-bit field with a random initial value, so it wraps; distances are
  taken modulo 2**32 as signed 32-bit numbers (`harness.protocol.rtp.seqnum.ts_distance`,
  the serial arithmetic of RFC 3550 Appendix A.1), and timestamps are "unwrapped" into an
  extended, unbounded counter relative to the newest packet.
* A new SSRC (source restart, failover) starts a new, unrelated timestamp space.

Placement rules (docs/architecture.md §4 reference recorder output):
1. The first packet is anchored on its arrival time: sample ``round((arrival - t0) * rate)``.
2. Later packets are placed at ``anchor + (ext_ts - anchor_ts)``.
   A packet cannot have been sampled after it arrived, so the stream starts no later than
   ``arrival - (ext_ts - anchor_ts)`` for *every* packet: when an in-sequence packet arrives
   more than ``early_slack`` seconds before its place, the first packet was processed late
   (a loaded host stalled the event loop, or the sender's first packet left late and the rest
   caught up) and the stream is moved earlier to that bound, the audio not yet drained with it.
   Without this, one stall at the first packet shifted a whole stream by up to
   ``reanchor_threshold`` and the pause interval, which is wall-clock, silenced the audio sent
   just before the pause (measured: 1.2 s of a 3 s call under `pytest -n 2`).
3. If that position and the packet's arrival position disagree by more than
   ``reanchor_threshold`` seconds, or the SSRC changed, the stream is re-anchored on the
   arrival time (timestamp reset, SSRC change, source restart) and it is counted. The
   arrival time is taken less the stream's transit offset (the smallest arrival-minus-place
   distance of its recent packets): the first packet's own delay, which set the anchor, is in
   every later place, so a new source (a transfer's re-INVITE, docs/genesys-flow.md §3.5)
   anchored on its bare arrival would land that much early, on top of the audio before it.
   A new SSRC whose first packet arrives (so corrected) within ``ssrc_snap`` seconds of the
   end of the audio placed so far continues from that end (the same stream, re-originated:
   no jitter gap or overlap in the middle of the audio). The window is under one packet: a
   new device after a transfer starts at least a packet after the old one stopped, and that
   gap is real (features/11_midcall_changes.feature).
   One packet's arrival is a noisy estimate of where the new SSRC starts: on a loaded host its
   first packet is often 10-20 ms late (measured under `pytest -n 2` with CPU load: the sender
   jittered by -5..+28 ms, and a 12 ms late first packet left a hole that broke the time-code
   segment across the change). So for ``ssrc_settle`` seconds of arrival time after the change
   (less than the store's jitter window: that audio is not written out yet) every further
   packet of the new SSRC that arrives earlier than its place moves it earlier, down to the
   old audio's end at most, and onto that end when within ``ssrc_snap`` of it: the least
   delayed of the first packets decides, as the transit offset does (rule 3).
   A sender that stops and resumes *without* advancing its timestamp lands in the past;
   when the newest packets keep landing before the written audio for longer than
   ``late_reanchor_after`` seconds of arrival time, the stream is re-anchored too (a
   one-off network stall whose burst arrives at once is dropped instead, so the stream
   keeps its alignment with the other party).
4. Packets landing before audio already handed out by `drain` are dropped and counted
   (late / reordered beyond the jitter window). Duplicates (same timestamp) are written
   once. Overlapping samples keep the first-written audio.
5. Gaps are silence. `mark_paused` intervals force silence on the output ("no audio sent
   while paused may be found in the recording", PCI DSS rule for pause/resume).

The object is sans-IO: no clock reads, times come in as arguments; `drain` hands out
contiguous audio for the caller to write.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

# The project's single home of RTP wrap arithmetic (docs/architecture.md §5): ts_distance(a, b) is the
# signed 32-bit serial distance b - a, so 0xFFFFFF60 -> 0x000000A0 is +320 samples.
from harness.protocol.rtp.seqnum import TS_MOD, ts_distance

__all__ = ["Placement", "StreamTimeline", "TimelineStats", "seconds_to_samples"]

_IN_SEQUENCE: Final = 4  # a packet at most this many packets after the newest is in sequence
_RECENT_TS: Final = 1024  # timestamps remembered for duplicate detection (~20 s at 50 pps)
_OFFSET_WINDOW: Final = 25  # packets whose transit offset a re-anchor uses (~0.5 s at 50 pps)


class Placement(enum.Enum):
    """What `StreamTimeline.add` did with a packet."""

    PLACED = "placed"
    REANCHORED = "reanchored"  # placed after re-anchoring the stream on arrival time
    DUPLICATE = "duplicate"
    LATE = "late"  # would land before audio already drained: dropped
    EMPTY = "empty"  # no samples
    DISCARDED = "discarded"  # refused by the owner (e.g. the stream already ended)


@dataclass(frozen=True, slots=True)
class TimelineStats:
    """Counters of one stream's timeline (snapshot)."""

    packets_placed: int
    duplicates: int
    dropped_late: int
    re_anchors: int
    realigned_earlier: int  # times rule 2's bound moved the stream earlier
    silenced_samples: int  # samples that carried audio but fell in a pause interval
    first_arrival: float | None
    last_arrival: float | None


class StreamTimeline:
    """One stream's audio on the call's sample timeline (sample 0 = `call_t0`).

    ``start_sample`` is where draining starts (a stream added late in a call begins at the
    recording's current drain position; earlier samples are silence the owner wrote).
    The RTP clock rate must equal the PCM sample rate (true for G.711).
    """

    def __init__(
        self,
        call_t0: float,
        *,
        sample_rate: int = 8000,
        start_sample: int = 0,
        reanchor_threshold: float = 1.0,
        late_reanchor_after: float = 0.2,
        early_slack: float = 0.02,
        ssrc_snap: float = 0.01,
        ssrc_settle: float = 0.05,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        self.call_t0 = call_t0
        self.sample_rate = sample_rate
        self._reanchor_samples = round(reanchor_threshold * sample_rate)
        self._late_reanchor_after = late_reanchor_after
        self._early_slack = round(early_slack * sample_rate)
        self._ssrc_snap_samples = round(ssrc_snap * sample_rate)
        self._ssrc_settle = ssrc_settle
        # After an SSRC change not snapped: (end of the old SSRC's audio, settle deadline).
        self._ssrc_join: tuple[int, float] | None = None
        self._ssrc_packets = 0  # packets of the current SSRC placed since its change
        # Samples [0, _flushed) have been handed out by drain(); the buffer holds
        # [_flushed, _flushed + _len) with a mask of samples that carry audio.
        self._flushed = start_sample
        self._buf: npt.NDArray[np.int16] = np.zeros(2048, dtype=np.int16)
        self._mask: npt.NDArray[np.bool_] = np.zeros(2048, dtype=np.bool_)
        self._len = 0
        self._placed_end = start_sample
        # Timestamp unwrapping and anchoring.
        self._anchored = False
        self._ref_ts = 0  # 32-bit timestamp of the newest packet (highest extended ts)
        self._ref_ext = 0  # its extended (unwrapped) value
        self._anchor_ext = 0
        self._anchor_sample = 0
        self._ssrc: int | None = None
        self._late_streak_since: float | None = None
        # Arrival position minus placed position of the recent packets (their transit offset
        # relative to the anchor's packet); the smallest is the least-delayed one.
        self._offsets: deque[int] = deque(maxlen=_OFFSET_WINDOW)
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()
        # Pause intervals in samples; end None = still paused.
        self._pauses: list[tuple[int, int | None]] = []
        # Counters.
        self._placed = 0
        self._duplicates = 0
        self._late = 0
        self._re_anchors = 0
        self._realigned = 0
        self._silenced = 0
        self._first_arrival: float | None = None
        self._last_arrival: float | None = None

    # -- helpers ---------------------------------------------------------------------------
    def sample_at(self, t: float) -> int:
        """Timeline position of wall-clock time `t` (same epoch as `call_t0`)."""
        return round((t - self.call_t0) * self.sample_rate)

    @property
    def flushed(self) -> int:
        """Samples already handed out by `drain` (the next drain starts here)."""
        return self._flushed

    @property
    def placed_end(self) -> int:
        """End (exclusive) of the furthest audio placed so far."""
        return self._placed_end

    @property
    def stats(self) -> TimelineStats:
        return TimelineStats(
            packets_placed=self._placed,
            duplicates=self._duplicates,
            dropped_late=self._late,
            re_anchors=self._re_anchors,
            realigned_earlier=self._realigned,
            silenced_samples=self._silenced,
            first_arrival=self._first_arrival,
            last_arrival=self._last_arrival,
        )

    def _remember(self, ext: int) -> None:
        self._recent.add(ext)
        self._recent_order.append(ext)
        if len(self._recent_order) > _RECENT_TS:
            self._recent.discard(self._recent_order.popleft())

    def _anchor(self, ts: int, ext: int, arrival_pos: int) -> None:
        self._anchored = True
        self._ref_ts = ts
        self._ref_ext = ext
        self._anchor_ext = ext
        # Never anchor into audio already handed out: that packet would be dropped.
        offset = min(self._offsets) if self._offsets else 0
        self._anchor_sample = max(arrival_pos - offset, self._flushed)
        self._late_streak_since = None
        # A new timestamp space: old timestamps say nothing about duplicates any more.
        self._recent.clear()
        self._recent_order.clear()

    def _ensure(self, length: int) -> None:
        if length <= self._buf.shape[0]:
            return
        size = max(length, 2 * self._buf.shape[0])
        buf = np.zeros(size, dtype=np.int16)
        mask = np.zeros(size, dtype=np.bool_)
        buf[: self._len] = self._buf[: self._len]
        mask[: self._len] = self._mask[: self._len]
        self._buf, self._mask = buf, mask

    def _move_earlier(self, samples: int) -> None:
        """Move the stream `samples` earlier: the anchor, and the audio not yet drained (audio
        that would move before the drain point is lost; it cannot be unwritten)."""
        self._anchor_sample -= samples
        self._realigned += 1
        # Every placed packet moved with it: its transit offset grew by as much (rule 3).
        self._offsets = deque((o + samples for o in self._offsets), maxlen=_OFFSET_WINDOW)
        keep = max(0, self._len - samples)
        if keep:
            self._buf[:keep] = self._buf[samples : self._len]
            self._mask[:keep] = self._mask[samples : self._len]
        self._buf[keep : self._len] = 0
        self._mask[keep : self._len] = False
        self._len = keep
        self._placed_end = max(self._flushed, self._placed_end - samples)

    def _settle_new_ssrc(self, position: int, arrival_pos: int) -> None:
        """Rule 3: a later packet of a new SSRC says it started earlier than its first packet's
        arrival did; move it there, never onto the old audio, and onto its end when close."""
        assert self._ssrc_join is not None
        old_end = self._ssrc_join[0]
        offset = min(self._offsets) if self._offsets else 0
        target = self._anchor_sample - (position - (arrival_pos - offset))
        if target - old_end <= self._ssrc_snap_samples:
            target = old_end
        target = max(target, old_end, self._flushed)
        if target < self._anchor_sample:
            self._move_new_ssrc_earlier(self._anchor_sample - target)
        if target == old_end:
            self._ssrc_join = None  # joined: nothing earlier to find

    def _move_new_ssrc_earlier(self, samples: int) -> None:
        """Like `_move_earlier`, for the new SSRC's audio only ([anchor, placed end)): the old
        SSRC's audio before it stays where it is."""
        start, end = self._anchor_sample - self._flushed, self._placed_end - self._flushed
        buf, mask = self._buf[start:end].copy(), self._mask[start:end].copy()
        self._buf[start:end] = 0
        self._mask[start:end] = False
        self._buf[start - samples:end - samples] = buf
        self._mask[start - samples:end - samples] = mask
        self._anchor_sample -= samples
        self._placed_end -= samples
        self._len = max(self._placed_end - self._flushed, int(np.flatnonzero(self._mask[:self._len])[-1]) + 1
                        if self._mask[:self._len].any() else 0)
        # The new SSRC's packets (the newest in the window) moved: their transit offsets grew.
        moved = min(self._ssrc_packets, len(self._offsets))
        for k in range(len(self._offsets) - moved, len(self._offsets)):
            self._offsets[k] += samples
        self._realigned += 1

    # -- input -----------------------------------------------------------------------------
    def add(
        self,
        rtp_timestamp: int,
        pcm: npt.NDArray[np.int16],
        arrival_time: float,
        *,
        ssrc: int | None = None,
    ) -> Placement:
        """Place one packet's decoded samples; see the module docstring for the rules."""
        samples = np.asarray(pcm)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise TypeError(f"pcm must be a 1-D int16 array, got {samples.dtype} {samples.shape}")
        if not 0 <= rtp_timestamp < TS_MOD:
            raise ValueError(f"RTP timestamp {rtp_timestamp} is not a 32-bit unsigned value")
        n = samples.shape[0]
        if n == 0:
            return Placement.EMPTY
        if self._first_arrival is None:
            self._first_arrival = arrival_time
        self._last_arrival = arrival_time
        arrival_pos = self.sample_at(arrival_time)

        reanchored = False
        if not self._anchored:
            self._anchor(rtp_timestamp, rtp_timestamp, arrival_pos)
            self._ssrc = ssrc
            ext = rtp_timestamp
        else:
            ext = self._ref_ext + ts_distance(self._ref_ts, rtp_timestamp)
            position = self._anchor_sample + (ext - self._anchor_ext)
            ssrc_changed = ssrc is not None and self._ssrc is not None and ssrc != self._ssrc
            if ssrc is not None:
                self._ssrc = ssrc
            if ssrc_changed or abs(position - arrival_pos) > self._reanchor_samples:
                offset = min(self._offsets) if self._offsets else 0
                self._ssrc_join = (self._placed_end, arrival_time + self._ssrc_settle) if ssrc_changed else None
                self._ssrc_packets = 0
                if ssrc_changed and abs(arrival_pos - offset - self._placed_end) <= self._ssrc_snap_samples:
                    self._ssrc_join = None
                    # A new SSRC arriving where the old one's audio ends (within the network's
                    # jitter) takes over from there: its unrelated timestamps (RFC 3550 §8.2)
                    # say nothing, and anchoring on this one packet's jittered arrival would
                    # leave a gap or an overlap of a few ms in the middle of the audio.
                    arrival_pos = self._placed_end + offset  # `_anchor` takes the offset off again
                self._anchor(rtp_timestamp, ext, arrival_pos)
                self._re_anchors += 1
                reanchored = True
            elif (self._ssrc_join is not None and arrival_time <= self._ssrc_join[1]
                  and ext > self._anchor_ext):
                self._settle_new_ssrc(position, arrival_pos)
            elif 0 < ext - self._ref_ext <= _IN_SEQUENCE * n and position - arrival_pos > self._early_slack:
                # In sequence (the next packet, or a few lost): a timestamp jump is no evidence.
                self._move_earlier(position - arrival_pos)

        if ext in self._recent:
            self._duplicates += 1
            return Placement.DUPLICATE

        newest = ext > self._ref_ext
        start = self._anchor_sample + (ext - self._anchor_ext)
        if start < self._flushed and newest and not reanchored:
            # Newest packet yet in the past: either a network stall (burst, drop it) or a
            # sender whose timestamp stood still while it stopped sending (re-anchor once
            # the condition has lasted `late_reanchor_after` seconds of arrival time).
            if self._late_streak_since is None:
                self._late_streak_since = arrival_time
            elif arrival_time - self._late_streak_since >= self._late_reanchor_after:
                self._anchor(rtp_timestamp, ext, arrival_pos)
                self._re_anchors += 1
                reanchored = True
                start = self._anchor_sample
        elif newest:
            self._late_streak_since = None
        if newest:
            self._ref_ts = rtp_timestamp
            self._ref_ext = ext

        if start < self._flushed:
            # Lands (at least partly) on audio already written out: too late to place.
            self._late += 1
            return Placement.LATE

        self._offsets.append(arrival_pos - start)
        self._ssrc_packets += 1
        offset = start - self._flushed
        self._ensure(offset + n)
        if offset + n > self._len:
            self._len = offset + n
        free = ~self._mask[offset : offset + n]
        # Overlaps keep what was written first (a re-sent or re-packetised copy).
        self._buf[offset : offset + n][free] = samples[free]
        self._mask[offset : offset + n] = True
        self._placed_end = max(self._placed_end, start + n)
        self._remember(ext)
        self._placed += 1
        return Placement.REANCHORED if reanchored else Placement.PLACED

    def mark_paused(self, start_time: float, end_time: float | None = None) -> None:
        """Force silence on ``[start_time, end_time)``; ``end_time=None`` = until `end_pause`.

        Only audio not yet drained can be silenced, so the owner marks a pause as soon as it
        is signalled (the drain point trails real time by the jitter window).
        """
        start = self.sample_at(start_time)
        end = None if end_time is None else max(start, self.sample_at(end_time))
        self._pauses.append((start, end))

    def end_pause(self, end_time: float) -> None:
        """Close the open pause interval (no-op when none is open)."""
        for i, (start, end) in enumerate(self._pauses):
            if end is None:
                self._pauses[i] = (start, max(start, self.sample_at(end_time)))

    @property
    def paused(self) -> bool:
        return any(end is None for _, end in self._pauses)

    # -- output ----------------------------------------------------------------------------
    def peek(self, up_to_sample: int) -> npt.NDArray[np.int16]:
        """What `drain(up_to_sample)` would hand out now, without draining or counting.

        The checkpoint writes it as a provisional tail (packets still inside the jitter
        window may yet change it), so a crash loses no audio that had already arrived.
        """
        return self._window(up_to_sample)[0]

    def _window(self, up_to_sample: int) -> tuple[npt.NDArray[np.int16], int, list[tuple[int, int]]]:
        """Samples ``[flushed, up_to_sample)`` with paused spans silenced, how many of them come
        from the buffer, and the paused spans (buffer offsets) that were silenced."""
        count = up_to_sample - self._flushed
        if count <= 0:
            return np.zeros(0, dtype=np.int16), 0, []
        out = np.zeros(count, dtype=np.int16)
        have = min(count, self._len)
        paused: list[tuple[int, int]] = []
        if have > 0:
            out[:have] = self._buf[:have]
            for p_start, p_end in self._pauses:
                lo = max(p_start - self._flushed, 0)
                hi = have if p_end is None else min(p_end - self._flushed, have)
                if lo < hi:
                    out[lo:hi] = 0
                    paused.append((lo, hi))
        return out, have, paused

    def drain(self, up_to_sample: int) -> npt.NDArray[np.int16]:
        """Hand out samples ``[flushed, up_to_sample)``: audio where placed, silence elsewhere.

        Always returns exactly ``max(0, up_to_sample - flushed)`` samples, so several
        streams drained to the same point stay sample-aligned.
        """
        if up_to_sample - self._flushed <= 0:
            return np.zeros(0, dtype=np.int16)
        out, have, paused = self._window(up_to_sample)
        for lo, hi in paused:
            self._silenced += int(np.count_nonzero(self._mask[lo:hi]))
            # Silence counted once even if pause intervals overlap.
            self._mask[lo:hi] = False
        if have > 0:
            rest = self._len - have
            self._buf[:rest] = self._buf[have : self._len]
            self._mask[:rest] = self._mask[have : self._len]
            self._buf[rest : self._len] = 0
            self._mask[rest : self._len] = False
            self._len = rest
        self._flushed = up_to_sample
        # Closed pauses entirely in the past can be forgotten.
        self._pauses = [(s, e) for s, e in self._pauses if e is None or e > self._flushed]
        return out


def seconds_to_samples(seconds: float, sample_rate: int) -> int:
    """Floor conversion used for drain targets (never hand out a sample not yet due)."""
    return math.floor(seconds * sample_rate)

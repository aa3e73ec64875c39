"""Audio time-code oracle (docs/architecture.md §4 "Audio time-code oracle").

Every replicated RTP stream carries a known signal that encodes *which stream* it is and a
*segment counter*, so that decoding any recording proves, per channel, which segments were
recorded, in which order and with which gaps (channel swap, missing audio, audio recorded
while paused, truncation, duplication, drift), on mono-per-stream files, stereo files (decode
each channel) and on a mono mix of the streams.

Signal (8 kHz, the G.711 clock of RFC 3551 §4.5.14):

* symbol = 20 ms = 160 samples = one RTP packet at ptime 20 (RFC 3551 §4.5: G.711 default
  packetisation). Each symbol is one pure tone at a multiple of 50 Hz, i.e. the centre of a DFT
  bin of a 160-sample window, so a symbol holds a whole number of cycles, starts and ends at
  phase 0 (no click at symbol boundaries) and is orthogonal to every other symbol frequency
  over an aligned window. Peak level about -12 dBFS (amplitude 8192): two streams summed by a
  mixing recorder never clip.
* segment = 10 symbols = 200 ms: SYNC, eight base-4 counter digits (most significant first),
  one check digit. Counter modulus 4**8 = 65536 segments = 3 h 38 min.
* stream identity = a disjoint alphabet per stream: stream s, symbol j (0 = SYNC, 1..4 = digit
  0..3) is the tone ``300 + 200*s + 600*j`` Hz (300..3100 Hz, inside the telephone band).
  Inside one alphabet tones are 600 Hz apart; any two tones of different streams are >= 200 Hz
  apart. Why 200 Hz: in a mix the other stream's symbol boundaries fall anywhere inside our
  window, and its tone fragments leak into our bins; measured worst case with the 128-sample
  Hann window is -8 dB at 100 Hz spacing (unusable), -13 dB at 150 Hz, -16.5 dB at 200 Hz.
  Hence 4 digit tones per stream rather than 8 or 16, and up to 3 streams.

Decoder: for each stream a sliding single-bin DFT (one complex cumulative sum per stream)
finds every SYNC symbol (to within ~20 samples in a mix); the symbols are then read at
``sync + k*160`` on windows trimmed by 16 samples at both ends with a Hann taper (tolerance to
that misalignment and to drift). A segment that reads cleanly is aligned to the exact sample
using its now known symbols (slot energy peak, then a signed waveform correlation) and read
again there: only the aligned read decides. A segment counts as *decoded* only if every
symbol is confidently the strongest tone of its stream's alphabet (energy ratio and level
thresholds), the check digit matches, the segment lies wholly inside the file, and the slot
right after the check symbol is not another digit of the same stream (which catches a
duplicated packet inside the segment; the price: a complete segment directly followed by
digits, e.g. because the next SYNC packet was dropped without fill, is reported partial too).
Anything else found after a SYNC is reported as a
*partial* segment; audio below the silence threshold is reported as silence spans, and
non-silent audio that no decoded segment covers as undecodable spans.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "AMPLITUDE",
    "COUNTER_DIGITS",
    "MAX_SEGMENTS",
    "MAX_STREAMS",
    "SAMPLE_RATE",
    "SEGMENT_SAMPLES",
    "SYMBOLS_PER_SEGMENT",
    "SYMBOL_SAMPLES",
    "DecodedSegment",
    "PartialReason",
    "PartialSegment",
    "Span",
    "TimecodeTrack",
    "decode_timecode",
    "segment_of_sample",
    "symbol_frequency",
    "timecode_samples",
]

SAMPLE_RATE: Final = 8000
SYMBOL_SAMPLES: Final = 160
DIGIT_BASE: Final = 4
COUNTER_DIGITS: Final = 8
# SYNC + counter digits + one check digit.
SYMBOLS_PER_SEGMENT: Final = 1 + COUNTER_DIGITS + 1
SEGMENT_SAMPLES: Final = SYMBOLS_PER_SEGMENT * SYMBOL_SAMPLES
MAX_SEGMENTS: Final = DIGIT_BASE**COUNTER_DIGITS
MAX_STREAMS: Final = 3
AMPLITUDE: Final = 8192  # -12 dBFS peak

_BASE_HZ: Final = 300
_STREAM_STEP_HZ: Final = 200
_SYMBOL_STEP_HZ: Final = 600
_ALPHABET: Final = 1 + DIGIT_BASE  # SYNC + digits
# Odd weights are units mod 4: any single wrong digit changes the check digit.
_CHECK_WEIGHTS: Final = (1, 3, 1, 3, 1, 3, 1, 3)

# Decoder tuning (documented in the module docstring; exposed for the validators' messages).
TRIM_SAMPLES: Final = 16
RATIO_MIN: Final = 10.0  # best tone must beat the runner-up of its alphabet by 10 dB (energy)
MIN_TONE_FRACTION: Final = 0.15  # of the window energy; a 3-stream mix still gives ~1/3
MIN_TONE_AMPLITUDE: Final = 184.0  # -45 dBFS: quieter than this is not a time-code symbol
SILENCE_RMS: Final = 104.0  # -50 dBFS; G.711 silence decodes to 0 (µ-law) or +-8 (A-law)
SILENCE_BLOCK: Final = 40  # 5 ms resolution of silence spans
MIN_SPAN: Final = 40  # undecodable spans shorter than 5 ms are sync-jitter, not content
_SYNC_FRACTION: Final = 0.2
_PLATEAU: Final = 0.98
_REFINE: Final = 24  # +- samples searched around the coarse SYNC position
_FINE: Final = 8
_FINE_LEN: Final = 4 * SYMBOL_SAMPLES
_CHUNK: Final = 1 << 20

_SAMPLE_RATE_MSG: Final = "time-code recordings must be 8000 Hz (the G.711 RTP clock), got {} Hz"


def symbol_frequency(stream: int, symbol: int) -> int:
    """Tone frequency in Hz of `symbol` (0 = SYNC, 1 + d = digit d) in `stream`'s alphabet."""
    _check_stream(stream)
    if not 0 <= symbol < _ALPHABET:
        raise ValueError(f"symbol must be in 0..{_ALPHABET - 1}, got {symbol}")
    return _BASE_HZ + _STREAM_STEP_HZ * stream + _SYMBOL_STEP_HZ * symbol


def segment_of_sample(sample: int) -> int:
    """Segment counter carried by absolute sample index `sample` of any stream."""
    if sample < 0:
        raise ValueError(f"sample index must be >= 0, got {sample}")
    return (sample // SEGMENT_SAMPLES) % MAX_SEGMENTS


def _check_stream(stream: int) -> None:
    if not 0 <= stream < MAX_STREAMS:
        raise ValueError(f"stream must be in 0..{MAX_STREAMS - 1}, got {stream}")


def _counter_digits(counter: int) -> list[int]:
    return [(counter // DIGIT_BASE ** (COUNTER_DIGITS - 1 - i)) % DIGIT_BASE for i in range(COUNTER_DIGITS)]


def _check_digit(digits: Iterable[int]) -> int:
    return sum(w * d for w, d in zip(_CHECK_WEIGHTS, digits, strict=True)) % DIGIT_BASE


def _segment_symbols(counter: int) -> list[int]:
    """Alphabet indices (0 = SYNC, 1 + d = digit d) of the 8 symbols of one segment."""
    digits = _counter_digits(counter)
    return [0, *(1 + d for d in digits), 1 + _check_digit(digits)]


# One period (160 samples) of every tone: a 50 Hz multiple completes whole cycles in a symbol.
_PHASE: Final = np.arange(SYMBOL_SAMPLES, dtype=np.float64) / SAMPLE_RATE


def _tone_table(stream: int) -> npt.NDArray[np.int16]:
    freqs = np.array([symbol_frequency(stream, j) for j in range(_ALPHABET)], dtype=np.float64)
    table: npt.NDArray[np.float64] = np.rint(
        AMPLITUDE * np.sin(2.0 * np.pi * freqs[:, None] * _PHASE[None, :])
    )
    return table.astype(np.int16)


_TONES: Final = tuple(_tone_table(s) for s in range(MAX_STREAMS))


def timecode_samples(stream: int, start_sample: int, count: int) -> npt.NDArray[np.int16]:
    """Samples ``[start_sample, start_sample + count)`` of `stream`'s time-code signal (int16).

    A pure function of the absolute sample index, so an RTP source can build packet n alone as
    samples ``[n*160, (n+1)*160)``; the counter wraps modulo `MAX_SEGMENTS`.
    """
    _check_stream(stream)
    if start_sample < 0 or count < 0:
        raise ValueError(f"start_sample and count must be >= 0, got {start_sample}, {count}")
    out = np.empty(count, dtype=np.int16)
    if count == 0:
        return out
    first_sym = start_sample // SYMBOL_SAMPLES
    last_sym = (start_sample + count - 1) // SYMBOL_SAMPLES
    sym_index = np.arange(first_sym, last_sym + 1, dtype=np.int64)
    seg = (sym_index // SYMBOLS_PER_SEGMENT) % MAX_SEGMENTS
    # Alphabet index of every symbol touched, built per distinct segment (few per call).
    alphabet = np.empty(sym_index.shape, dtype=np.int64)
    for counter in np.unique(seg):
        mask = seg == counter
        symbols = np.array(_segment_symbols(int(counter)), dtype=np.int64)
        alphabet[mask] = symbols[sym_index[mask] % SYMBOLS_PER_SEGMENT]
    block = _TONES[stream][alphabet].reshape(-1)
    offset = start_sample - first_sym * SYMBOL_SAMPLES
    out[:] = block[offset : offset + count]
    return out


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open sample range ``[start_sample, end_sample)`` of the decoded file."""

    start_sample: int
    end_sample: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_sample <= self.end_sample:
            raise ValueError(f"bad span [{self.start_sample}, {self.end_sample})")

    @property
    def length(self) -> int:
        return self.end_sample - self.start_sample


@dataclass(frozen=True, slots=True)
class DecodedSegment:
    """A fully and confidently decoded segment; `start_sample` is its SYNC's first sample.

    `score` is the weakest symbol's margin in dB (best tone over runner-up of its alphabet).
    """

    stream: int
    segment: int
    start_sample: int
    score: float

    def __post_init__(self) -> None:
        _check_stream(self.stream)
        if not 0 <= self.segment < MAX_SEGMENTS:
            raise ValueError(f"segment counter out of range: {self.segment}")

    @property
    def end_sample(self) -> int:
        return self.start_sample + SEGMENT_SAMPLES


class PartialReason(enum.Enum):
    WEAK_SYMBOL = "a symbol is not confidently one tone of the stream's alphabet"
    SYNC_IN_DIGIT = "a SYNC symbol where a digit belongs (segment shortened)"
    CHECK_MISMATCH = "check digit does not match the counter digits"
    EXTRA_DIGIT = "a digit follows the check symbol (segment lengthened)"
    TRUNCATED = "the segment extends past the start or the end of the file"
    DROPOUT = "silence inside the segment (e.g. a lost packet filled with silence)"


@dataclass(frozen=True, slots=True)
class PartialSegment:
    """A SYNC was found at `start_sample` but the segment did not decode.

    `symbols_ok` counts the leading symbols (SYNC included) that read cleanly. `start_sample`
    is the coarse SYNC position (within ~24 samples), exact only for decoded segments.
    """

    stream: int
    start_sample: int
    symbols_ok: int
    reason: PartialReason


@dataclass(frozen=True, slots=True)
class TimecodeTrack:
    """What one channel of a recording contains, in file order.

    `undecodable`: non-silent spans that no decoded segment of any requested stream covers.
    """

    segments: tuple[DecodedSegment, ...]
    partial: tuple[PartialSegment, ...]
    silence: tuple[Span, ...]
    undecodable: tuple[Span, ...]
    sample_count: int

    def streams_present(self) -> tuple[int, ...]:
        """Streams with at least one decoded segment, ascending."""
        return tuple(sorted({s.stream for s in self.segments}))

    def segments_of(self, stream: int) -> tuple[DecodedSegment, ...]:
        return tuple(s for s in self.segments if s.stream == stream)

    def counters_of(self, stream: int) -> tuple[int, ...]:
        """Decoded segment counters of `stream` in file order."""
        return tuple(s.segment for s in self.segments if s.stream == stream)

    def partial_of(self, stream: int) -> tuple[PartialSegment, ...]:
        return tuple(p for p in self.partial if p.stream == stream)


# --------------------------------------------------------------------------- decoder


def _as_float_signal(samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise ValueError(f"decode one channel at a time: expected a 1-D array, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.floating):
        # soundfile's default float read is scaled to [-1, 1); bring it to the int16 scale.
        return arr.astype(np.float64) * 32768.0
    raise TypeError(f"samples must be an integer or float array, got dtype {arr.dtype}")


def _sliding(
    x: npt.NDArray[np.float64], freq: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """For every offset n of a 160-sample rectangular window: (tone energy at `freq`, window energy).

    Uses the running-sum form of the sliding DFT: |X(n)| = |C(n+N) - C(n)| with
    C = cumsum(x * e^{-jwk}); done in chunks so long files keep float64 precision and memory low.
    """
    n_win = SYMBOL_SAMPLES
    count = len(x) - n_win + 1
    tone = np.empty(count, dtype=np.float64)
    energy = np.empty(count, dtype=np.float64)
    # freq is a 50 Hz multiple: the complex exponential repeats every 160 samples.
    period = np.exp(-2j * np.pi * freq * np.arange(n_win) / SAMPLE_RATE)
    for a in range(0, count, _CHUNK):
        b = min(a + _CHUNK, count)
        seg = x[a : b + n_win - 1]
        rot = np.resize(np.roll(period, -(a % n_win)), len(seg))
        c = np.concatenate(([0j], np.cumsum(seg * rot)))
        e = np.concatenate(([0.0], np.cumsum(seg * seg)))
        tone[a:b] = np.abs(c[n_win:] - c[:-n_win]) ** 2 * (2.0 / n_win)
        energy[a:b] = e[n_win:] - e[:-n_win]
    return tone, energy


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open [start, end) index ranges where `mask` is True."""
    if len(mask) == 0:
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _merge_close(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Join runs separated by fewer than `gap` indices (one SYNC whose score dipped mid-way)."""
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _sync_candidates(x: npt.NDArray[np.float64], stream: int) -> list[int]:
    if len(x) < SYMBOL_SAMPLES:
        return []
    tone, energy = _sliding(x, float(symbol_frequency(stream, 0)))
    min_tone_energy = MIN_TONE_AMPLITUDE**2 * SYMBOL_SAMPLES / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(energy > 0.0, tone / energy, 0.0)
    mask = (fraction >= _SYNC_FRACTION) & (tone >= min_tone_energy)
    out: list[int] = []
    for a, b in _merge_close(_runs(mask), SYMBOL_SAMPLES):
        run = tone[a:b]
        near = np.flatnonzero(run >= _PLATEAU * run.max())
        if near[-1] - near[0] <= 8:
            out.append(a + int(np.argmax(run)))
        else:
            # A flat top means consecutive SYNC symbols (a duplicated packet): the last
            # aligned position is the one followed by digits.
            out.append(a + int(near[-1]))
    return out


_WIN_LEN: Final = SYMBOL_SAMPLES - 2 * TRIM_SAMPLES
_HANN: Final = np.hanning(_WIN_LEN + 2)[1:-1]
_HANN_SUM: Final = float(_HANN.sum())
_HANN_SQ: Final = float((_HANN**2).sum())


def _basis(stream: int) -> npt.NDArray[np.complex128]:
    freqs = np.array([symbol_frequency(stream, j) for j in range(_ALPHABET)], dtype=np.float64)
    m = np.arange(_WIN_LEN, dtype=np.float64)
    basis: npt.NDArray[np.complex128] = _HANN[:, None] * np.exp(
        -2j * np.pi * m[:, None] * freqs[None, :] / SAMPLE_RATE
    )
    return basis


_BASES: Final = tuple(_basis(s) for s in range(MAX_STREAMS))


def _read_symbols(
    x: npt.NDArray[np.float64], stream: int, starts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Read the symbol whose slot starts at each of `starts`.

    Returns (alphabet index or -1 when not confident, margin in dB).
    """
    if len(starts) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    idx = starts[:, None] + TRIM_SAMPLES + np.arange(_WIN_LEN)[None, :]
    win = x[idx]
    spec = np.abs(win @ _BASES[stream]) ** 2
    order = np.sort(spec, axis=1)
    best, second = order[:, -1], order[:, -2]
    tapered_energy = ((win * _HANN[None, :]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(second > 0.0, best / second, np.inf)
        # Share of the window's energy that the best tone explains (1.0 for a clean tone).
        fraction = np.where(
            tapered_energy > 0.0, best * 2.0 * _HANN_SQ / (_HANN_SUM**2 * tapered_energy), 0.0
        )
    amplitude = 2.0 * np.sqrt(best) / _HANN_SUM
    ok = (ratio >= RATIO_MIN) & (fraction >= MIN_TONE_FRACTION) & (amplitude >= MIN_TONE_AMPLITUDE)
    value = np.where(ok, np.argmax(spec, axis=1), -1)
    with np.errstate(divide="ignore"):
        margin = 10.0 * np.log10(np.where(np.isfinite(ratio), ratio, 1e12))
    return value.astype(np.int64), margin


def _refine_start(x: npt.NDArray[np.float64], stream: int, counter: int, start: int) -> int | None:
    """Exact start of a decoded segment, searched within +-24 samples of `start`.

    For each candidate start L, every symbol slot ``[L + 160k, L + 160(k+1))`` is measured with
    a rectangular DFT at the tone the segment is known to carry there; a slot misaligned by d
    samples keeps only (160 - |d|) samples of its tone, so the summed energy peaks where every
    slot is aligned. This is phase-blind on purpose: a plain waveform correlation has near-equal
    side peaks because the tones of an alphabet share short common periods (e.g. stream 0's
    tones are all odd harmonics of 300 Hz), and one slipped sample (clock drift) breaks it.
    Samples outside the file count as zeros, so the result may lie before 0 or end after the
    file: the caller reports that segment as truncated. None: the energy peak sits on the edge
    of the search range, so there is no trustworthy alignment.
    """
    symbols = _segment_symbols(counter)
    lo = start - _REFINE
    span = 2 * _REFINE + 1
    hi = start + _REFINE + SEGMENT_SAMPLES
    chunk = np.zeros(hi - lo, dtype=np.float64)
    a, b = max(lo, 0), min(hi, len(x))
    chunk[a - lo : b - lo] = x[a:b]
    score = np.zeros(span, dtype=np.float64)
    n = np.arange(len(chunk), dtype=np.float64)
    for j in set(symbols):
        c = np.concatenate(
            ([0j], np.cumsum(chunk * np.exp(-2j * np.pi * symbol_frequency(stream, j) * n / SAMPLE_RATE)))
        )
        window = np.abs(c[SYMBOL_SAMPLES:] - c[:-SYMBOL_SAMPLES]) ** 2  # window starting at each index
        for k, sym in enumerate(symbols):
            if sym == j:
                score += window[k * SYMBOL_SAMPLES : k * SYMBOL_SAMPLES + span]
    best = int(np.argmax(score))
    if best in (0, span - 1):
        return None
    rough = lo + best
    # The energy peak is robust but blunt (a few samples); finish with a signed waveform
    # correlation over the first symbols within +-8 samples, below half the shortest common
    # period (26.7 samples) so no side peak is in range.
    ref = timecode_samples(stream, counter * SEGMENT_SAMPLES, _FINE_LEN).astype(np.float64)
    f_lo = rough - _FINE
    fine = np.zeros(2 * _FINE + _FINE_LEN, dtype=np.float64)
    a, b = max(f_lo, 0), min(f_lo + len(fine), len(x))
    if a < b:
        fine[a - f_lo : b - f_lo] = x[a:b]
    return f_lo + int(np.argmax(np.correlate(fine, ref, mode="valid")))


@dataclass(frozen=True, slots=True)
class _Reading:
    """Outcome of reading the symbol slots after one SYNC position."""

    counter: int | None
    symbols_ok: int
    reason: PartialReason | None
    score: float


def _read_segments(x: npt.NDArray[np.float64], stream: int, positions: list[int]) -> list[_Reading]:
    """Read SYNC, digits, check and trailer slots at each position and validate them."""
    slots = SYMBOLS_PER_SEGMENT + 1  # + the trailer slot after the check digit
    starts = np.array(positions, dtype=np.int64)[:, None] + SYMBOL_SAMPLES * np.arange(slots)[None, :]
    readable = (starts >= 0) & (starts + SYMBOL_SAMPLES - TRIM_SAMPLES <= len(x))
    values = np.full(starts.shape, -1, dtype=np.int64)
    margins = np.zeros(starts.shape, dtype=np.float64)
    v, m = _read_symbols(x, stream, starts[readable])
    values[readable] = v
    margins[readable] = m
    out: list[_Reading] = []
    for row in range(len(positions)):
        syms = values[row]
        n_ok = 0
        reason: PartialReason | None = None
        for k in range(SYMBOLS_PER_SEGMENT):
            if not readable[row, k]:
                reason = PartialReason.TRUNCATED
                break
            sym = int(syms[k])
            if sym < 0 or (k == 0 and sym != 0):
                reason = PartialReason.WEAK_SYMBOL
                break
            if k > 0 and sym == 0:
                reason = PartialReason.SYNC_IN_DIGIT
                break
            n_ok += 1
        counter: int | None = None
        if reason is None:
            digits = [int(d) - 1 for d in syms[1 : 1 + COUNTER_DIGITS]]
            if _check_digit(digits) != int(syms[SYMBOLS_PER_SEGMENT - 1]) - 1:
                reason = PartialReason.CHECK_MISMATCH
            elif readable[row, slots - 1] and int(syms[slots - 1]) > 0:
                # A digit of the same stream right after the check symbol means a packet was
                # repeated inside this segment, so the counter read is shifted and wrong.
                reason = PartialReason.EXTRA_DIGIT
            else:
                counter = 0
                for d in digits:
                    counter = counter * DIGIT_BASE + d
        score = float(margins[row, :SYMBOLS_PER_SEGMENT].min())
        out.append(_Reading(counter, n_ok, reason, round(score, 2)))
    return out


def _decode_stream(
    x: npt.NDArray[np.float64], stream: int, silent: npt.NDArray[np.bool_]
) -> tuple[list[DecodedSegment], list[PartialSegment]]:
    """Coarse SYNC positions -> tolerant read -> exact start -> strict re-read at that start.

    The re-read matters: a window misaligned by ~60 samples can still read each symbol with
    ~11 dB margin (the Hann taper favours the window centre), so the first read alone would
    accept a segment whose beginning is missing.
    """
    cands = _sync_candidates(x, stream)
    decoded: list[DecodedSegment] = []
    partial: list[PartialSegment] = []
    if not cands:
        return decoded, partial
    first = _read_segments(x, stream, cands)
    exact: dict[int, int] = {}
    for start, reading in zip(cands, first, strict=True):
        if reading.counter is None:
            assert reading.reason is not None
            partial.append(PartialSegment(stream, start, reading.symbols_ok, reading.reason))
            continue
        refined = _refine_start(x, stream, reading.counter, start)
        if refined is None:
            partial.append(PartialSegment(stream, start, 0, PartialReason.WEAK_SYMBOL))
            continue
        exact[start] = refined
    if not exact:
        return decoded, partial
    second = _read_segments(x, stream, list(exact.values()))
    for pos, reading in zip(exact.values(), second, strict=True):
        if reading.counter is not None and not (pos >= 0 and pos + SEGMENT_SAMPLES <= len(x)):
            # The trimmed windows read cleanly, but edge samples lie outside the file.
            reading = _Reading(None, reading.symbols_ok, PartialReason.TRUNCATED, reading.score)
        elif reading.counter is not None and silent[pos + _EDGE_SAMPLES : pos + SEGMENT_SAMPLES - _EDGE_SAMPLES].any():
            # The trimmed, tapered windows barely see a silent stretch at a slot edge: a lost
            # 20 ms packet straddling two slots can leave both readable. A segment with
            # silence inside was not recorded whole.
            reading = _Reading(None, reading.symbols_ok, PartialReason.DROPOUT, reading.score)
        if reading.counter is None:
            assert reading.reason is not None
            partial.append(PartialSegment(stream, max(pos, 0), reading.symbols_ok, reading.reason))
        else:
            decoded.append(DecodedSegment(stream, reading.counter, pos, reading.score))
    return decoded, partial


# The exact-position refinement can land a sample or two early; right after leading silence
# that puts a silent block edge "inside" a perfect segment. A real dropout is a whole 20 ms
# packet (160 samples), far wider than this tolerance.
_EDGE_SAMPLES: Final = 8


def _silence_mask(x: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Per-sample silence flag at `SILENCE_BLOCK` resolution (a tail block shorter counts too)."""
    n_blocks = -(-len(x) // SILENCE_BLOCK)
    padded = np.zeros(n_blocks * SILENCE_BLOCK, dtype=np.float64)
    padded[: len(x)] = x
    sq = (padded * padded).reshape(n_blocks, SILENCE_BLOCK)
    sizes = np.full(n_blocks, SILENCE_BLOCK, dtype=np.float64)
    if n_blocks:
        sizes[-1] = len(x) - (n_blocks - 1) * SILENCE_BLOCK
    rms = np.sqrt(sq.sum(axis=1) / sizes)
    return np.repeat(rms < SILENCE_RMS, SILENCE_BLOCK)[: len(x)]


def decode_timecode(
    samples: npt.ArrayLike, sample_rate: int = SAMPLE_RATE, streams: Iterable[int] | None = None
) -> TimecodeTrack:
    """Decode one channel (1-D int16, other ints, or float in [-1, 1)) of a recording.

    `streams`: which alphabets to look for (default: all `MAX_STREAMS`). Raises ValueError for
    a sample rate other than 8000 Hz (the recording validator turns that into a finding).
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(_SAMPLE_RATE_MSG.format(sample_rate))
    wanted = tuple(sorted(set(range(MAX_STREAMS) if streams is None else streams)))
    for s in wanted:
        _check_stream(s)
    x = _as_float_signal(samples)
    length = len(x)
    silent = _silence_mask(x)
    decoded: list[DecodedSegment] = []
    partial: list[PartialSegment] = []
    for s in wanted:
        d, p = _decode_stream(x, s, silent)
        decoded.extend(d)
        partial.extend(p)
    decoded.sort(key=lambda seg: (seg.start_sample, seg.stream))
    partial.sort(key=lambda seg: (seg.start_sample, seg.stream))

    covered = np.zeros(length, dtype=bool)
    for seg in decoded:
        covered[seg.start_sample : min(seg.end_sample, length)] = True
    silence = tuple(Span(a, b) for a, b in _runs(silent))
    undecodable = tuple(Span(a, b) for a, b in _runs(~silent & ~covered) if b - a >= MIN_SPAN)
    return TimecodeTrack(tuple(decoded), tuple(partial), silence, undecodable, length)

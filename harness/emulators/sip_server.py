"""SIP Server emulation: the call model and the media-control decision (Genesys ARE steps 1, 5).

SIP Server owns the communication session (the customer <-> agent call). When a trigger says
the call must be recorded, it acts as media controller and asks Media Server to replicate
the call's RTP - one replication job per party (GVP-Basic: "two INVITEs, one per RTP
stream/party") - handing it the recording context that ends up in each recording session's
Request-URI: record id, CallUUID, recorded DN, initiating DN (GVP-MSRec).

Triggers are pluggable (`RecordingTrigger`): this module implements the DN option
`[TServer] record=true` (step 1); the T-Lib paths (steps 2-4) plug in the same way.
"""

from __future__ import annotations

import enum
import itertools
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from harness.protocol.genesys import RecordingTarget

_CALLUUID_ALPHABET = string.ascii_uppercase + string.digits


def new_calluuid(rng: Callable[[int], str] | None = None) -> str:
    """A 32-character CallUUID like Genesys' own (e.g. 4BOKLLA3VH66JF112M1CC9VHKS14F0KP, AC-Genesys)."""
    if rng is not None:
        return rng(32)
    return "".join(secrets.choice(_CALLUUID_ALPHABET) for _ in range(32))


class Side(enum.Enum):
    """Which party of the call; `record=source|destination` name these (GVP-TLib)."""

    CUSTOMER = "customer"  # origination side
    AGENT = "agent"  # destination side


class SessionMode(enum.Enum):
    TWO_SESSIONS = "two-session"  # one recording session per stream (default Genesys mode)
    SINGLE_SESSION = "single-session"  # one session, two m-lines, dn + otherDN
    SIPREC = "siprec"  # one SIPREC recording session (RFC 7866) per call, a labelled m-line per party


@dataclass(slots=True)
class DnConfig:
    dn: str
    record: bool = False  # [TServer] record=true


@dataclass(slots=True)
class Call:
    conn_id: str
    calluuid: str
    customer_dn: str
    agent_dn: str
    codec: str

    def dn_of(self, side: Side) -> str:
        return self.customer_dn if side is Side.CUSTOMER else self.agent_dn


@dataclass(frozen=True, slots=True)
class StreamJob:
    """One RTP stream Media Server must replicate: the media of one party."""

    side: Side
    dn: str
    stream_index: int  # 0 = customer, 1 = agent: the time-code alphabet it carries


@dataclass(frozen=True, slots=True)
class RecordingJob:
    """What SIP Server hands Media Server for one recorded call (the media-control decision)."""

    call: Call
    record_id: str
    record_dn: str  # the DN on whose behalf recording was started
    trigger: str
    streams: tuple[StreamJob, ...]
    mode: SessionMode
    # T-Lib `Extensions.dest` (DOMAIN §3.2): the recorder location overriding Media Server's
    # default, as "host:port" or a SIP URI; None keeps the default recorder.
    dest: str | None = None

    def with_dest(self, dest: str | None) -> RecordingJob:
        """This job sent to another recorder (`dest` None: unchanged)."""
        if dest is None:
            return self
        return RecordingJob(self.call, self.record_id, self.record_dn, self.trigger, self.streams, self.mode, dest)

    def targets(self) -> list[RecordingTarget]:
        """The recording context of each recording session Media Server will open."""
        if self.mode in (SessionMode.SINGLE_SESSION, SessionMode.SIPREC):
            # SIPREC: one session too; its streams are labelled with the DNs (harness.emulators.siprec_client).
            first, second = self.streams
            return [RecordingTarget(self.record_id, self.call.calluuid, first.dn, self.record_dn, second.dn)]
        return [RecordingTarget(self.record_id, self.call.calluuid, s.dn, self.record_dn) for s in self.streams]


RecordingTrigger = Callable[["SipServerEmulation", Call], "RecordingJob | None"]


@dataclass(slots=True)
class SipServerEmulation:
    dns: dict[str, DnConfig] = field(default_factory=dict)
    mode: SessionMode = SessionMode.TWO_SESSIONS
    triggers: list[RecordingTrigger] = field(default_factory=list)
    decisions: list[tuple[Call, RecordingJob | None]] = field(default_factory=list)
    _conn_ids: Iterator[int] = field(default_factory=lambda: itertools.count(0x006A02A0D8C3E001))

    def __post_init__(self) -> None:
        if not self.triggers:
            self.triggers.append(dn_option_trigger)

    def configure_dn(self, dn: str, *, record: bool = False) -> None:
        self.dns[dn] = DnConfig(dn, record)

    def place_call(self, customer_dn: str, agent_dn: str, codec: str, calluuid: str | None = None) -> Call:
        conn_id = f"{next(self._conn_ids):016x}"
        return Call(conn_id, calluuid or new_calluuid(), customer_dn, agent_dn, codec)

    def decide_recording(self, call: Call) -> RecordingJob | None:
        """Run the triggers in order; the first that asks for recording wins (ARE steps 1-4)."""
        job: RecordingJob | None = None
        for trigger in self.triggers:
            job = trigger(self, call)
            if job is not None:
                break
        self.decisions.append((call, job))
        return job

    def job_for(self, call: Call, record_side: Side, trigger: str, record_id: str | None = None) -> RecordingJob:
        # Both parties' streams are replicated whichever side asked (ARE step 5: "two INVITEs,
        # one per RTP stream"); the side only sets recordDN, the initiator.
        streams = (StreamJob(Side.CUSTOMER, call.customer_dn, 0), StreamJob(Side.AGENT, call.agent_dn, 1))
        return RecordingJob(call, record_id or secrets.token_hex(8).upper(), call.dn_of(record_side),
                            trigger, streams, self.mode)


def dn_option_trigger(server: SipServerEmulation, call: Call) -> RecordingJob | None:
    """Step 1: a DN with record=true is recorded full time, agent side checked first.

    GIR-Methods: `record=true` on an Extension/ACD Position DN records the agent side; on a
    Trunk Group DN it records the origination side.
    """
    for side in (Side.AGENT, Side.CUSTOMER):
        config = server.dns.get(call.dn_of(side))
        if config is not None and config.record:
            return server.job_for(call, side, trigger=f"DN {config.dn} record=true")
    return None

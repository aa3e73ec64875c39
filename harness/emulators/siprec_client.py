"""SIPREC recording client (SRC) emulation: the metadata and bodies of one recording session
per call (RFC 7866, RFC 7865), next to the ARE Media Server modes (docs/genesys-flow.md §5).

The SRC records a Genesys call between a customer and an agent: one recording session, one
sendonly m-line per party labelled with the party's DN (RFC 4574 `a=label`), and metadata that
names the communication session (its RFC 7989 Session-ID derived from the CallUUID), the two
participants with their AORs, the two streams by label, and who sends / receives which stream
(participantstreamassoc). Over the call's life it sends `partial` updates (RFC 7865 (datamode)):
hold (the held party only receives), transfer (the agent leaves, another joins on the same
stream). `model` is always the SRC's full view: what the recorder must end up keeping.

Pure data in, bytes out: SIPp sends the bodies (harness/sipp/scenarios/siprec_uac.xml), scapy
the RTP; the time-code stream of each participant is the one its party's RTP carries.
"""

from __future__ import annotations

import base64
import datetime
import uuid
from dataclasses import dataclass, field, replace
from typing import Final

from harness.emulators.sip_server import RecordingJob, Side
from harness.protocol.siprec.metadata import (
    Association,
    CommunicationSession,
    Participant,
    RecordingMetadata,
    Stream,
    apply_update,
    build_metadata,
)
from harness.protocol.siprec.multipart import BodyPart, build_multipart

__all__ = ["GENESYS_NS", "METADATA_TYPE", "SiprecClient"]

METADATA_TYPE: Final = "application/rs-metadata+xml"
# AudioCodes SBCs pass the Genesys CallUUID in their own namespace (AC-Genesys); a recorder must
# ignore extension elements it does not know (RFC 7865).
GENESYS_NS: Final = "urn:ietf:params:xml:ns:Genesys"
_BOUNDARY: Final = "arec-siprec-boundary"
_NAMESPACE_UUID: Final = uuid.UUID("6f1d3b0e-6a3c-4d55-9b1e-7e5a2c4f9a10")


def _id(*parts: str) -> str:
    """RFC 7865 ids are base64 of a 128-bit UUID (24 characters ending "=="); deterministic."""
    return base64.b64encode(uuid.uuid5(_NAMESPACE_UUID, "/".join(parts)).bytes).decode("ascii")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class SiprecClient:
    calluuid: str
    customer_dn: str
    agent_dn: str
    host: str
    initial_metadata: bool = True
    vendor_extension: bool = False
    metadata_type: str = METADATA_TYPE
    model: RecordingMetadata = field(init=False)
    # AOR -> time-code stream the party's audio carries (0 customer, 1 agent: StreamJob.stream_index)
    stream_of_aor: dict[str, int] = field(init=False)
    updates_sent: int = 0
    sent_any: bool = False

    @classmethod
    def for_job(cls, job: RecordingJob, host: str, *, initial_metadata: bool = True,
                vendor_extension: bool = False) -> SiprecClient:
        return cls(job.call.calluuid, job.call.customer_dn, job.call.agent_dn, host, initial_metadata,
                   vendor_extension)

    def __post_init__(self) -> None:
        session = _id(self.calluuid, "cs")
        # RFC 7989 Session-ID: 32 lower-case hex digits.
        sip_session = uuid.uuid5(_NAMESPACE_UUID, self.calluuid).hex
        start = _now()
        self.model = RecordingMetadata(
            "complete",
            (CommunicationSession(session, (sip_session,), start),),
            (Participant(self._pid(Side.CUSTOMER), (self.aor(Side.CUSTOMER),), ("customer",)),
             Participant(self._pid(Side.AGENT), (self.aor(Side.AGENT),), ("agent",))),
            (Stream(self._sid(Side.CUSTOMER), session, self.customer_dn),
             Stream(self._sid(Side.AGENT), session, self.agent_dn)),
            (Association(self._pid(Side.CUSTOMER), (self._sid(Side.CUSTOMER),), (self._sid(Side.AGENT),), start),
             Association(self._pid(Side.AGENT), (self._sid(Side.AGENT),), (self._sid(Side.CUSTOMER),), start)),
        )
        self.stream_of_aor = {self.aor(Side.CUSTOMER): 0, self.aor(Side.AGENT): 1}

    # -- identities --------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, str]:
        """m-line order: customer first, agent second (as in single-session mode)."""
        return self.customer_dn, self.agent_dn

    def aor(self, side: Side, dn: str | None = None) -> str:
        return f"sip:{dn or (self.customer_dn if side is Side.CUSTOMER else self.agent_dn)}@{self.host}"

    def _pid(self, side: Side, dn: str | None = None) -> str:
        return _id(self.calluuid, "participant", dn or side.value)

    def _sid(self, side: Side) -> str:
        return _id(self.calluuid, "stream", side.value)

    # -- bodies ------------------------------------------------------------------------------
    def _document(self, meta: RecordingMetadata) -> bytes:
        extensions = {}
        if self.vendor_extension:
            session = self.model.sessions[0].session_id
            extensions[session] = {f"{{{GENESYS_NS}}}GenesysUUID": self.calluuid}
        return build_metadata(meta, extensions=extensions)

    def _multipart(self, sdp: bytes, meta: RecordingMetadata) -> tuple[bytes, str]:
        self.sent_any = True
        return build_multipart([
            BodyPart((("Content-Type", "application/sdp"),), sdp),
            BodyPart((("Content-Type", self.metadata_type), ("Content-Disposition", "recording-session")),
                     self._document(meta)),
        ], _BOUNDARY)

    def initial_body(self, sdp: bytes) -> tuple[bytes | None, str]:
        """(body, Content-Type) of the INVITE: multipart with the metadata, or the SDP alone
        (None: the leg sends its own SDP) when the metadata is sent later (RFC 7866 §9)."""
        if not self.initial_metadata:
            return None, "application/sdp"
        return self._multipart(sdp, self.model)

    def full_body(self, sdp: bytes) -> tuple[bytes, str]:
        """A re-INVITE carrying the complete metadata (the late metadata of RFC 7866 §9)."""
        self.updates_sent += 1
        return self._multipart(sdp, self.model)

    def _partial(self, sdp: bytes, update: RecordingMetadata) -> tuple[bytes, str]:
        self.model = apply_update(self.model, update)
        self.updates_sent += 1
        return self._multipart(sdp, update)

    def hold(self, sdp: bytes, side: Side) -> tuple[bytes, str]:
        """The `side` party is put on hold: it only receives (RFC 8068 hold flow, partial)."""
        other = Side.AGENT if side is Side.CUSTOMER else Side.CUSTOMER
        held = Association(self._pid(side), (), (self._sid(other),), _now())
        return self._partial(sdp, RecordingMetadata("partial", associations=(held,)))

    def transfer(self, sdp: bytes, new_agent_dn: str) -> tuple[bytes, str]:
        """The agent transfers the customer to `new_agent_dn`: the agent leaves, the new agent
        sends on the agent's stream (same label: the recorded channel continues)."""
        when = _now()
        old = next(a for a in self.model.associations if a.participant_id == self._pid(Side.AGENT))
        new_pid = self._pid(Side.AGENT, new_agent_dn)
        new_aor = self.aor(Side.AGENT, new_agent_dn)
        update = RecordingMetadata("partial", participants=(Participant(new_pid, (new_aor,), ("agent",)),),
                                   associations=(replace(old, send=(), recv=(), disassociate_time=when),
                                                 Association(new_pid, (self._sid(Side.AGENT),),
                                                             (self._sid(Side.CUSTOMER),), when)))
        self.stream_of_aor[new_aor] = self.stream_of_aor[self.aor(Side.AGENT)]
        return self._partial(sdp, update)

    def transfer_new_stream(self, sdp: bytes, new_agent_dn: str) -> tuple[bytes, str]:
        """The agent transfers the customer to `new_agent_dn`, whose audio the SRC sends in a new
        m-line labelled `new_agent_dn` (RFC 7866 §7.1.1.1: a re-INVITE may add streams): the
        agent leaves, a new participant and a new stream join (partial metadata). `sdp` is the
        re-offer with that extra m-line."""
        when = _now()
        old = next(a for a in self.model.associations if a.participant_id == self._pid(Side.AGENT))
        new_pid = self._pid(Side.AGENT, new_agent_dn)
        new_sid = _id(self.calluuid, "stream", new_agent_dn)
        session = self.model.sessions[0].session_id
        update = RecordingMetadata(
            "partial", participants=(Participant(new_pid, (self.aor(Side.AGENT, new_agent_dn),), ("agent",)),),
            streams=(Stream(new_sid, session, new_agent_dn),),
            associations=(replace(old, send=(), recv=(), disassociate_time=when),
                          Association(new_pid, (new_sid,), (self._sid(Side.CUSTOMER),), when)))
        return self._partial(sdp, update)

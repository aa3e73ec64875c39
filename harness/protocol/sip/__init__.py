"""SIP codec and state machines (RFC 3261), sans-IO.

Re-exports the message codec: URIs (§19.1), header values (§20), messages and framing
(§7, §18.3).
"""

from harness.protocol.sip.headers import (
    COMPACT_FORMS,
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    split_header_values,
)
from harness.protocol.sip.message import (
    Headers,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    build_response,
    check_require,
    parse_message,
)
from harness.protocol.sip.uri import SipUri

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "Headers",
    "NameAddr",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamFramer",
    "Via",
    "build_response",
    "canonical_name",
    "check_require",
    "parse_message",
    "split_header_values",
]

"""The two error families of the protocol core (docs/architecture.md §5, the h11 model).

* `RemoteProtocolError`: the *peer* sent something we cannot accept. It carries the SIP
  response RFC 3261 asks us to send back (400 for a malformed message, 505 for an
  unsupported SIP version, 416 for an unsupported URI scheme, 420 for an unsupported
  `Require` option tag, 481 for an unknown dialog or transaction, ...). A UAS adapter turns
  it into that response when the request was parseable enough to answer, and drops it
  otherwise (RFC 3261 §18.3: a malformed datagram that cannot be answered is discarded).
* `LocalProtocolError`: *we* (the caller of the core) misused it, e.g. asked to send a
  response on a transaction that already completed. That is a bug in our code.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class of both families."""


class LocalProtocolError(ProtocolError):
    """Our own code tried to do something the protocol state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer violated the protocol; `status`/`reason` is the response RFC 3261 asks for.

    `extra_headers` lists headers the response must carry, e.g. `("Unsupported", "foo")`
    with a 420 (RFC 3261 §8.2.2.3) or `("Accept", "application/sdp")` with a 415 (§8.2.3).
    """

    def __init__(
        self,
        message: str,
        status: int = 400,
        reason: str = "Bad Request",
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.extra_headers = extra_headers

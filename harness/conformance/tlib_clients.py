"""The scenario's own T-Lib clients (agent desktop, supervisor, routing strategy) over TCP,
and the one-line descriptions of requests and answers the scenario timeline uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.emulators.tlib_endpoint import Address
from harness.emulators.tlib_server import BlockingTlibClient
from harness.protocol.tlib import Event, EventError, KVValue, RecordOp, Request

__all__ = ["SCENARIO_CLIENT_FIRST_REFERENCE_ID", "TLIB_ANSWER_TIMEOUT_S", "TlibClient", "describe_answer",
           "request_summary"]

# A scenario client's request may make SIP Server set up recording sessions (SIPp legs) before
# it answers: much longer than a T-Lib round trip.
TLIB_ANSWER_TIMEOUT_S = 60.0
SCENARIO_CLIENT_FIRST_REFERENCE_ID = 100_000_000


@dataclass(slots=True)
class TlibClient:
    """A T-Lib client of the scenario (agent desktop, supervisor, routing strategy) over TCP:
    the wire format of docs/tlib-emulation.md, on the same T-Server port as the recorder."""

    name: str
    dn: str
    connection: BlockingTlibClient

    @property
    def address(self) -> Address:
        host, port = self.connection.sock.getsockname()[:2]
        return str(host), int(port)

    def _exchange(self, request: Request) -> Event:
        return self.connection.wait_answer(request)

    def register(self) -> Event:
        return self._exchange(self.connection.core.register_address(self.dn))

    def private_service(self, op: RecordOp, conn_id: str, extensions: Mapping[str, KVValue],
                        this_dn: str | None = None) -> Event:
        core = self.connection.core
        return self._exchange(core.private_service(this_dn or self.dn, conn_id, core.private_msgs.msg_id(op),
                                                   extensions))

    def route_call(self, conn_id: str, other_dn: str, extensions: Mapping[str, KVValue],
                   user_data: Mapping[str, KVValue] | None = None) -> Event:
        return self._exchange(self.connection.core.route_call(self.dn, conn_id, other_dn, extensions=extensions,
                                                              user_data=user_data or {}))

    def user_data(self, conn_id: str, data: Mapping[str, KVValue], *, update: bool = False) -> Event:
        core = self.connection.core
        build = core.update_user_data if update else core.attach_user_data
        return self._exchange(build(self.dn, conn_id, data))

    def close(self) -> None:
        self.connection.close()


def describe_answer(answer: Event | None) -> str:
    if answer is None:
        return "no answer"
    if isinstance(answer, EventError):
        return f"EventError {answer.error_code} ({answer.error_message})"
    return answer.MESSAGE


def request_summary(request: Request) -> str:
    fields = {"ThisDN": request.this_dn, "ConnID": getattr(request, "conn_id", None),
              "PrivateMsgID": getattr(request, "private_msg_id", None)}
    return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)

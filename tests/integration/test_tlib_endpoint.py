"""The scenario's T-Server on TCP: pytest-thread actions reach registered clients over the socket,
a garbage client disturbs nobody, the traffic log pairs requests with answers, stop is clean."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.emulators.sip_server import RecordingJob, SipServerEmulation
from harness.emulators.tlib_endpoint import TlibEndpoint
from harness.emulators.tlib_server import BlockingTlibClient
from harness.protocol.tlib import (
    ErrorCode,
    EventACK,
    EventError,
    EventEstablished,
    EventPrivateInfo,
    EventRegistered,
    EventReleased,
    EventRinging,
    RecordOp,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint() -> Iterator[TlibEndpoint]:
    with TlibEndpoint(SipServerEmulation()) as running:
        yield running


def _client(endpoint: TlibEndpoint, dn: str) -> BlockingTlibClient:
    client = BlockingTlibClient("127.0.0.1", endpoint.port, timeout=5.0)
    assert isinstance(client.wait_answer(client.core.register_address(dn)), EventRegistered)
    return client


def test_events_of_a_call_placed_from_another_thread_reach_both_registered_clients(endpoint: TlibEndpoint) -> None:
    with _client(endpoint, "7001") as agent, _client(endpoint, "5551234") as customer:
        call = endpoint.call(lambda: endpoint.tserver.place_call("5551234", "7001"))
        ringing = agent.wait_event(lambda e: isinstance(e, EventRinging))
        established = agent.wait_event(lambda e: isinstance(e, EventEstablished))
        assert (ringing.conn_id, established.call_uuid) == (call.conn_id, call.calluuid)  # type: ignore[attr-defined]
        other = customer.wait_event(lambda e: isinstance(e, EventEstablished))
        assert other.this_dn == "5551234"  # type: ignore[attr-defined]
        endpoint.call(lambda: endpoint.tserver.release_call(call))
        released = customer.wait_event(lambda e: isinstance(e, EventReleased))
        assert released.conn_id == call.conn_id  # type: ignore[attr-defined]


def test_a_garbage_client_does_not_disturb_the_others(endpoint: TlibEndpoint) -> None:
    with _client(endpoint, "7001") as agent, BlockingTlibClient("127.0.0.1", endpoint.port) as garbage:
        garbage.send_raw(b"this is not json\n")
        error = garbage.wait_event(lambda e: isinstance(e, EventError))
        assert error.error_code == ErrorCode.TERR_MALFORMED  # type: ignore[attr-defined]
        garbage.send_raw(b"x" * 70_000 + b"\n")  # over the line limit: EventError, then closed
        assert garbage.wait_closed()
        call = endpoint.call(lambda: endpoint.tserver.place_call("5551234", "7001"))
        established = agent.wait_event(lambda e: isinstance(e, EventEstablished))
        assert established.conn_id == call.conn_id  # type: ignore[attr-defined]


def test_requests_of_a_client_are_logged_with_their_answers_and_its_address(endpoint: TlibEndpoint) -> None:
    endpoint.tserver.sip.configure_dn("7001", record=True)
    with _client(endpoint, "7001") as supervisor, _client(endpoint, "7002") as other:
        call = endpoint.call(lambda: endpoint.tserver.place_call("5551234", "7001"))
        mine = supervisor.sock.getsockname()
        answer = supervisor.wait_answer(supervisor.core.record(RecordOp.START, "7001", call.conn_id))
        assert isinstance(answer, EventError) and answer.error_code == ErrorCode.TERR_INVALID_STATE  # already recorded
        assert isinstance(other.wait_answer(other.core.record(RecordOp.PAUSE, "7002", "nope")), EventError)
        pairs = endpoint.answers_to(lambda peer: peer == mine)
        assert [(type(r).__name__, type(a).__name__) for r, a in pairs] == [
            ("RequestRegisterAddress", "EventRegistered"), ("RequestPrivateService", "EventError")]
        assert endpoint.registrants("7001") == [mine]
        assert endpoint.registrants("7001", excluding=frozenset({mine})) == []


def test_events_queued_before_a_slow_recording_callback_can_be_flushed_first(endpoint: TlibEndpoint) -> None:
    """SIP Server reports the call (EventEstablished) before the recording sessions are set up:
    the callback runs on the loop thread and may flush what is queued so far."""
    endpoint.tserver.sip.configure_dn("7001", record=True)
    seen_in_callback: list[str] = []
    with _client(endpoint, "7001") as agent:

        def on_recording(job: RecordingJob) -> None:
            assert endpoint.on_loop_thread()
            endpoint.flush()
            seen_in_callback.append(type(agent.wait_event(lambda e: isinstance(e, EventEstablished))).__name__)

        endpoint.tserver.on_recording = on_recording
        endpoint.call(lambda: endpoint.tserver.place_call("5551234", "7001"))
        assert seen_in_callback == ["EventEstablished"]
        started = agent.wait_event(lambda e: isinstance(e, EventPrivateInfo))
        assert started.extensions["record_state"] == "started"  # type: ignore[attr-defined]


def test_an_exception_on_the_loop_reaches_the_caller_and_the_endpoint_keeps_serving(endpoint: TlibEndpoint) -> None:
    def boom() -> None:
        raise ValueError("bad scenario step")

    with pytest.raises(ValueError, match="bad scenario step"):
        endpoint.call(boom)
    with _client(endpoint, "7001") as agent:
        call = endpoint.call(lambda: endpoint.tserver.place_call("5551234", "7001"))
        answer = agent.wait_answer(agent.core.attach_user_data("7001", call.conn_id, {"Segment": "gold"}))
        assert answer.user_data["Segment"] == "gold"  # type: ignore[attr-defined]


def test_stop_closes_the_connections_and_the_port() -> None:
    endpoint = TlibEndpoint().start()
    port = endpoint.port
    client = _client(endpoint, "7001")
    endpoint.stop()
    assert client.wait_closed()
    client.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
        pass
    endpoint.stop()  # idempotent
    with pytest.raises(RuntimeError):
        endpoint.call(lambda: None)


def test_ack_answers_are_paired_too(endpoint: TlibEndpoint) -> None:
    with _client(endpoint, "7001") as desktop:
        call = endpoint.call(lambda: endpoint.tserver.place_call("5551234", "7001"))
        endpoint.tserver.on_recording = lambda job: None
        answer = desktop.wait_answer(desktop.core.record(RecordOp.START, "7001", call.conn_id))
        assert isinstance(answer, EventACK)
        pairs = endpoint.answers_to(lambda peer: True)
        assert isinstance(pairs[-1][1], EventACK)

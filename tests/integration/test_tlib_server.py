"""T-Lib emulation T-Server over loopback TCP: bad clients never hurt the good ones."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest

from harness.emulators.tlib_server import BlockingTlibClient, TlibServer
from harness.protocol.tlib import (
    BaseTServerHandler,
    ClientId,
    ErrorCode,
    EventACK,
    EventError,
    EventPartyInfo,
    EventPrivateInfo,
    EventRegistered,
    EventRinging,
    RecordOp,
    RecordState,
    RequestPrivateService,
    TServerCore,
    encode,
)

pytestmark = pytest.mark.integration

CONN = "006a02a0d8c3e001"
UUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
T = TypeVar("T")


class Switch(BaseTServerHandler):
    def __init__(self) -> None:
        self.core: TServerCore | None = None

    def on_private_service(
        self, client: ClientId, request: RequestPrivateService
    ) -> EventACK | EventError | EventPrivateInfo:
        if request.extensions.get("id") == "boom":
            raise RuntimeError("handler bug")
        assert self.core is not None
        self.core.notify(
            EventPrivateInfo.recording(RecordState.STARTED, "rec-1", this_dn="1002", conn_id=CONN, call_uuid=UUID)
        )
        return request.ack()


@dataclass
class Running:
    server: TlibServer
    port: int
    loop: asyncio.AbstractEventLoop

    def on_loop(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(5)

    def client(self) -> BlockingTlibClient:
        return BlockingTlibClient("127.0.0.1", self.port, timeout=5.0)


@pytest.fixture
def running() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    switch = Switch()
    core = TServerCore(switch, max_line_length=4096)
    switch.core = core
    core.open_call(CONN, UUID, ("1001", "1002"))
    server = TlibServer(core)
    port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(5)
    try:
        yield Running(server, port, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_good_client_keeps_getting_answers_while_another_sends_garbage_and_leaves(running: Running) -> None:
    with running.client() as good, running.client() as bad:
        assert isinstance(good.wait_answer(good.core.register_address("1002")), EventRegistered)
        assert isinstance(bad.wait_answer(bad.core.register_address("1002")), EventRegistered)

        bad.send_raw(b"\x00\xff garbage {{{\n")
        err = bad.wait_event(lambda e: isinstance(e, EventError))
        assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_MALFORMED
        # the bad client is still served after a bad line
        assert isinstance(bad.wait_answer(bad.core.query_call("1002", CONN)), EventPartyInfo)
        # ... then leaves in the middle of a request
        bad.send_raw(encode(RequestPrivateService(reference_id=50, private_msg_id=3013, this_dn="1002", conn_id=CONN))[:25])
        bad.close()

        answer = good.wait_answer(good.core.record(RecordOp.START, "1002", CONN))
        assert isinstance(answer, EventACK)
        info = good.wait_event(lambda e: isinstance(e, EventPrivateInfo))
        assert isinstance(info, EventPrivateInfo) and info.record_state is RecordState.STARTED

        # the departed client's registration is gone: call events reach only the good one
        def registrants() -> int:
            return len(running.server.core.registrants("1002"))

        for _ in range(50):
            if running.on_loop(registrants) == 1:
                break
            threading.Event().wait(0.02)
        assert running.on_loop(registrants) == 1
        delivered = running.on_loop(lambda: running.server.notify(EventRinging(this_dn="1002", conn_id=CONN, call_uuid=UUID)))
        assert delivered == 1
        assert isinstance(good.wait_event(lambda e: isinstance(e, EventRinging)), EventRinging)


def test_huge_line_closes_that_connection_only(running: Running) -> None:
    with running.client() as good, running.client() as flooder:
        assert isinstance(good.wait_answer(good.core.register_address("1001")), EventRegistered)
        flooder.send_raw(b'{"message":"RequestRegisterAddress","ThisDN":"' + b"9" * 10_000)
        assert flooder.wait_closed()
        err = flooder.core.next_event()
        assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_MSG_TOO_LONG
        answer = good.wait_answer(good.core.query_call("1001", CONN))
        assert isinstance(answer, EventPartyInfo) and answer.parties == ("1001", "1002")


def test_handler_crash_closes_that_connection_only(running: Running) -> None:
    with running.client() as good, running.client() as crasher:
        assert isinstance(crasher.wait_answer(crasher.core.register_address("1002")), EventRegistered)
        crasher.core.record(RecordOp.START, "1002", CONN, record_id="boom")
        crasher.flush()
        assert crasher.wait_closed()
        assert isinstance(good.wait_answer(good.core.register_address("1002")), EventRegistered)
        assert isinstance(good.wait_answer(good.core.record(RecordOp.START, "1002", CONN)), EventACK)


def test_request_split_across_writes_and_unregistered_dn(running: Running) -> None:
    with running.client() as client:
        request = client.core.record(RecordOp.START, "7001", CONN)
        data = client.core.data_to_send()
        for i in range(0, len(data), 7):
            client.send_raw(data[i : i + 7])
        answer = client.wait_answer(request)
        assert isinstance(answer, EventError)
        assert (answer.error_code, answer.reference_id) == (ErrorCode.TERR_DN_NOT_REGISTERED, request.reference_id)

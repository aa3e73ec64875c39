"""Server transaction state machines (RFC 3261 §17.2, RFC 6026) driven with `now` arithmetic."""

from __future__ import annotations

import pytest

from harness.protocol.errors import LocalProtocolError
from harness.protocol.sip.transaction import (
    TRANSITIONS,
    AckDisposition,
    Outgoing,
    ServerTransaction,
    TimedOut,
    TimerConfig,
    TimerName,
    TransactionKey,
    TransactionKind,
    TxInput,
    TxState,
)

DEST = ("127.0.0.1", 5070)


def key(method: str = "INVITE", branch: str | None = "z9hG4bK-1") -> TransactionKey:
    return TransactionKey.for_request(
        method=method,
        branch=branch,
        sent_by_host="127.0.0.1",
        sent_by_port=5070,
        call_id="c1",
        from_tag="ft",
        cseq_number=1,
    )


def out(tag: bytes) -> Outgoing:
    return Outgoing(tag, DEST)


def invite_tx(reliable: bool = False, timers: TimerConfig | None = None) -> ServerTransaction:
    return ServerTransaction(key(), TransactionKind.INVITE, reliable=reliable, timers=timers or TimerConfig())


def test_key_matching_rules() -> None:
    # §17.2.3: ACK matches the INVITE transaction; CANCEL does not.
    assert key("ACK") == key("INVITE")
    assert key("CANCEL") != key("INVITE")
    assert key("CANCEL").as_method("INVITE") == key("INVITE")
    assert key(branch="z9hG4bK-2") != key()
    # Host part of sent-by is case-insensitive.
    upper = TransactionKey.for_request(
        method="INVITE",
        branch="z9hG4bK-1",
        sent_by_host="EXAMPLE.com",
        sent_by_port=None,
        call_id="x",
        from_tag=None,
        cseq_number=9,
    )
    lower = TransactionKey.for_request(
        method="INVITE",
        branch="z9hG4bK-1",
        sent_by_host="example.COM",
        sent_by_port=None,
        call_id="y",
        from_tag="q",
        cseq_number=1,
    )
    assert upper == lower


def test_rfc2543_fallback_key() -> None:
    a = key(branch="old-branch")
    assert a.branch is None and a.legacy == ("c1", "ft", 1)
    assert key("ACK", branch=None) == key("INVITE", branch=None)


def test_transition_table_shape() -> None:
    assert TRANSITIONS[TransactionKind.INVITE][TxState.PROCEEDING][TxInput.SEND_2XX] is TxState.ACCEPTED
    assert TxInput.SEND_2XX not in TRANSITIONS[TransactionKind.NON_INVITE][TxState.TRYING]
    for kind in TransactionKind:
        assert TRANSITIONS[kind][TxState.TERMINATED] == {}


def test_invite_non2xx_timer_g_doubles_to_t2_then_h() -> None:
    tx = invite_tx()
    tx.send_response(100, out(b"100"), 0.0)
    assert tx.receive_request(0.1) == out(b"100")  # Proceeding: resend latest provisional
    tx.send_response(486, out(b"486"), 0.0)
    assert tx.state is TxState.COMPLETED
    fired: list[float] = []
    now = 0.0
    while not tx.terminated:
        deadline = tx.next_deadline()
        assert deadline is not None
        now = deadline
        for item in tx.on_timer(now):
            if isinstance(item, Outgoing):
                fired.append(now)
            if isinstance(item, TimedOut):
                assert item.timer is TimerName.H
    # G: 0.5, then +1, +2, +4 (T2 cap), +4 ... until H at 32.
    assert fired[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(b - a <= 4.0 for a, b in zip(fired, fired[1:], strict=False))
    assert now == 32.0
    assert tx.next_deadline() is None


def test_invite_ack_confirmed_then_timer_i() -> None:
    tx = invite_tx()
    tx.send_response(404, out(b"404"), 0.0)
    assert tx.receive_request(1.0) == out(b"404")
    assert tx.receive_ack(1.2) is AckDisposition.ABSORBED
    assert tx.state is TxState.CONFIRMED
    assert tx.receive_ack(1.3) is AckDisposition.ABSORBED  # retransmitted ACK absorbed
    assert tx.next_deadline() == pytest.approx(6.2)  # T4
    assert tx.on_timer(6.2) == []
    assert tx.terminated


def test_invite_reliable_no_g_and_immediate_i() -> None:
    tx = invite_tx(reliable=True)
    tx.send_response(500, out(b"500"), 0.0)
    assert tx.next_deadline() == 32.0  # only H
    assert tx.receive_ack(0.5) is AckDisposition.ABSORBED
    assert tx.terminated  # Timer I = 0 on reliable transports


def test_invite_accepted_state_rfc6026() -> None:
    tx = invite_tx()
    tx.send_response(200, out(b"200"), 0.0)
    assert tx.state is TxState.ACCEPTED
    assert tx.receive_request(0.2) is None  # absorbed
    assert tx.receive_ack(0.3) is AckDisposition.PASS_TO_TU
    tx.send_response(200, out(b"200"), 0.5)  # TU retransmission passes through
    assert tx.next_deadline() == 32.0  # Timer L from the first 2xx
    assert tx.on_timer(31.9) == []
    assert tx.on_timer(32.0) == []
    assert tx.terminated


def test_non_invite_udp_timer_j_and_retransmission() -> None:
    tx = ServerTransaction(key("OPTIONS"), TransactionKind.NON_INVITE, reliable=False)
    assert tx.state is TxState.TRYING
    assert tx.receive_request(0.0) is None  # Trying: discarded
    tx.send_response(200, out(b"200"), 0.1)
    assert tx.state is TxState.COMPLETED
    assert tx.receive_request(1.0) == out(b"200")
    assert tx.next_deadline() == pytest.approx(32.1)
    tx.on_timer(32.1)
    assert tx.terminated


def test_non_invite_reliable_terminates_at_once() -> None:
    tx = ServerTransaction(key("BYE"), TransactionKind.NON_INVITE, reliable=True)
    tx.send_response(180, out(b"180"), 0.0)
    assert tx.state is TxState.PROCEEDING
    tx.send_response(200, out(b"200"), 0.0)
    assert tx.terminated and tx.next_deadline() is None


def test_tu_misuse_is_local_error() -> None:
    tx = ServerTransaction(key("BYE"), TransactionKind.NON_INVITE, reliable=False)
    tx.send_response(200, out(b"200"), 0.0)
    with pytest.raises(LocalProtocolError):
        tx.send_response(200, out(b"200"), 0.0)
    inv = invite_tx()
    with pytest.raises(LocalProtocolError):
        inv.send_response(99, out(b"x"), 0.0)
    inv.send_response(603, out(b"603"), 0.0)
    with pytest.raises(LocalProtocolError):
        inv.send_response(200, out(b"200"), 0.0)


def test_configurable_timers() -> None:
    tx = invite_tx(timers=TimerConfig(t1=0.01, t2=0.04, t4=0.05))
    tx.send_response(480, out(b"480"), 0.0)
    assert tx.next_deadline() == pytest.approx(0.01)
    tx.on_timer(1.0)  # way past H = 0.64
    assert tx.terminated
    with pytest.raises(LocalProtocolError):
        TimerConfig(t1=5, t2=4)


def test_ack_before_final_is_ignored_and_transport_error() -> None:
    tx = invite_tx()
    assert tx.receive_ack(0.0) is AckDisposition.IGNORED
    assert tx.transport_error(0.0) is True
    assert tx.terminated

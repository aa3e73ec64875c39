"""The Resource Manager proxy core: pool rotation, OPTIONS liveness, try-next, affinity (GVP-Scale,
GVP-HA; RFC 3261 §16). In memory: bytes in, bytes out, the clock passed in."""

from __future__ import annotations

from harness.protocol.genesys import RecordingTarget, build_recording_uri
from harness.protocol.sip.message import SipRequest, SipResponse, build_response, parse_message
from harness.protocol.sip.resource_manager import (
    SESSION_HEADER,
    MemberDown,
    MemberUp,
    Outgoing,
    Policy,
    PoolExhausted,
    ResourceManagerConfig,
    ResourceManagerCore,
    SessionRouted,
    TriedNext,
)
from harness.protocol.sip.uac import Answered, Failed, RecordingSessionUac

RM = ("127.0.0.1", 5060)
A = ("127.0.0.1", 6001)
B = ("127.0.0.1", 6002)
MS = ("127.0.0.1", 40000)
CALLUUID = "0123456789ABCDEF0123456789ABCDEF"


def _core(policy: Policy = Policy.ROUND_ROBIN, now: float = 0.0) -> ResourceManagerCore:
    return ResourceManagerCore(ResourceManagerConfig(RM, (A, B), policy=policy), now)


def _uac(dn: str = "7001", calluuid: str = CALLUUID) -> RecordingSessionUac:
    return RecordingSessionUac(build_recording_uri(RecordingTarget("R1", calluuid, dn, "7001"), *RM), MS)


def _sent(core: ResourceManagerCore) -> list[Outgoing]:
    return core.data_to_send()


def _to(out: list[Outgoing], destination: tuple[str, int]) -> list[bytes]:
    return [o.data for o in out if o.destination == destination]


def _request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def _response(data: bytes) -> SipResponse:
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message


def _answer(data: bytes, status: int, tag: str = "rec") -> bytes:
    return build_response(_request(data), status, to_tag=tag).to_bytes()


def _invites(out: list[Outgoing], destination: tuple[str, int]) -> list[SipRequest]:
    return [r for r in map(_request, [d for d in _to(out, destination) if not d.startswith(b"SIP/")])
            if r.method == "INVITE"]


def test_the_forwarded_invite_carries_rm_via_on_top_the_session_id_and_max_forwards_decremented() -> None:
    core = _core()
    core.receive(_uac().invite(b"v=0\r\n", 0.0), MS, 0.0)
    out = _sent(core)
    (trying,) = [_response(d) for d in _to(out, MS)]
    assert trying.status == 100
    (invite,) = _invites(out, A)
    vias = invite.vias
    assert len(vias) == 2 and vias[0].sent_by == "127.0.0.1:5060" and vias[1].sent_by == "127.0.0.1:40000"
    assert invite.headers.get(SESSION_HEADER)
    assert invite.max_forwards == 69
    assert invite.body == b"v=0\r\n"


def test_round_robin_alternates_the_pool_and_a_2xx_reaches_media_server_without_rm_via() -> None:
    core = _core()
    first, second = _uac("7001"), _uac("5551", calluuid="1" * 32)
    core.receive(first.invite(b"", 0.0), MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    core.receive(second.invite(b"", 0.0), MS, 0.0)
    (to_b,) = _invites(_sent(core), B)
    events = core.receive(_answer(to_a.to_bytes(), 200), A, 0.1)
    assert events == [SessionRouted(first.call_id, A, 0.1, to_a.headers.get(SESSION_HEADER) or "")]
    (ok,) = _to(_sent(core), MS)
    assert len(_response(ok).vias) == 1
    _, uac_events = first.receive(ok, 0.1)
    assert isinstance(uac_events[0], Answered)
    assert to_b.call_id == second.call_id


def test_a_retry_status_is_acked_hop_by_hop_and_the_invite_goes_to_the_next_member() -> None:
    core = _core()
    uac = _uac()
    core.receive(uac.invite(b"", 0.0), MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    events = core.receive(_answer(to_a.to_bytes(), 503), A, 0.1)
    assert events == [TriedNext(uac.call_id, A, 503, 0.1)]
    out = _sent(core)
    (ack,) = [_request(d) for d in _to(out, A)]
    assert ack.method == "ACK" and ack.top_via.branch == to_a.top_via.branch  # RFC 3261 §17.1.1.3
    (to_b,) = _invites(out, B)
    assert to_b.top_via.branch != to_a.top_via.branch
    assert not _to(out, MS)  # Media Server hears nothing of the refusal
    assert core.receive(_answer(to_b.to_bytes(), 200), B, 0.2)[0] == SessionRouted(
        uac.call_id, B, 0.2, to_b.headers.get(SESSION_HEADER) or "")


def test_a_final_non_retry_status_goes_back_to_media_server() -> None:
    core = _core()
    uac = _uac()
    core.receive(uac.invite(b"", 0.0), MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    assert core.receive(_answer(to_a.to_bytes(), 404), A, 0.1) == []
    out = _sent(core)
    assert not _invites(out, B)
    (refusal,) = _to(out, MS)
    assert _response(refusal).status == 404
    _, events = uac.receive(refusal, 0.1)
    assert isinstance(events[0], Failed) and events[0].status == 404


def test_an_unanswered_invite_takes_the_member_out_and_tries_the_next() -> None:
    core = _core()
    uac = _uac()
    core.receive(uac.invite(b"", 0.0), MS, 0.0)
    _sent(core)
    deadline = core.next_deadline()
    assert deadline is not None
    events = core.on_timer(2.0)
    assert MemberDown(A, 2.0, "INVITE unanswered") in events and TriedNext(uac.call_id, A, None, 2.0) in events
    assert _invites(_sent(core), B)
    assert core.live_members == [B]


def test_all_members_refusing_gives_media_server_the_last_answer() -> None:
    core = _core()
    uac = _uac()
    core.receive(uac.invite(b"", 0.0), MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    core.receive(_answer(to_a.to_bytes(), 486), A, 0.1)
    (to_b,) = _invites(_sent(core), B)
    events = core.receive(_answer(to_b.to_bytes(), 503), B, 0.2)
    assert PoolExhausted(uac.call_id, 503, 0.2) in events
    (final,) = [_response(d) for d in _to(_sent(core), MS)]
    assert final.status == 503


def test_options_pings_take_a_silent_member_out_of_rotation_and_back_in_when_it_answers() -> None:
    core = _core()
    core.on_timer(0.0)
    pings = _sent(core)
    assert {o.destination for o in pings} == {A, B}
    assert all(_request(o.data).method == "OPTIONS" for o in pings)
    (ping_a,) = _to(pings, A)
    core.receive(_answer(ping_a, 200), A, 0.1)
    assert core.on_timer(0.4) == [MemberDown(B, 0.4, "OPTIONS unanswered")]
    assert core.live_members == [A]
    uac = _uac()
    core.receive(uac.invite(b"", 0.45), MS, 0.45)
    assert _invites(_sent(core), A)
    core.on_timer(0.5)
    (ping_b,) = _to([o for o in _sent(core) if o.destination == B], B)
    assert core.receive(_answer(ping_b, 200), B, 0.6) == [MemberUp(B, 0.6)]
    assert core.live_members == [A, B]


def test_least_used_prefers_the_member_with_fewer_sessions() -> None:
    core = _core(Policy.LEAST_USED)
    first = _uac("7001")
    core.receive(first.invite(b"", 0.0), MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    core.receive(_answer(to_a.to_bytes(), 200), A, 0.1)
    _sent(core)
    core.receive(_uac("5551", calluuid="1" * 32).invite(b"", 0.2), MS, 0.2)
    assert _invites(_sent(core), B)  # A holds one session, B none
    assert core.sessions_of(A) == 1


def test_in_dialog_requests_keep_the_sessions_member_both_ways() -> None:
    core = _core()
    uac = _uac()
    core.receive(uac.invite(b"", 0.0), MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    core.receive(_answer(to_a.to_bytes(), 200), A, 0.1)
    (ok,) = _to(_sent(core), MS)
    (ack,), _ = uac.receive(ok, 0.1)
    core.receive(ack, MS, 0.1)
    (relayed_ack,) = [_request(d) for d in _to(_sent(core), A)]
    assert relayed_ack.method == "ACK" and len(relayed_ack.vias) == 2
    # The recorder hangs up (an RTP timeout): the BYE goes to the Media Server of the dialog.
    bye = SipRequest("BYE", uac.request_uri, relayed_ack.headers.copy())
    bye.headers.set("CSeq", "1 BYE")
    bye.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-rec-bye")
    core.receive(bye.to_bytes(), A, 0.5)
    (to_ms,) = [_request(d) for d in _to(_sent(core), MS)]
    assert to_ms.method == "BYE" and len(to_ms.vias) == 2
    core.receive(_answer(to_ms.to_bytes(), 200, tag="ms"), MS, 0.6)
    (back,) = [_response(d) for d in _to(_sent(core), A)]
    assert back.status == 200 and len(back.vias) == 1
    assert core.sessions_of(A) == 0


def test_an_invite_retransmission_goes_to_the_same_member_once_more() -> None:
    core = _core()
    data = _uac().invite(b"", 0.0)
    core.receive(data, MS, 0.0)
    (first,) = _invites(_sent(core), A)
    core.receive(data, MS, 0.5)
    out = _sent(core)
    (again,) = _invites(out, A)
    assert again.top_via.branch == first.top_via.branch and not _invites(out, B)


def test_the_same_input_gives_the_same_output() -> None:
    def run() -> list[bytes]:
        core = _core()
        core.on_timer(0.0)
        uac = RecordingSessionUac(build_recording_uri(RecordingTarget("R1", CALLUUID, "7001", "7001"), *RM), MS,
                                  call_id="fixed@ms", _from_tag="ft")
        core.receive(uac.invite(b"", 0.0).replace(uac._branch.encode(), b"fixedbranch"), MS, 0.0)
        return [o.data for o in core.data_to_send()]

    assert run() == run()


def test_the_sessions_of_one_call_stay_on_the_member_that_took_the_first() -> None:
    core = _core()
    customer, agent = _uac("5551"), _uac("7001")
    core.receive(customer.invite(b"", 0.0), MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    core.receive(_answer(to_a.to_bytes(), 200), A, 0.1)
    _sent(core)
    core.receive(agent.invite(b"", 0.2), MS, 0.2)
    assert _invites(_sent(core), A)  # same calluuid: not round-robin to B


def test_a_cancel_is_answered_by_rm_and_sent_on_to_the_member_on_the_invites_branch() -> None:
    core = _core()
    uac = _uac()
    invite_bytes = uac.invite(b"", 0.0)
    core.receive(invite_bytes, MS, 0.0)
    (to_a,) = _invites(_sent(core), A)
    invite = _request(invite_bytes)
    cancel = SipRequest("CANCEL", invite.uri, invite.headers.copy())
    cancel.headers.set("CSeq", f"{invite.cseq.number} CANCEL")
    core.receive(cancel.to_bytes(), MS, 0.1)
    out = _sent(core)
    (ok,) = [_response(d) for d in _to(out, MS)]
    assert ok.status == 200 and ok.cseq.method == "CANCEL"  # RFC 3261 §16.10
    (downstream,) = [_request(d) for d in _to(out, A)]
    assert downstream.method == "CANCEL" and downstream.top_via.branch == to_a.top_via.branch

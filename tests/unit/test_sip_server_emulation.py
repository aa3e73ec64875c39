"""SIP Server emulation: call model and the step-1 media-control decision."""

from harness.emulators.sip_server import SessionMode, Side, SipServerEmulation, new_calluuid


def test_calluuid_looks_like_genesys() -> None:
    uuid = new_calluuid()
    assert len(uuid) == 32 and uuid.isalnum() and uuid.upper() == uuid
    assert new_calluuid() != uuid


def test_always_record_dn_gives_one_job_with_both_streams() -> None:
    server = SipServerEmulation()
    server.configure_dn("7001", record=True)
    call = server.place_call("5551234", "7001", "PCMU")
    job = server.decide_recording(call)
    assert job is not None
    assert job.record_dn == "7001"
    assert [(s.side, s.dn) for s in job.streams] == [(Side.CUSTOMER, "5551234"), (Side.AGENT, "7001")]
    targets = job.targets()
    assert [t.dn for t in targets] == ["5551234", "7001"]
    assert {t.calluuid for t in targets} == {call.calluuid}
    assert {t.record_dn for t in targets} == {"7001"}


def test_single_session_mode_gives_one_target_with_other_dn() -> None:
    server = SipServerEmulation(mode=SessionMode.SINGLE_SESSION)
    server.configure_dn("7001", record=True)
    job = server.decide_recording(server.place_call("5551234", "7001", "PCMA"))
    assert job is not None
    (target,) = job.targets()
    assert (target.dn, target.other_dn) == ("5551234", "7001")


def test_no_record_option_means_no_job() -> None:
    server = SipServerEmulation()
    server.configure_dn("7002", record=False)
    call = server.place_call("5551234", "7002", "PCMU")
    assert server.decide_recording(call) is None
    assert server.decisions == [(call, None)]


def test_each_call_gets_its_own_conn_id() -> None:
    server = SipServerEmulation()
    first, second = server.place_call("1", "2", "PCMU"), server.place_call("1", "2", "PCMU")
    assert first.conn_id != second.conn_id and first.calluuid != second.calluuid

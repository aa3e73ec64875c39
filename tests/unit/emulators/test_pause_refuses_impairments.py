"""RuntimeControl.pause refuses a recording with impaired media (the impairment model cannot
continue across pause pieces: harness/emulators/runtime_control.py `_refuse_impaired`), before
any state change or pacer call; a ptime-only spec (nothing impaired on the wire) is not refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.emulators.runtime_control import ControlError, PauseProfile, RuntimeControl
from harness.media.impairments import parse_impairments


def _control(knobs: str | None) -> RuntimeControl:
    spec = parse_impairments(knobs) if knobs is not None else None
    # No destination: the stream is not live, so a pause that is not refused touches no pacer.
    stream = SimpleNamespace(job=SimpleNamespace(dn="7001"), impairment=spec, destination=None, pacer_id=None,
                             stopped_at=None)
    active = SimpleNamespace(streams=[stream], legs=[], job=SimpleNamespace(record_id="r1"))
    return RuntimeControl(SimpleNamespace(), active, PauseProfile.SILENCE)  # type: ignore[arg-type]


def test_a_pause_of_impaired_media_is_refused_and_changes_nothing() -> None:
    control = _control("loss=0.1,seed=3")
    with pytest.raises(ControlError, match=r"refused on impaired media \(DN 7001\).*across pause pieces"):
        control.pause()
    assert not control.paused and control.log == []


def test_clean_or_ptime_only_media_can_be_paused() -> None:
    for knobs in (None, "ptime=40"):
        control = _control(knobs)
        control.pause()
        assert control.paused

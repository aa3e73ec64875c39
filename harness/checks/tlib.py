"""What the recorder and SIP Server do over T-Lib (seed steps 8 and 9): the recorder registers
its DNs, keeps the call's attached data in its metadata, pauses on the PCI key; SIP Server refuses
control requests it cannot perform. Evidence: the T-Server emulation's view (plain values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.checks._finding import violation
from harness.spec.findings import Finding

__all__ = ["attached_data_kept", "control_error", "dn_registered", "recorder_controlled"]


def dn_registered(dn: str, registered: bool, timeout_s: float) -> list[Finding]:
    """Genesys ARE step 8: a recorder that is a T-Lib client registers the DNs it is configured
    for (RequestRegisterAddress) to receive their events."""
    if registered:
        return []
    return [violation("ARE-08-REGISTER-DNS", f"the recorder did not register DN {dn} with the T-Server within "
                      f"{timeout_s:.0f} s of being configured for it", observed="no RequestRegisterAddress",
                      expected=f"DN {dn} registered", stream=dn)]


def attached_data_kept(metadata: Mapping[str, object], key: str, value: str, *, updated: bool,
                       calluuid: str | None = None) -> list[Finding]:
    """The recording's metadata holds the call's attached data: set before the recording started
    (ARE-08-ATTACHED-DATA) and its value after an update during the call (-UPDATED)."""
    if str(metadata.get(key)) == value:
        return []
    observed, expected = f"{key}={metadata.get(key)!r}", f"{key}={value!r}"
    if updated:
        return [violation("ARE-08-ATTACHED-DATA-UPDATED", f"attached data {key} changed during the call is not up "
                          "to date in the recording's metadata", observed=observed, expected=expected,
                          calluuid=calluuid)]
    return [violation("ARE-08-ATTACHED-DATA", f"attached data {key} set before the recording started is not in "
                      "its metadata", observed=observed, expected=expected, calluuid=calluuid)]


def recorder_controlled(op: str, reached: bool, key: str, value: str, timeout_s: float,
                        recent_requests: Sequence[str]) -> list[Finding]:
    """Genesys ARE step 9: on the PCI key in the call's attached data the recorder itself asks SIP
    Server to pause / resume (GSIP_RECORD_PAUSE / _RESUME)."""
    if reached:
        return []
    return [violation("ARE-09-PAUSE-BY-RECORDER", f"{key}={value} was attached to the call but the recorder did not "
                      f"{op} the recording within {timeout_s:.0f} s",
                      observed="; ".join(recent_requests[-5:]) or "no request",
                      expected=f"GSIP_RECORD_{op.upper()} from the recorder")]


def control_error(answer: str, error_code: int | None, expected_code: int) -> list[Finding]:
    """A control request SIP Server cannot perform is answered EventError with the documented code.
    `answer`: the answer's description; `error_code`: its code when it is an EventError."""
    if error_code == expected_code:
        return []
    return [violation("ARE-09-CONTROL-ERRORS", "the control request was not refused with the expected EventError",
                      observed=answer, expected=f"EventError {expected_code}")]

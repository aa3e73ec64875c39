"""SIP Server has Media Server replicate the call's streams, one per party (seed step 5).
Evidence: the replication job's stream DNs (the scenario's fact) and the DNs the recording
sessions on the wire carry (their Request-URIs' dn / otherDN)."""

from __future__ import annotations

from collections.abc import Collection

from harness.checks._finding import violation
from harness.spec.findings import Finding

__all__ = ["one_stream_per_party"]


def one_stream_per_party(parties: Collection[str], job_dns: Collection[str] | None, wire_dns: Collection[str], *,
                         calluuid: str | None = None) -> list[Finding]:
    """GVP-MSRec: one replicated stream per party of the call. `job_dns` None: no replication job."""
    findings: list[Finding] = []
    wanted = set(parties)
    if job_dns is None or set(job_dns) != wanted:
        findings.append(violation("ARE-05-MEDIA-CONTROL-PER-PARTY", "replication job does not cover both parties",
                                  observed=str(job_dns and sorted(job_dns)), expected=" and ".join(sorted(wanted)),
                                  calluuid=calluuid))
    if set(wire_dns) != wanted:
        findings.append(violation("ARE-05-MEDIA-CONTROL-PER-PARTY",
                                  "the recording sessions on the wire do not carry one stream per party",
                                  observed=",".join(sorted(wire_dns)) or "none", expected=",".join(sorted(wanted)),
                                  calluuid=calluuid))
    return findings

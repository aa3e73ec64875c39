"""`arec validate --format json`: the whole result as one JSON document."""

from __future__ import annotations

import json

from harness.offline.result import ValidationResult
from harness.offline.rows import delivery_rows, replication_rows, summary, table_rows
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Severity

__all__ = ["render_json"]


def render_json(result: ValidationResult) -> str:
    catalogue = load_catalogue()
    failing = set(result.failed)
    warned = {f.requirement_id for f in result.findings if f.severity is not Severity.MUST}
    doc = {
        "capture": result.capture,
        "error": result.read_error,
        "summary": summary(result),
        "calls": [{"call": c.call,
                   "requirements": [{"id": rid, "severity": fs[0].severity.value,
                                     "findings": [f.to_json() for f in fs]}
                                    for rid, fs in c.by_requirement.items()]}
                  for c in result.calls],
        "requirements": [{"id": rid,
                          "severity": catalogue[rid].severity.value if rid in catalogue else None,
                          "step": catalogue[rid].step if rid in catalogue else None,
                          "status": "failed" if rid in failing else "warning" if rid in warned else "passed"}
                         for rid in result.exercised],
        "rtp_streams": table_rows(result.rtp),
        "replication": replication_rows(result.replication),
        "delivery": delivery_rows(result.delivery),
        "recordings": result.recordings_checked,
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"

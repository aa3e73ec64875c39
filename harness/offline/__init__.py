"""The offline pipeline behind `arec validate`: scan a capture once (`scan`), gather evidence,
judge it (`judge`, calls in `calls`, recordings in `recordings`) and render the result as text,
JSON or JUnit (`render_*`, rows shared in `rows`). `validate_capture` (`pipeline`) runs it all."""

from __future__ import annotations

from harness.offline.pipeline import validate_capture
from harness.offline.render_json import render_json
from harness.offline.render_junit import render_junit
from harness.offline.render_text import render_text
from harness.offline.result import EMITTED_REQUIREMENTS, NO_CALL, CallFindings, ValidationResult
from harness.offline.rows import delivery_rows, replication_rows, table_rows

__all__ = [
    "EMITTED_REQUIREMENTS",
    "FORMATS",
    "NO_CALL",
    "CallFindings",
    "ValidationResult",
    "delivery_rows",
    "render",
    "render_json",
    "render_junit",
    "render_text",
    "replication_rows",
    "table_rows",
    "validate_capture",
]

FORMATS = ("text", "json", "junit")


def render(result: ValidationResult, fmt: str) -> str:
    """The result in one of `FORMATS` (text for anything else)."""
    if fmt == "json":
        return render_json(result)
    if fmt == "junit":
        return render_junit(result)
    return render_text(result)

"""From the suite's Allure results to what a vendor hands a customer (issue 6).

``<report-dir>/``
  ``compliance.json`` / ``compliance.md``  the matrix: every requirement, its outcome, grouped by step
  ``compliance-matrix.html``              the same, shown as a global attachment of the report
  ``html/index.html``                     single-file offline Allure report: verdict and counts as
                                          variables, run metadata, every scenario's evidence
  ``history.jsonl``                       Allure 3 history: keep the directory and trends appear
  ``run-metadata.json``                   the run's metadata, so `arec report` can rebuild all this
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.exitcodes import EXIT_OK, SetupError
from harness.report.allure_html import ReportResult, generate_report
from harness.report.compliance import (
    REQUIREMENT_LABEL,
    ComplianceError,
    Matrix,
    build_matrix,
    matrix_html,
    matrix_json,
    matrix_markdown,
    matrix_svg,
)
from harness.report.compliance import read_scenarios as read_scenario_outcomes
from harness.report.run_metadata import exercised, properties_text

__all__ = ["BuiltReport", "build_report", "report_from_cli", "tidy_results"]

MATRIX_SVG: Final = "compliance-matrix.svg"  # shown full size in the report
MATRIX_HTML: Final = "compliance-matrix.html"  # full statements, sources and scenarios
HISTORY: Final = "history.jsonl"
RUN_METADATA: Final = "run-metadata.json"
# Step parameters that are fixtures, not Gherkin values: allure-pytest-bdd records every
# argument of a step function, and the scenario fixture's repr is kilobytes of internals.
_FIXTURE_PARAMETERS: Final = frozenset({"run", "request"})
_MAX_PARAMETER: Final = 300


@dataclass(frozen=True, slots=True)
class BuiltReport:
    report: ReportResult | None  # None: the HTML was not asked for (no report generator here)
    matrix: Matrix
    compliance_json: Path
    compliance_md: Path


def _tidy_steps(steps: list[dict[str, Any]]) -> bool:
    changed = False
    for step in steps:
        params = step.get("parameters") or []
        kept = [p for p in params if p.get("name") not in _FIXTURE_PARAMETERS]
        for p in kept:
            value = str(p.get("value", ""))
            if len(value) > _MAX_PARAMETER:
                p["value"] = value[:_MAX_PARAMETER] + " ..."
                changed = True
        if len(kept) != len(params):
            step["parameters"] = kept
            changed = True
        changed |= _tidy_steps(step.get("steps") or [])
    return changed


def tidy_results(results_dir: Path) -> None:
    """Drop fixture objects from step parameters (readers see the Gherkin values only)."""
    for path in results_dir.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if _tidy_steps(data.get("steps") or []):
            path.write_text(json.dumps(data), encoding="utf-8")


def build_report(report_dir: Path, metadata: Mapping[str, str] | None = None, *,
                 append_history: bool = True, html: bool = True) -> BuiltReport:
    """Matrix files, environment and the HTML report. `metadata=None`: reuse the stored run's.

    `html=False`: everything but the HTML (the Allure generator is a Node tool a pip-installed
    arec may not have; results, JUnit and the matrix are still the verdict)."""
    results = report_dir / "allure-results"
    stored = report_dir / RUN_METADATA
    if metadata is None:
        metadata = json.loads(stored.read_text(encoding="utf-8")) if stored.is_file() else {}
    else:
        stored.write_text(json.dumps(dict(metadata), indent=1), encoding="utf-8")
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise SetupError(f"no test results in {results}: run 'arec run' first")
    meta = {**metadata, **exercised(results)}
    try:
        matrix = build_matrix(read_scenario_outcomes(results), metadata=meta)
    except ComplianceError as error:
        raise SetupError(str(error)) from None
    compliance_json = report_dir / "compliance.json"
    compliance_md = report_dir / "compliance.md"
    compliance_json.write_text(json.dumps(matrix_json(matrix), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    compliance_md.write_text(matrix_markdown(matrix), encoding="utf-8")
    (report_dir / MATRIX_HTML).write_text(matrix_html(matrix), encoding="utf-8")
    (report_dir / MATRIX_SVG).write_text(matrix_svg(matrix), encoding="utf-8")
    (results / "environment.properties").write_text(properties_text(meta), encoding="utf-8")
    tidy_results(results)
    counts = matrix.counts()
    # The first page shows these as chips (long values are cut): short keys, short values.
    variables = {
        "Compliance": matrix.verdict,
        "MUST failed": ", ".join(matrix.failed_must) or "none",
        "Requirements": ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n),
        "Matrix": "Global Attachments tab",
    }
    if not html:
        return BuiltReport(None, matrix, compliance_json, compliance_md)
    report = generate_report(results, report_dir / "html", variables=variables, global_attachments=[MATRIX_SVG, MATRIX_HTML],
                             hide_labels=[REQUIREMENT_LABEL],
                             history_path=(report_dir / HISTORY).resolve(), append_history=append_history)
    return BuiltReport(report, matrix, compliance_json, compliance_md)


def report_from_cli(args: argparse.Namespace) -> int:
    """`arec report`: rebuild matrix and HTML from the last results (no new history entry).

    It lives here, not in `allure_html`, because it needs `build_report`: `allure_html` only
    runs the generator, so the two modules no longer import each other.
    """
    built = build_report(Path(args.report_dir), None, append_history=False)
    result = built.report
    assert result is not None  # html=True: generate_report ran or raised
    print(f"report: {result.html} ({result.passed}/{result.total} passed); compliance: {built.matrix.verdict} "
          f"({built.compliance_md})")
    if args.open:
        print(result.html.resolve().as_uri())
    return EXIT_OK

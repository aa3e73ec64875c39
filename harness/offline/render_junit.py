"""`arec validate --format junit`: one testcase per requirement exercised (CI dashboards)."""

from __future__ import annotations

from xml.etree import ElementTree

from harness.offline.result import ValidationResult
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Finding, Severity

__all__ = ["render_junit"]


def render_junit(result: ValidationResult) -> str:
    """One testcase per requirement id exercised; a <failure> per MUST finding (SHOULD/INFO as output)."""
    catalogue = load_catalogue()
    by_req: dict[str, list[tuple[str, Finding]]] = {}
    for call in result.calls:
        for rid, fs in call.by_requirement.items():
            by_req.setdefault(rid, []).extend((call.call, f) for f in fs)
    suite = ElementTree.Element("testsuite", name="arec validate", tests=str(len(result.exercised)),
                                failures=str(len(result.failed)), errors="1" if result.read_error else "0")
    for rid in result.exercised:
        req = catalogue.get(rid)
        case = ElementTree.SubElement(suite, "testcase", name=rid,
                                      classname=f"arec.validate.step{req.step:02d}" if req else "arec.validate")
        entries = by_req.get(rid, [])
        must = [(c, f) for c, f in entries if f.severity is Severity.MUST]
        if must:
            failure = ElementTree.SubElement(case, "failure", message=must[0][1].message[:500],
                                             type="MUST")
            failure.text = "\n".join(f"{c}: {f}" for c, f in must)
        others = [(c, f) for c, f in entries if f.severity is not Severity.MUST]
        if others:
            ElementTree.SubElement(case, "system-out").text = "\n".join(f"{c}: {f}" for c, f in others)
    if result.read_error is not None:
        case = ElementTree.SubElement(suite, "testcase", name="capture-readable", classname="arec.validate.input")
        ElementTree.SubElement(case, "error", message=result.read_error, type="PcapReadError")
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"

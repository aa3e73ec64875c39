"""scripts/fix_doc_refs.py maps each old note reference to its docs/ file, keeps the section, and
is idempotent (the lead re-runs it after merging branches that add code)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fix_doc_refs.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fix_doc_refs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fix = _load()
# The old names, spelled in pieces so this file is not itself a dangling reference.
DESIGN, DOMAIN, TOOLING = "DESIGN" + ".md", "DOMAIN" + ".md", "TOOLING" + ".md"


@pytest.mark.parametrize(("old", "new"), [
    (f"(see {DESIGN} §4 \"Command line\")", "(see docs/architecture.md §4 \"Command line\")"),
    (f"GVP-MSRec; {DOMAIN} §4.2).", "GVP-MSRec; docs/genesys-flow.md §4.2)."),
    (f"(GVP-Scale, {DOMAIN} 4.5). Expects", "(GVP-Scale, docs/genesys-flow.md §4.5). Expects"),
    (f"spec/{DOMAIN} §3.6", "docs/genesys-flow.md §3.6"),
    (f"/work/shared/notes/{TOOLING} \"Capture\"", "docs/tooling.md \"Capture\""),
    (f"(measured in {TOOLING}), never", "(measured in docs/tooling.md), never"),
    (f"The architecture is {DESIGN} (shared with the team).", "The architecture is docs/architecture.md."),
    (f"{DESIGN} §5, the h11 model", "docs/architecture.md §5, the h11 model"),
])
def test_old_reference_becomes_the_docs_file_with_its_section(old: str, new: str) -> None:
    assert fix.rewrite(old) == new


def test_rewrite_is_idempotent_and_leaves_other_text_alone() -> None:
    text = f"a {DOMAIN} §4.6 b; RFC 3261 §17.1.1.2; docs/tlib-emulation.md §2; README.md\r\n"
    once = fix.rewrite(text)
    assert fix.rewrite(once) == once
    assert once == "a docs/genesys-flow.md §4.6 b; RFC 3261 §17.1.1.2; docs/tlib-emulation.md §2; README.md\r\n"

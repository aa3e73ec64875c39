"""Each requirement is judged in exactly one place, and the Gherkin bindings judge nothing.

1. Every catalogue requirement has exactly one registry entry, and its functions exist.
2. A requirement id is built into findings in one module only: the one the registry names.
   (An id in a comparison, e.g. `f.requirement_id == "REC-AUDIO-COMPLETE"`, reads a finding; it
   does not build one, so it does not count.)
3. No module of the Gherkin bindings (anything importing pytest_bdd) builds a Finding or calls
   violation().
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.checks.registry import _ENTRIES, REGISTRY, judge_of, offline_requirements
from harness.spec.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[3]
HARNESS = ROOT / "harness"
_BUILDERS = frozenset({"Finding", "violation", "_finding", "_session_finding"})


def _python_files() -> Iterator[Path]:
    for path in sorted(HARNESS.rglob("*.py")):
        if "features" not in path.parts:
            yield path


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _calls(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def _building_ids(tree: ast.AST, catalogue: set[str]) -> set[str]:
    """Catalogue ids among the string constants of a module, outside docstrings and comparisons."""
    compared: set[int] = set()
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                compared |= {id(n) for n in ast.walk(part)}
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and n.value in catalogue and id(n) not in compared and id(n) not in docstrings}


def _finding_modules() -> dict[str, set[str]]:
    """module -> catalogue ids it builds findings for (modules that build findings at all)."""
    catalogue = set(load_catalogue())
    out: dict[str, set[str]] = {}
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _calls(tree) & _BUILDERS:
            out[_module_name(path)] = _building_ids(tree, catalogue)
    return out


def test_every_catalogue_requirement_has_exactly_one_judging_place() -> None:
    catalogue = load_catalogue()
    assert len(_ENTRIES) == len(REGISTRY), "a requirement is registered twice"
    assert sorted(REGISTRY) == sorted(catalogue)


@pytest.mark.parametrize("requirement_id", sorted(REGISTRY))
def test_the_registered_functions_exist(requirement_id: str) -> None:
    entry = judge_of(requirement_id)
    assert all(callable(f) for f in entry.resolve())
    assert entry.live or entry.offline, f"{requirement_id}: judged neither live nor offline"
    assert entry.offline or entry.why, f"{requirement_id}: say why it can be judged live only"


def test_no_requirement_is_built_into_findings_in_two_modules() -> None:
    where: dict[str, set[str]] = {}
    for module, ids in _finding_modules().items():
        for requirement_id in ids:
            where.setdefault(requirement_id, set()).add(module)
    twice = {rid: sorted(mods) for rid, mods in where.items() if len(mods) > 1}
    assert twice == {}
    wrong = {rid: (sorted(mods), REGISTRY[rid].module) for rid, mods in where.items()
             if mods != {REGISTRY[rid].module}}
    assert wrong == {}, "built somewhere else than the registry says"


def test_every_requirement_with_a_fixed_id_is_built_in_its_registered_module() -> None:
    # Ids the initiation checks take from the scenario (the path it uses) appear there as data.
    built = {rid for ids in _finding_modules().values() for rid in ids}
    assert sorted(set(REGISTRY) - built) == []


def test_offline_requirements_are_the_ones_a_capture_can_carry() -> None:
    offline = {j.requirement_id for j in offline_requirements()}
    assert {"SIP-DIALOG-ESTABLISHED", "RTP-SSRC-CHANGE", "REC-TIMECODE-ABSENT", "REC-AUDIO-COMPLETE"} <= offline
    assert not offline & {"ARE-01-DN-ALWAYS-RECORD", "SIP-CANCEL-487", "ARE-09-PAUSE-RESUME"}


def _binding_modules() -> list[Path]:
    return [p for p in _python_files() if "pytest_bdd" in p.read_text(encoding="utf-8")
            and any(isinstance(n, (ast.Import, ast.ImportFrom)) and "pytest_bdd" in ast.unparse(n)
                    for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]


def test_the_gherkin_bindings_build_no_finding() -> None:
    bindings = _binding_modules()
    assert len(bindings) >= 7, [p.name for p in bindings]
    offenders = {}
    for path in bindings:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        built = _calls(tree) & _BUILDERS
        if built:
            offenders[path.name] = sorted(built)
    assert offenders == {}


def test_the_binding_scan_would_see_a_finding_built_in_a_step() -> None:
    tree = ast.parse("from pytest_bdd import then\n@then('x')\ndef _x(run):\n"
                     "    judge([violation('REC-METADATA', 'no metadata')], ['REC-METADATA'], 'x')\n")
    assert _calls(tree) & _BUILDERS == {"violation"}
    assert _building_ids(tree, {"REC-METADATA"}) == {"REC-METADATA"}

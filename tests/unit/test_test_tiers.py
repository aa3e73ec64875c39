"""Every test module of the slow tier is marked `integration` as a whole (module `pytestmark`), so
`-m "not integration"` runs exactly the unit tier. (The unit tier's own rule, no sockets,
processes or sleeps, is enforced at run time by tests/unit/conftest.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SLOW_TIER = ("tests/integration", "harness/bdd")


def module_marks_integration(source: str) -> bool:
    """True when the module assigns `pytestmark` to `pytest.mark.integration` or a list/tuple
    that contains it."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in node.targets):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return any(ast.unparse(v) == "pytest.mark.integration" for v in values)
    return False


def slow_tier_modules() -> list[Path]:
    return sorted(p for d in SLOW_TIER for p in (ROOT / d).rglob("test_*.py"))


def test_every_slow_tier_module_is_marked_integration() -> None:
    modules = slow_tier_modules()
    assert len(modules) > 20, "found almost no integration modules: the check would prove nothing"
    unmarked = [str(p.relative_to(ROOT)) for p in modules if not module_marks_integration(p.read_text("utf-8"))]
    assert not unmarked, "modules without `pytestmark = pytest.mark.integration`:\n" + "\n".join(unmarked)


@pytest.mark.parametrize(("source", "marked"), [
    ("import pytest\npytestmark = pytest.mark.integration\n", True),
    ("import pytest\npytestmark = [pytest.mark.integration, pytest.mark.skipif(True, reason='x')]\n", True),
    ("import pytest\n@pytest.mark.integration\ndef test_one() -> None: ...\n", False),  # per test only
    ("import pytest\npytestmark = pytest.mark.slow\n", False),
])
def test_module_mark_detection(source: str, marked: bool) -> None:
    assert module_marks_integration(source) is marked

"""How a step module hands its steps to harness/bdd/conftest.py.

pytest-bdd's `@given`/`@when`/`@then` register each step as a fixture named
`pytestbdd_stepdef_<type>_<text>` in the globals of the module that applies the decorator, and a
step is found only when that fixture is visible where the scenario runs. So every steps_*.py module
ends with `__all__ = step_fixtures(globals())` and conftest star-imports it: the star import carries
exactly the generated step fixtures (not the module's helpers or imports), which become conftest
fixtures, visible to every feature. A plain `@pytest.fixture` in a step module is *not* carried:
fixtures the steps use belong in conftest.
"""

from __future__ import annotations

from collections.abc import Iterable

STEP_FIXTURE_PREFIX = "pytestbdd_stepdef_"


def step_fixtures(module_globals: Iterable[str]) -> list[str]:
    """The names of the step fixtures pytest-bdd generated in a module: that module's `__all__`."""
    return [name for name in module_globals if name.startswith(STEP_FIXTURE_PREFIX)]

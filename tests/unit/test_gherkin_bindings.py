"""Every step of every scenario in features/ is bound to a step definition (no scenario is run).

pytest-bdd only notices an unbound step when the scenario runs, after the recorder has started
and the call has been played. `pytest --generate-missing` does not do for this suite: it reports
every Scenario Outline step with a `<placeholder>` as missing (it matches the template text, not
the rendered example rows), and it needs the features' path spelled exactly as the bindings
spell it. So this test does what pytest-bdd does at run time, for every example row: parse each
feature with pytest-bdd's own parser, render each outline row, and match each step (type and
text) against the step definitions the bindings' conftest makes visible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pytest_bdd.parser import FeatureParser, Scenario
from pytest_bdd.steps import StepFunctionContext, step_function_context_registry

import harness.bdd.conftest as bindings
from harness.bdd import features_dir

STEPDEF_PREFIX = "pytestbdd_stepdef_"


def visible_step_definitions() -> list[StepFunctionContext]:
    """The step definitions a scenario in harness/bdd/test_features.py can see: the fixtures in
    the bindings' conftest (it star-imports every steps_*.py module, harness/bdd/stepdefs.py).
    A step written in a module conftest does not import is unbound, here as at run time."""
    contexts = []
    for name, fixture in vars(bindings).items():
        if not name.startswith(STEPDEF_PREFIX):
            continue
        marker = fixture._get_wrapped_function() if hasattr(fixture, "_get_wrapped_function") else fixture
        contexts.append(step_function_context_registry[marker])
    return contexts


def rendered_scenarios(directory: Path) -> Iterator[tuple[str, Scenario]]:
    """(`file:line`, scenario) for every scenario and every example row of an outline."""
    for path in sorted(directory.rglob("*.feature")):
        feature = FeatureParser(str(path.parent), path.name).parse()
        for template in feature.scenarios.values():
            contexts = [context for examples in template.examples for context in examples.as_contexts()]
            for context in contexts or [{}]:
                yield f"{path.name}:{template.line_number}", template.render(context)


def unbound_steps(directory: Path, definitions: list[StepFunctionContext]) -> list[str]:
    problems = set()
    for where, scenario in rendered_scenarios(directory):
        for step in scenario.steps:
            if not any(d.type in (None, step.type) and d.parser.is_matching(step.name) for d in definitions):
                problems.add(f"{where} ({scenario.name}): {step.type} {step.name!r}")
    return sorted(problems)


def test_every_feature_step_is_bound() -> None:
    definitions = visible_step_definitions()
    assert len(definitions) > 50, "found almost no step definitions: the check would prove nothing"
    scenarios = list(rendered_scenarios(features_dir()))
    assert len(scenarios) > 40, f"only {len(scenarios)} scenarios rendered from {features_dir()}"
    missing = unbound_steps(features_dir(), definitions)
    assert not missing, "steps with no binding in harness/bdd:\n" + "\n".join(missing)


def test_an_unbound_step_is_reported(tmp_path: Path) -> None:
    (tmp_path / "probe.feature").write_text(
        "Feature: probe\n"
        "  Scenario Outline: one bound step, one unbound\n"
        "    Given the recorder under test is running\n"
        "    Then the recorder sings <song>\n"
        "    Examples:\n"
        "      | song |\n"
        "      | a    |\n",
        encoding="utf-8",
    )
    missing = unbound_steps(tmp_path, visible_step_definitions())
    assert missing == ["probe.feature:2 (one bound step, one unbound): then 'the recorder sings a'"]


def test_a_step_bound_for_another_type_is_unbound(tmp_path: Path) -> None:
    # "the recorder under test is running" is a Given: as a Then it has no binding (pytest-bdd
    # matches the step type too).
    (tmp_path / "probe.feature").write_text(
        "Feature: probe\n  Scenario: wrong type\n    Then the recorder under test is running\n", encoding="utf-8")
    assert unbound_steps(tmp_path, visible_step_definitions())

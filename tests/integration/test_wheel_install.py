"""The suite ships in the package: a wheel installed into a fresh virtualenv outside the clone
runs a scenario from any directory, with its own features or a user's.

This is what a QA team does with `pipx install arec` in a CI image: no clone, no tests/, no
node_modules (so no HTML report, and the run says how to get one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# The one scenario that needs only SIPp and the reference recorder: quick, and enough to show
# that bindings, features, the plugin and the reference recorder all came with the wheel.
OPTIONS_SCENARIO = "options_ping"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the built wheel (and its dependencies) installed: its bin/."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(work / "dist"), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next((work / "dist").glob("arec-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True,
                   timeout=600)
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    # Nothing may leak the clone into the installed tool: no PYTHONPATH, no AREC_* overrides.
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("AREC_")}


def test_installed_package_is_not_the_clone(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(installed / "python"), "-c",
                          "import harness.bdd, reference_recorder; print(harness.bdd.features_dir())"],
                         cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, check=True, timeout=60)
    features = Path(out.stdout.strip())
    assert REPO not in features.parents, features
    assert sorted(p.name for p in features.glob("*.feature")) == sorted(p.name for p in (REPO / "features").glob("*.feature"))


def test_installed_arec_runs_a_scenario_from_another_directory(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(installed / "arec"), "run", "-k", OPTIONS_SCENARIO, "--report-dir", "out"],
                            cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert 'tests="1"' in junit and 'failures="0"' in junit and 'errors="0"' in junit, junit[:500]
    assert (tmp_path / "out" / "compliance.json").is_file()
    assert "no HTML report" in result.stdout  # no Node in the virtualenv: one line says how


def test_installed_arec_runs_a_users_own_feature(installed: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my-features"
    mine.mkdir()
    (mine / "options.feature").write_text(textwrap.dedent("""\
        Feature: Our recorder's liveness, as our team words it

          @SIP-OPTIONS-200
          Scenario: Our recorder is alive
            When the Media Server side sends an OPTIONS ping to the recorder
            Then the recorder answered the OPTIONS ping
        """), encoding="utf-8")
    result = subprocess.run([str(installed / "arec"), "run", "--features", str(mine), "--report-dir", "out"],
                            cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout, result.stdout[-3000:]

"""Bind every feature file under features/ (one per seed step of the Genesys flow)."""

import os
from pathlib import Path

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.integration

# `arec run --features PATH` narrows the suite to one file or folder.
scenarios(os.environ.get("AREC_FEATURES") or str(Path(__file__).resolve().parents[2] / "features"))

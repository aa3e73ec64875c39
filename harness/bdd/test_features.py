"""Bind every feature file (one per seed step of the Genesys flow) to the step bindings here."""

import os

import pytest
from pytest_bdd import scenarios

from harness.bdd import features_dir

pytestmark = pytest.mark.integration

# `arec run --features PATH` runs a user's own or edited features instead.
scenarios(os.environ.get("AREC_FEATURES") or str(features_dir()))

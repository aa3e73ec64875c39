"""Bind every feature file under features/ (one per seed step of the Genesys flow)."""

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.integration

scenarios("../../features")

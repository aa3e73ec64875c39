"""Settings for the whole test suite."""

from hypothesis import HealthCheck, settings

# Hypothesis' default 200 ms deadline per example is a timed assertion: on a shared, loaded
# 2-core machine it fails correct code. Speed is measured by bench/, never asserted here.
settings.register_profile("arec", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("arec")

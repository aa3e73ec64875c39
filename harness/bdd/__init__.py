"""The Gherkin step bindings of the conformance suite, shipped in the package.

`features/` at the top of the repository is the source of truth (the specification);
`harness/features` is a symlink to it, so a wheel installs the same files as package data and
an installed `arec run` finds them where a clone does.
"""

from __future__ import annotations

from pathlib import Path

BINDINGS_DIR = Path(__file__).resolve().parent
FEATURES_DIR = BINDINGS_DIR.parent / "features"


def features_dir() -> Path:
    """The shipped feature files (the clone's `features/` through the symlink, or the package data)."""
    return FEATURES_DIR

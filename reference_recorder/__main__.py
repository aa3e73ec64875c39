"""`python -m reference_recorder ...` is `arec recorder ...`."""

import sys

from harness.cli import main

sys.exit(main(["recorder", *sys.argv[1:]]))

"""`python -m reference_recorder ...` is `arec recorder ...`."""

import sys

from reference_recorder.cli import main

sys.exit(main(sys.argv[1:]))

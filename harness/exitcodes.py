"""Exit codes and the set-up error shared by every `arec` command (docs/architecture.md §4)."""

EXIT_OK = 0  # no MUST requirement failed
EXIT_MUST_FAILED = 1  # a MUST requirement failed
EXIT_SETUP = 2  # unusable input or set-up


class SetupError(Exception):
    """Unusable input or set-up: printed as one line saying what and how to fix it; exit 2."""

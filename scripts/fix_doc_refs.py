#!/usr/bin/env python3
"""Point references to the team's design notes at their in-repository versions.

The code was written against three notes kept outside the repository (the architecture, the
protocol facts, the measured tool facts). Their living versions are in `docs/`, with the same
section numbers and names, so each reference maps mechanically:

    <notes>/DESIGN.md §4        -> docs/architecture.md §4
    <notes>/DOMAIN.md §4.2      -> docs/genesys-flow.md §4.2   (also "DOMAIN.md 4.2")
    <notes>/TOOLING.md "Capture" -> docs/tooling.md "Capture"

Idempotent (a rewritten file contains none of the old names), so it can be re-run after merging
branches that add code. Usage, from anywhere in the clone:

    python3 scripts/fix_doc_refs.py           # rewrite in place, list the files changed
    python3 scripts/fix_doc_refs.py --check   # change nothing; exit 1 if a file still needs it

`tests/unit/test_doc_references.py` fails on any reference to a file not in the repository.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Spelled in pieces so this file does not match its own patterns.
_OLD = {"DESIGN": "docs/architecture.md", "DOMAIN": "docs/genesys-flow.md", "TOOLING": "docs/tooling.md"}

# Optional directory prefix (spec/, notes/, shared/spec/, ../shared/notes/, /abs/.../), the name,
# then optionally a section number with or without the section sign ("§4.2", "4.2", "§ 4").
_REF = re.compile(
    r"(?P<prefix>(?:[\w.~-]*/)*)"
    r"(?P<name>" + "|".join(_OLD) + r")\.md"
    r"(?P<section>[ \u00a0]+(?:§[ \u00a0]?)?(?P<number>\d+(?:\.\d+)*)(?![\w]))?"
)

# Whole phrases that read wrongly once the file is in the repository.
_PHRASES = {
    "docs/architecture.md (shared with the team)": "docs/architecture.md",
}

# This script and the test that guards references mention the old names on purpose.
_SKIP = {"scripts/fix_doc_refs.py", "tests/unit/test_doc_references.py"}


def _rewrite_match(match: re.Match[str]) -> str:
    target = _OLD[match.group("name")]
    number = match.group("number")
    return f"{target} §{number}" if number else target


def rewrite(text: str) -> str:
    """Return `text` with every old note reference replaced by its `docs/` path."""
    text = _REF.sub(_rewrite_match, text)
    for old, new in _PHRASES.items():
        text = text.replace(old, new)
    return text


def candidate_files(root: Path = ROOT) -> list[Path]:
    """Tracked and new (not ignored) files of the clone, as git lists them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    return [root / name for name in sorted(set(listed)) if name not in _SKIP and (root / name).is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a rewrite is due")
    args = parser.parse_args(argv)
    due: list[str] = []
    for path in candidate_files():
        if path.is_symlink():
            continue
        try:
            with path.open(encoding="utf-8", newline="") as src:  # keep CRLF as it is
                text = src.read()
        except (UnicodeDecodeError, OSError):
            continue  # binary (pcaps, WAVs): nothing to rewrite
        new = rewrite(text)
        if new != text:
            due.append(str(path.relative_to(ROOT)))
            if not args.check:
                with path.open("w", encoding="utf-8", newline="") as out:
                    out.write(new)
    verb = "needs rewriting" if args.check else "rewritten"
    for name in due:
        print(f"{verb}: {name}")
    print(f"{len(due)} file(s) {verb}")
    return 1 if args.check and due else 0


if __name__ == "__main__":
    sys.exit(main())

"""No comment or doc points at a file that is not in the repository.

Two kinds of reference are checked in every text file of the clone (code, docs, features, wire
fixtures, scripts):
- any `NAME.md` path (`docs/genesys-flow.md §4.2`, `README.md`, `../shared/x.md`);
- a path in backticks that starts at a top-level source directory (`harness/cli.py`,
  `docs/architecture.md`, `tests/doubles/`), optionally followed by `:line` or `::name`.
A reference resolves if it names an existing file or directory relative to the repository root
or to the citing file's directory, and stays inside the repository. Placeholders (`<area>`,
`NN_*`, `{calluuid}`) are patterns, not references, and are skipped.

The old design notes were outside the repository; `scripts/fix_doc_refs.py` rewrites their
references to `docs/` (run it after merging code that still cites them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TEXT_SUFFIXES = {".py", ".md", ".toml", ".xml", ".feature", ".sh", ".cfg", ".ini", ".txt", ".yml",
                 ".yaml", ".mjs", ".js", ".json", ".csv", ".sipp"}
TEXT_NAMES = {"Makefile", "run", ".gitattributes", ".gitignore"}
SOURCE_DIRS = ("harness", "reference_recorder", "tests", "docs", "bench", "examples", "scripts",
               "features", "pcaps", ".ci")
# Files the code writes at run time (outputs, never in the repository): their names are not
# references to repository files; neither is a file inside an output directory that exists.
GENERATED = {"compliance.md"}
OUTPUT_DIRS = ("bench/results/", "reports/")
# These two mention missing notes on purpose: one rewrites them, the other proves the check.
SELF = {"scripts/fix_doc_refs.py", "tests/unit/test_doc_references.py"}

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_MD = re.compile(r"(?<![\w/.~-])((?:\.{1,2}/|/)?[\w][\w./~-]*\.md)(?![\w-])")
_TICKED = re.compile(r"`((?:" + "|".join(re.escape(d) for d in SOURCE_DIRS) + r")/[^`\s]*)`")
_PLACEHOLDER = re.compile(r"[<>{}*?\[\]$]|\bNN\b|\bNN_|\.\.\.")


# Not the repository's files: tool state, installed dependencies, outputs.
_SKIP_DIRS = {".git", ".venv", "node_modules", "reports", "build", "dist", "__pycache__", ".pytest_cache",
              ".mypy_cache", ".ruff_cache", ".hypothesis"}


def _repo_files() -> list[Path]:
    """The clone's text files (a walk, not `git ls-files`: a unit test starts no process)."""
    files = []
    for directory, subdirs, names in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in _SKIP_DIRS and not d.endswith(".egg-info")
                      and not (Path(directory) / d).is_symlink()]
        for name in names:
            path = Path(directory) / name
            relative = path.relative_to(ROOT).as_posix()
            if relative in SELF or path.is_symlink():
                continue
            if path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES:
                files.append(path)
    return sorted(files)


def _resolves(reference: str, citing: Path) -> bool:
    target = reference.split("::", 1)[0].split("#", 1)[0]
    target = re.sub(r":\d+(?:-\d+)?$", "", target).rstrip(".,;:)")
    if target.startswith("/"):
        return False  # a machine path: not in the repository by definition
    for output in OUTPUT_DIRS:
        if target.startswith(output):
            return (ROOT / output).is_dir()
    if "/" not in target and (ROOT / "docs" / target).is_file():
        return True  # a bare doc name, e.g. a path built as DOCS / "tlib-emulation.md"
    for base in (ROOT, citing.parent):
        candidate = (base / target).resolve()
        if candidate.is_relative_to(ROOT) and candidate.exists():
            return True
    return False


def dangling_in_text(text: str, citing: Path) -> list[tuple[int, str]]:
    """(line number, reference) for every reference in `text` that does not resolve."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        line = _URL.sub(" ", line)
        found = {m.group(1) for m in _MD.finditer(line)} | {m.group(1) for m in _TICKED.finditer(line)}
        for reference in sorted(found):
            if _PLACEHOLDER.search(reference) or Path(reference).name in GENERATED:
                continue
            if not _resolves(reference, citing):
                problems.append((number, reference))
    return problems


def dangling_references(path: Path) -> list[str]:
    """`file:line: reference` for every reference in `path` that does not resolve."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    return [f"{path.relative_to(ROOT)}:{n}: {ref}" for n, ref in dangling_in_text(text, path)]


def test_every_referenced_file_is_in_the_repository() -> None:
    files = _repo_files()
    assert len(files) > 100, "the file listing found almost nothing: the check would prove nothing"
    problems = [problem for path in files for problem in dangling_references(path)]
    assert not problems, "references to files not in the repository:\n" + "\n".join(problems)


@pytest.mark.parametrize("line", [
    "see DOMAIN.md §4.2 for the Request-URI",
    "the layers (../shared/DESIGN.md §3)",
    "measured in `docs/no-such-notes.md`",
    "the parser lives in `harness/protocol/sip/nothing_here.py:12`",
    "absolute: /work/shared/notes/TOOLING.md",
])
def test_a_dangling_reference_is_reported(line: str) -> None:
    citing = ROOT / "docs" / "probe.md"  # never written: only its directory is used
    assert dangling_in_text(line, citing), f"not reported: {line!r}"


@pytest.mark.parametrize("line", [
    "protocol facts: docs/genesys-flow.md §4.2",
    "the entry point is `harness/cli.py`, the bindings are in `harness/bdd/`",
    "a check lives in `harness/checks/<area>.py`; features are `features/NN_*.feature`",
    "the upstream page https://example.org/some/README.md",
    "sibling link [profiles](recorder-profiles.md)",
])
def test_an_existing_reference_or_pattern_is_not_reported(line: str) -> None:
    assert dangling_in_text(line, ROOT / "docs" / "probe.md") == []

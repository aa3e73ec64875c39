"""Single-file offline HTML report from Allure results (npm `allure` 3.x, pinned in package.json).

Why the post-processing: Allure embeds a third-party analytics script in every report
(docs/tooling.md "Allure report"). A recording-compliance report is opened in locked-down labs,
so the script is removed and the result is checked for any remaining external URL.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.exitcodes import SetupError

REPO_ROOT = Path(__file__).resolve().parents[2]

# <script async src="https://www.googletagmanager.com/gtag/js?id=..."></script> and the inline
# gtag(...) configuration block that follows it.
_ANALYTICS_PATTERNS = (
    re.compile(r"<script[^>]*src=\"https?://[^\"]*googletagmanager[^\"]*\"[^>]*>\s*</script>", re.I),
    re.compile(r"<script>\s*window\.dataLayer[\s\S]*?</script>", re.I),
)
# XML namespace identifiers are names, not fetched resources.
_NAMESPACE_URLS = frozenset({"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
                             "http://www.w3.org/1999/xhtml", "http://www.w3.org/XML/1998/namespace"})
_URL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*")


def strip_analytics(html: str) -> str:
    for pattern in _ANALYTICS_PATTERNS:
        html = pattern.sub("", html)
    return html


def external_urls(html: str) -> list[str]:
    """External URLs that would be fetched or are referenced by the report's own markup.

    Looks at the HTML text and at the base64 `data:` script bodies Allure inlines, because
    an analytics loader hidden in a bundle would otherwise slip through.
    """
    found = {m.group(0) for m in _URL.finditer(html) if _is_fetchable(html, m)}
    for blob in re.findall(r"src=\"data:[a-z/+-]+;base64,([A-Za-z0-9+/=]+)\"", html):
        text = base64.b64decode(blob).decode("utf-8", "replace")
        found |= {u for u in re.findall(r"https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'`<>)]*", text)
                  if any(tag in u for tag in ("googletagmanager", "google-analytics", "analytics"))}
    return sorted(u for u in found if u.rstrip("/") not in _NAMESPACE_URLS)


_EMBEDDED = re.compile(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)')


def embedded_files(html: str) -> dict[str, bytes]:
    """The files a single-file Allure 3 report carries inline (``d("widgets/globals.json", "<base64>")``):
    lets tests and tools read the report's data without a browser."""
    return {name: base64.b64decode(blob) for name, blob in _EMBEDDED.findall(html)}


def _is_fetchable(html: str, match: re.Match[str]) -> bool:
    # Only URLs used as attributes that load something (src/href/url()) count in the markup;
    # URLs quoted inside inlined data (e.g. a finding's source text) are not loaded.
    before = html[max(0, match.start() - 12):match.start()]
    return bool(re.search(r"(src|href|action)=\"$|url\($", before))


@dataclass(frozen=True, slots=True)
class ReportResult:
    html: Path
    total: int
    passed: int
    failed: int
    broken: int
    skipped: int


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[\]{}()!])", r"[\1]", name)


ALLURE_MISSING_HINT = ("the HTML report needs the pinned Allure 3 generator (Node): in a clone run "
                       "'npm ci', or point AREC_ALLURE at an installed 'allure' 3 binary, then 'arec report'")


def allure_available() -> bool:
    try:
        allure_binary()
    except SetupError:
        return False
    return True


def allure_binary() -> Path:
    # AREC_ALLURE points at another install of the same pinned generator (and lets tests
    # check the error path).
    binary = Path(os.environ.get("AREC_ALLURE") or REPO_ROOT / "node_modules" / ".bin" / "allure")
    if not binary.exists():
        raise SetupError(f"the report generator is missing: {ALLURE_MISSING_HINT}")
    return binary


def generate_report(results_dir: Path, html_dir: Path, name: str = "arec conformance report", *,
                    variables: Mapping[str, str] | None = None, global_attachments: Sequence[str] = (),
                    history_path: Path | None = None, append_history: bool = True,
                    hide_labels: Sequence[str] = ()) -> ReportResult:
    """Run the pinned Allure 3 on `results_dir`; the config file goes next to `html_dir`.

    `variables`: key/value chips on the report's first page. `global_attachments`: file names in
    `html_dir.parent` shown under "Global Attachments" (report-level, not per test).
    `history_path`: Allure 3 history (JSON lines, one entry per generation) kept between runs:
    trends and per-test history in the report come from it. `hide_labels`: labels kept in the
    data but not shown (machine-readable ones).
    """
    results_dir, html_dir = results_dir.resolve(), html_dir.resolve()
    if not results_dir.is_dir() or not any(results_dir.iterdir()):
        raise SetupError(f"no test results in {results_dir}: run 'arec run' first")
    html_dir.mkdir(parents=True, exist_ok=True)
    config = html_dir.parent / "allurerc.mjs"
    options: dict[str, object] = {
        "name": name,
        "output": str(html_dir),
        "plugins": {"awesome": {"options": {"singleFile": True, "reportLanguage": "en", "reportName": name}}},
    }
    if variables:
        options["variables"] = dict(variables)
    if hide_labels:
        options["hideLabels"] = list(hide_labels)
    if global_attachments:
        # Allure globs these relative to its working directory (set below): plain names, so a
        # report directory with glob characters in its path cannot break the match.
        options["globalAttachments"] = [glob_escape(n) for n in global_attachments]
    if history_path is not None:
        options["historyPath"] = str(history_path)
        options["appendHistory"] = append_history
    config.write_text("export default " + json.dumps(options, indent=1) + ";\n", encoding="utf-8")
    env = dict(os.environ, ALLURE_NO_ANALYTICS="1")
    shutil.rmtree(html_dir, ignore_errors=True)
    proc = subprocess.run(
        [str(allure_binary()), "generate", str(results_dir), "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=html_dir.parent,
    )
    index = html_dir / "index.html"
    if proc.returncode != 0 or not index.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SetupError(f"allure generate failed ({proc.returncode}): {tail[0]}")
    html = strip_analytics(index.read_text(encoding="utf-8"))
    index.write_text(html, encoding="utf-8")
    leftover = external_urls(html)
    if leftover:
        raise SetupError(f"report {index} still references external URLs: {', '.join(leftover[:3])}")
    stats: dict[str, int] = {}
    summary = html_dir / "summary.json"
    if summary.exists():
        stats = json.loads(summary.read_text(encoding="utf-8")).get("stats", {})
    return ReportResult(index, stats.get("total", 0), stats.get("passed", 0), stats.get("failed", 0),
                        stats.get("broken", 0), stats.get("skipped", 0))

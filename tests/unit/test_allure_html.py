"""Offline report post-processing: analytics removed, external URLs detected."""

import base64

from harness.report.allure_html import external_urls, strip_analytics

GTAG = ('<script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>\n'
        "<script>\n window.dataLayer = window.dataLayer || [];\n gtag('js', new Date());\n</script>\n")


def test_strip_removes_the_loader_and_its_config() -> None:
    html = f"<html><head>{GTAG}<script>window.allureReportData = 1;</script></head></html>"
    cleaned = strip_analytics(html)
    assert "googletagmanager" not in cleaned and "dataLayer" not in cleaned
    assert "allureReportData" in cleaned  # the report's own data stays


def test_external_urls_finds_loaders_and_ignores_namespaces_and_text() -> None:
    assert external_urls(GTAG) == ["https://www.googletagmanager.com/gtag/js?id=G-X"]
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>see https://example.org in a finding</text></svg>'
    assert external_urls(svg) == []
    assert external_urls('<img src="https://cdn.example.com/x.png">') == ["https://cdn.example.com/x.png"]


def test_external_urls_looks_inside_inlined_scripts() -> None:
    bundle = base64.b64encode(b"load('https://www.google-analytics.com/analytics.js')").decode()
    found = external_urls(f'<script src="data:text/javascript;base64,{bundle}"></script>')
    assert len(found) == 1 and found[0].startswith("https://www.google-analytics.com/analytics.js")

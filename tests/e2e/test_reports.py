"""Reports and diagrams: the HTML audit report, JSON and CSV, Mermaid and DOT, a real browser."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from definitions.loader import bundled_sources, load
from tests.conftest import Loanflow
from tests.e2e.helpers import MEDIUM_APPLICATION, MEDIUM_PATH, headless_flags, walk
from workflow.spec import WorkflowSpec

SPECS = {s.name: s for s in map(load, bundled_sources()) if isinstance(s, WorkflowSpec)}
HOSTILE = "<script>alert('x')</script> Li"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def stalled_case(lf: Loanflow) -> str:
    """A medium case with its documents, then left in re-review past its SLA."""
    case_id = lf.apply(**{**MEDIUM_APPLICATION, "customer": HOSTILE})
    walk(lf, case_id, MEDIUM_PATH[:6])
    lf.clock.advance(days=5)
    lf.ok("escalate")
    return case_id


def test_the_html_report_is_self_contained_and_escapes_names(
    lf: Loanflow, stalled_case: str, tmp_path: Path
) -> None:
    out = tmp_path / "case.html"
    lf.ok("audit", "report", stalled_case, "--format", "html", "-o", str(out), actor="audit1")
    html = out.read_text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Li" in html
    assert "<script" not in html
    assert "Replay verdict: every step legal under medium_risk v1" in html
    assert "SLA breached" in html
    assert html.count("disbursement notice") == 3
    assert "<svg" in html
    for external in ("http://", "https://", "src=", "<link"):
        assert external not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_report_as_json_and_csv(lf: Loanflow, stalled_case: str) -> None:
    report = json.loads(
        lf.ok("audit", "report", stalled_case, "--format", "json", actor="audit1").output
    )
    assert report["replay"]["ok"] is True
    assert report["case"]["customer"] == HOSTILE
    assert [v["breached"] for v in report["visits"]][-1] is True
    assert len(report["documents"]) == 4
    assert "content" not in report["documents"][0]
    rows = list(
        csv.reader(
            io.StringIO(
                lf.ok("audit", "report", stalled_case, "--format", "csv", actor="audit1").output
            )
        )
    )
    assert rows[0][:3] == ["case_id", "seq", "action"]
    assert [r[2] for r in rows[1:]] == [
        "apply",
        *[a for a, _ in MEDIUM_PATH[:6]],
        "escalate",
        "escalate",
    ]


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graphs_contain_every_state_and_transition(lf: Loanflow, name: str, fmt: str) -> None:
    drawn = lf.ok("definitions", "graph", name, "--format", fmt).output
    spec = SPECS[name]
    for state in spec.states:
        assert state.name in drawn
    for t in spec.transitions:
        assert t.action in drawn
        if t.dest and fmt == "mermaid":
            assert f"{t.source} --> {t.dest} : {t.action} ({t.role})" in drawn


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
@pytest.mark.parametrize("name", sorted(SPECS))
def test_graphviz_accepts_the_dot_output(lf: Loanflow, name: str) -> None:
    drawn = lf.ok("definitions", "graph", name, "--format", "dot").output
    svg = subprocess.run(["dot", "-Tsvg"], input=drawn, capture_output=True, text=True, check=True)
    assert "<svg" in svg.stdout


def test_show_graph_marks_where_the_case_is_and_where_it_went(
    lf: Loanflow, stalled_case: str
) -> None:
    drawn = lf.ok("show", stalled_case, "--graph").output
    assert "class account_reviewed current" in drawn
    assert (
        "class submitted,investigated,ab_checked,risk_reviewed,approved,contract_signed "
        "visited" in drawn
    )
    assert "fillcolor" in lf.ok("show", stalled_case, "--graph", "dot").output


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed (Debian package chromium)")
def test_the_report_renders_in_a_real_headless_browser(
    lf: Loanflow, stalled_case: str, tmp_path: Path
) -> None:
    page = tmp_path / "case.html"
    lf.ok("audit", "report", stalled_case, "-o", str(page), actor="audit1")
    shot = tmp_path / "case.png"
    flags = headless_flags(tmp_path / "profile")
    assert BROWSER is not None
    dom = subprocess.run(
        [BROWSER, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "Replay verdict: every step legal" in dom.stdout
    assert dom.stdout.count("<text") > 20  # the inline SVG diagram was parsed into the DOM
    subprocess.run(
        [BROWSER, *flags, "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a blank page is a few kilobytes

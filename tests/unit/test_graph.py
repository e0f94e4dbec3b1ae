"""Diagrams of a definition: Mermaid, Graphviz DOT and a self-contained SVG, marked and escaped."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from definitions.graph import CURRENT_FILL, VISITED_FILL, to_dot, to_mermaid, to_svg
from definitions.loader import DefinitionSource, bundled_sources, load
from workflow.spec import StateSpec, TransitionSpec, WorkflowSpec

SPECS = {s.name: s for s in map(load, bundled_sources()) if isinstance(s, WorkflowSpec)}
NAMES = sorted(SPECS)
SVG = "{http://www.w3.org/2000/svg}"
TAKEN_STROKE = "#1e3a8a"

HOSTILE_YAML = r"""
name: hostile
version: 1
tier: low
title: 'Tom & Jerry <script>alert("x")</script> \ end'
initial: 'start "here"'
states:
  'start "here"': {}
  'back\slash <b>': {terminal: true}
  rejected: {terminal: true}
steps:
  - action: 'go "now" & <fast>;'
    from: 'start "here"'
    to: 'back\slash <b>'
    role: account_manager
    reject: true
"""


def hostile() -> WorkflowSpec:
    spec = load(DefinitionSource("hostile.yaml", HOSTILE_YAML))
    assert isinstance(spec, WorkflowSpec)
    return spec


def svg_root(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def fills(root: ET.Element) -> list[str]:
    return [el.get("fill", "") for el in root.iter(f"{SVG}rect")]


def dark_strokes(root: ET.Element) -> int:
    return sum(el.get("stroke") == TAKEN_STROKE for el in root.iter())


def run_dot(source: str) -> str:
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("graphviz's dot is not installed")
    done = subprocess.run(
        [dot, "-Tsvg"], input=source, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


# Every state and every action is drawn ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_mermaid_names_every_state_and_every_action(name: str) -> None:
    spec = SPECS[name]
    text = to_mermaid(spec)
    assert text.startswith("stateDiagram-v2\n")
    assert f"    [*] --> {spec.initial}\n" in text
    for state in spec.states:
        assert re.search(rf"^    ({state.name} -->|\S+ --> {state.name}\b)", text, re.M)
    for action in spec.actions:
        assert f" : {action} (" in text


@pytest.mark.parametrize("name", NAMES)
def test_mermaid_ends_every_terminal_state_and_draws_each_edge_once(name: str) -> None:
    spec = SPECS[name]
    lines = to_mermaid(spec).splitlines()
    for state in spec.states:
        assert (f"    {state.name} --> [*]" in lines) is state.terminal
    edges = [line for line in lines if " : " in line]
    assert len(edges) == len(set(edges))


def test_mermaid_draws_the_undecided_vote_as_a_loop() -> None:
    text = to_mermaid(SPECS["high_risk"])
    assert "    risk_reviewed --> risk_reviewed : vote (committee_member)\n" in text
    assert "    risk_reviewed --> approved : vote (committee_member)\n" in text
    assert "    risk_reviewed --> rejected : vote (committee_member)\n" in text


@pytest.mark.parametrize("name", NAMES)
def test_dot_names_every_state_and_every_action(name: str) -> None:
    spec = SPECS[name]
    text = to_dot(spec)
    assert text.startswith(f'digraph "{name} v{spec.version}" {{\n    rankdir=TB;\n')
    for state in spec.states:
        assert f'    "{state.name}" [label="{state.name}", ' in text
    for action in spec.actions:
        assert f'[label="{action}\\n(' in text


def test_dot_draws_terminal_states_as_double_circles_and_side_moves_dashed() -> None:
    text = to_dot(SPECS["low_risk"])
    assert '"disbursed" [label="disbursed", shape=doublecircle];' in text
    assert '"submitted" [label="submitted", shape=box, style="rounded"];' in text
    assert '"approved" -> "disbursed" [label="disburse\\n(teller)"];' in text
    assert '"credit_granted" -> "submitted" [label="return\\n(branch_head)", style=dashed];' in text
    assert '"approved" -> "expired" [label="expire\\n(system)", style=dashed];' in text


@pytest.mark.parametrize("name", NAMES)
def test_svg_names_every_state_and_every_action(name: str) -> None:
    spec = SPECS[name]
    labels = texts(svg_root(to_svg(spec)))
    words = set(re.findall(r"\w+", " ".join(labels)))
    assert {state.name for state in spec.states} <= set(labels)
    assert set(spec.actions) <= words


# The SVG stands alone -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_svg_is_self_contained_xml_with_a_title_and_a_size(name: str) -> None:
    spec = SPECS[name]
    text = to_svg(spec, visited=["submitted"], current="submitted")
    assert text.startswith('<svg xmlns="http://www.w3.org/2000/svg" ')
    root = svg_root(text)
    assert "<script" not in text
    assert "href" not in text
    assert "url(" not in text
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == f"{spec.title} ({name} v{spec.version})"
    assert float(root.get("width", "0")) > 0
    assert float(root.get("height", "0")) > 0


def test_svg_puts_the_work_path_in_one_column_in_order_and_the_rest_to_its_right() -> None:
    root = svg_root(to_svg(SPECS["high_risk"]))
    at = {
        el.text: (float(el.get("x", "")), float(el.get("y", ""))) for el in root.iter(f"{SVG}text")
    }
    main = ["submitted", "accepted", "investigated", "ab_checked", "risk_reviewed", "approved"]
    main += ["contract_signed", "account_reviewed", "ready_to_disburse", "disbursed"]
    main.append("funds_verified")
    assert len({at[state][0] for state in main}) == 1
    assert [at[state][1] for state in main] == sorted(at[state][1] for state in main)
    for side in ("rejected", "withdrawn", "expired"):
        assert at[side][0] > at["submitted"][0] + 100


def test_svg_sums_up_each_side_state_in_one_labelled_connector() -> None:
    labels = texts(svg_root(to_svg(SPECS["low_risk"])))
    assert "reject from 2 states" in labels
    assert "withdraw from 3 states" in labels
    assert "expire from 3 states" in labels
    assert labels.count("return") == 1


# Marking a case's progress ---------------------------------------------------------------------


def test_svg_fills_visited_states_light_blue_and_the_current_state_gold() -> None:
    spec = SPECS["medium_risk"]
    root = svg_root(to_svg(spec, visited=["submitted", "investigated"], current="ab_checked"))
    assert fills(root).count(CURRENT_FILL) == 1
    assert fills(root).count(VISITED_FILL) == 2
    current = next(el for el in root.iter(f"{SVG}rect") if el.get("fill") == CURRENT_FILL)
    assert float(current.get("stroke-width", "0")) > 2


def test_svg_leaves_every_state_white_when_nothing_is_marked() -> None:
    root = svg_root(to_svg(SPECS["medium_risk"]))
    assert CURRENT_FILL not in fills(root)
    assert VISITED_FILL not in fills(root)
    assert dark_strokes(root) == 0


def test_svg_draws_the_moves_taken_darker() -> None:
    spec = SPECS["low_risk"]
    one = svg_root(to_svg(spec, taken=[("submitted", "credit_granted")]))
    assert dark_strokes(one) == 1
    steps = [("submitted", "credit_granted"), ("credit_granted", "submitted")]
    back_and_out = svg_root(to_svg(spec, taken=[*steps, ("submitted", "withdrawn")]))
    assert dark_strokes(back_and_out) == 3


def test_dot_fills_visited_states_and_makes_the_current_state_gold_and_bold() -> None:
    text = to_dot(SPECS["low_risk"], visited=["submitted", "credit_granted"], current="approved")
    approved = next(line for line in text.splitlines() if line.startswith('    "approved" ['))
    assert f'fillcolor="{CURRENT_FILL}"' in approved
    assert 'style="rounded,filled,bold"' in approved
    submitted = next(line for line in text.splitlines() if line.startswith('    "submitted" ['))
    assert f'fillcolor="{VISITED_FILL}"' in submitted


def test_mermaid_classes_visited_states_and_the_current_state() -> None:
    text = to_mermaid(SPECS["low_risk"], visited=["submitted", "approved"], current="approved")
    assert f"    classDef visited fill:{VISITED_FILL}\n    class submitted visited\n" in text
    assert f"    classDef current fill:{CURRENT_FILL}," in text
    assert text.endswith("    class approved current\n")


def test_unmarked_mermaid_has_no_classes() -> None:
    assert "class" not in to_mermaid(SPECS["low_risk"])


@pytest.mark.parametrize(
    "draw",
    [
        lambda spec: to_mermaid(spec, current="nowhere"),
        lambda spec: to_dot(spec, visited=["submitted", "nowhere"]),
        lambda spec: to_svg(spec, taken=[("submitted", "nowhere")]),
    ],
    ids=["mermaid", "dot", "svg"],
)
def test_marking_a_state_the_definition_lacks_is_refused(
    draw: Callable[[WorkflowSpec], str],
) -> None:
    with pytest.raises(ValueError, match="'nowhere'"):
        draw(SPECS["low_risk"])


# Hostile names are escaped ---------------------------------------------------------------------


def test_svg_escapes_hostile_names_and_titles() -> None:
    spec = hostile()
    text = to_svg(spec, visited=['start "here"'], current="back\\slash <b>")
    assert "<script" not in text
    assert "<b>" not in text
    root = svg_root(text)
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == f"{spec.title} (hostile v1)"
    assert {'start "here"', "back\\slash <b>", "rejected"} <= set(texts(root))
    assert 'go "now" & <fast>;' in texts(root)


def test_svg_replaces_characters_xml_cannot_hold() -> None:
    spec = WorkflowSpec(
        name="ctl",
        version=1,
        tier="low",
        title="bell\x07here",
        initial="a\x01",
        states=(StateSpec("a\x01", False, None), StateSpec("b", True, None)),
        transitions=(TransitionSpec("go\x1b", "a\x01", "b", "step", "teller"),),
    )
    root = svg_root(to_svg(spec))
    assert {"a\ufffd", "b", "go\ufffd"} <= set(texts(root))


def test_dot_escapes_quotes_and_backslashes() -> None:
    text = to_dot(hostile())
    assert '    label="Tom & Jerry <script>alert(\\"x\\")</script> \\\\ end";' in text
    assert '"start \\"here\\"" -> "back\\\\slash <b>" [label="go \\"now\\" & <fast>;\\n(' in text


def test_mermaid_aliases_hostile_names_and_writes_entity_codes() -> None:
    text = to_mermaid(hostile(), current='start "here"')
    assert '    state "start #34;here#34;" as s0\n' in text
    assert '    state "back#92;slash #60;b#62;" as s1\n' in text
    assert "    [*] --> s0\n" in text
    assert "    s0 --> s1 : go #34;now#34; #38; #60;fast#62;#59; (account_manager)\n" in text
    assert "    s1 --> [*]\n" in text
    assert text.endswith("    class s0 current\n")


# Graphviz accepts the DOT ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_graphviz_accepts_the_dot(name: str) -> None:
    spec = SPECS[name]
    states = [state.name for state in spec.states]
    svg = run_dot(to_dot(spec, visited=states[:2], current=states[2]))
    assert all(f">{state}</text>" in svg for state in states)


def test_graphviz_accepts_the_dot_of_hostile_names() -> None:
    svg = run_dot(to_dot(hostile()))
    assert re.search(r">start (&quot;|&#34;|\")here(&quot;|&#34;|\")</text>", svg)
    assert ">back\\slash &lt;b&gt;</text>" in svg  # one backslash: DOT's \\ is read as \

"""Definition validation: each structural error names the file, the line and key, the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from definitions.loader import DefinitionSource, bundled_sources, load
from workflow.errors import InvalidDefinition
from workflow.spec import WorkflowSpec

TINY = (Path(__file__).parent.parent / "definitions" / "tiny.yaml").read_text()


def load_text(text: str) -> WorkflowSpec:
    spec = load(DefinitionSource("tiny.yaml", text))
    assert isinstance(spec, WorkflowSpec)
    return spec


def refused(text: str) -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as err:
        load(DefinitionSource("tiny.yaml", text))
    return err.value


def test_the_bundled_definitions_load() -> None:
    names = {load(source).name for source in bundled_sources()}
    assert names == {"low_risk", "medium_risk", "high_risk", "tier_policy", "service_rating"}


def test_a_valid_definition_expands_return_reject_withdraw_and_expire() -> None:
    spec = load_text(TINY)
    assert spec.actions_from("drafted") == ("check", "reject", "withdraw")
    assert spec.actions_from("checked") == ("finish", "return", "withdraw")
    assert [t.action for t in spec.transitions_from("checked")][-1] == "expire"


def test_an_unknown_target_state_is_named_with_its_line() -> None:
    err = refused(TINY.replace("to: done", "to: finished"))
    assert "unknown state 'finished'" in str(err)
    assert "line 25" in err.where


def test_an_unreachable_state_is_refused() -> None:
    err = refused(TINY.replace("  done: {terminal: true}", "  done: {terminal: true}\n  limbo: {}"))
    assert "unreachable" in str(err)
    assert "limbo" in str(err)


def test_a_trap_state_without_a_way_out_is_refused() -> None:
    text = TINY.replace("    return_to: drafted\n", "").replace(
        "from: [drafted, checked]", "from: [drafted]"
    )
    text = text.replace("to: done\n    role: branch_head", "to: stuck\n    role: branch_head")
    text = text.replace(
        "  done: {terminal: true}", "  done: {terminal: true}\n  stuck: {idle_expiry_days: null}"
    )
    text = text.replace(
        "  - action: check\n",
        "  - action: skip\n    from: drafted\n    to: done\n    role: teller\n  - action: check\n",
    )
    err = refused(text)
    assert "trap state 'stuck'" in str(err)


def test_a_definition_without_a_terminal_state_is_refused() -> None:
    text = TINY.replace("{terminal: true}", "{}")
    assert "terminal" in str(refused(text))


def test_a_duplicate_action_from_one_state_is_refused() -> None:
    text = TINY.replace(
        "  - action: finish\n",
        "  - action: check\n    from: drafted\n    to: checked\n"
        "    role: teller\n  - action: finish\n",
    )
    assert "duplicate action 'check'" in str(refused(text))


def test_an_unknown_role_is_refused_with_the_known_ones() -> None:
    err = refused(TINY.replace("role: branch_head", "role: janitor"))
    assert "unknown role 'janitor'" in str(err)
    assert "branch_head" in str(err)


def test_an_unknown_guard_is_refused() -> None:
    assert "unknown guard 'looks_honest'" in str(
        refused(TINY.replace("- distinct_from: [checker]", "- looks_honest"))
    )


def test_an_unknown_key_catches_typos() -> None:
    assert "unknown key 'rol'" in str(
        refused(TINY.replace("role: branch_head", "rol: branch_head"))
    )


def test_an_undeclared_initial_state_is_refused() -> None:
    assert "initial state 'draft'" in str(
        refused(TINY.replace("initial: drafted", "initial: draft"))
    )


def test_reserved_action_names_cannot_be_steps() -> None:
    assert "reserved" in str(refused(TINY.replace("action: finish", "action: reject")))


def test_broken_yaml_names_the_line() -> None:
    err = refused(TINY.replace("states:\n", "states:\n  bad: [unclosed\n"))
    assert "not valid YAML" in str(err)
    assert "line" in err.where


def test_terminal_states_accept_nothing() -> None:
    text = TINY.replace("from: [drafted, checked]", "from: [drafted, checked, done]")
    assert "terminal state 'done' cannot have actions" in str(refused(text))

"""The exceptions loanflow raises: one clear line for a user, attributes for programs."""

from __future__ import annotations

from collections.abc import Iterable


class LoanflowError(Exception):
    """Base of every error a user can cause; `str()` is one line fit for stderr."""

    exit_code = 1


class InvalidDefinition(LoanflowError):
    """A definition file is malformed or breaks a structural rule."""

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file, self.where, self.problem = file, where, problem
        super().__init__(f"{file}: {where}: {problem}" if where else f"{file}: {problem}")


class InvalidInput(LoanflowError):
    """A value given by the user cannot be accepted."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field, self.value, self.problem = field, value, problem
        super().__init__(
            f"{field} missing: {problem}"
            if value is None
            else f"invalid {field} {_short(value)}: {problem}"
        )


class NotFound(LoanflowError):
    """Something named by the user does not exist."""

    def __init__(self, kind: str, identifier: object, hint: str = "") -> None:
        self.kind, self.identifier = kind, identifier
        super().__init__(f"no {kind} {_short(identifier)}" + (f"; {hint}" if hint else ""))


class ActionRefused(LoanflowError):
    """The engine refused an action on a case."""

    def __init__(self, case_id: str, action: str, state: str, reason: str) -> None:
        self.case_id, self.action, self.state, self.reason = case_id, action, state, reason
        super().__init__(f"{case_id}: cannot {action} in state {state}: {reason}")


class ActionNotAllowed(ActionRefused):
    """The action is not a move of the definition from the current state."""

    def __init__(self, case_id: str, action: str, state: str, allowed: Iterable[str]) -> None:
        self.allowed_actions = tuple(allowed)
        listed = ", ".join(self.allowed_actions) or "none (the case is closed)"
        super().__init__(case_id, action, state, f"allowed actions here are: {listed}")


class RoleRequired(ActionRefused):
    """The actor does not hold the role the action needs."""

    def __init__(self, case_id: str, action: str, state: str, role: str, actor: str) -> None:
        self.role = role
        super().__init__(case_id, action, state, f"{actor} does not hold the role {role}")


class DutySegregationBreach(ActionRefused):
    """The actor already played a part on this case that this action must be independent of."""

    def __init__(self, case_id: str, action: str, state: str, rule: str, detail: str) -> None:
        self.rule = rule
        super().__init__(case_id, action, state, f"segregation of duties ({rule}): {detail}")


class CommentRequired(ActionRefused):
    """Returns, rejections and other judgements must say why."""

    def __init__(self, case_id: str, action: str, state: str) -> None:
        super().__init__(case_id, action, state, "a --comment saying why is required")


class ConcurrentChange(LoanflowError):
    """Another writer changed the case between our read and our write."""

    exit_code = 3

    def __init__(self, case_id: str | None, current_state: str | None) -> None:
        self.case_id, self.current_state = case_id, current_state
        if case_id is None:
            super().__init__("the data changed while this command ran; run the command again")
            return
        super().__init__(
            f"{case_id}: this case changed since it was read (now in state {current_state}); "
            "run the command again"
        )


class DatabaseUnavailable(LoanflowError):
    """The database cannot be reached, is not initialised, or stayed locked too long."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[: limit - 3] + "..."

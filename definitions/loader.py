"""Load definition YAML into frozen `workflow.spec` objects, checking every structural rule."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from workflow import spec as s
from workflow.errors import InvalidDefinition
from workflow.guards import KNOWN_GUARDS

if TYPE_CHECKING:
    import yaml

    from workflow.admin import ParsedDefinition

Path = tuple[str | int, ...]

_WORKFLOW_KEYS = {"name", "version", "tier", "title", "initial", "timers", "committee", "states"}
_WORKFLOW_KEYS |= {"steps", "withdraw", "kind"}
_STEP_KEYS = {"action", "from", "to", "role", "guards", "records", "return_to", "reject", "vote"}
_STEP_KEYS |= {"documents"}
_TIMER_KEYS = {"sla_days", "escalation_levels", "idle_expiry_days", "vip_factor"}
_POLICY_KEYS = {"name", "version", "kind", "max_amount", "medium_cap", "products", "guarantees"}
_POLICY_KEYS |= {"low", "paths"}
_RATING_KEYS = {"name", "version", "kind", "title", "min_measured_actions", "floor", "levels"}
_LEVEL_KEYS = {"stars", "max_turnaround_ratio", "max_breach_rate"}
TIERS = ("low", "medium", "high")


@dataclass(frozen=True)
class DefinitionSource:
    """The text of one definition file, with the name it is reported under."""

    file: str
    text: str


def bundled_sources() -> list[DefinitionSource]:
    """The definition files shipped inside the package, sorted by file name."""
    from importlib import resources

    folder = resources.files("definitions")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return [DefinitionSource(f.name, f.read_text(encoding="utf-8")) for f in files]


def compile_text(file: str, text: str) -> str:
    """A definition's data as JSON, stored at deployment so that reading it back needs no YAML."""
    # Key order is kept: the order of states in the YAML is the order they are listed in.
    return json.dumps(_Document.from_yaml(DefinitionSource(file, text)).data)


def parse_compiled(file: str, compiled: str) -> s.DefinitionSpec:
    """Validate and build a deployed definition from its compiled JSON (the repository's parser)."""
    return _build(_Document.from_compiled(file, compiled))


def bundled_parsed() -> list[ParsedDefinition]:
    """Every bundled definition, parsed and checked, ready to deploy."""
    from workflow.admin import ParsedDefinition  # deploying only: the action path never needs it

    return [
        ParsedDefinition(src.file, src.text, load(src), compile_text(src.file, src.text))
        for src in bundled_sources()
    ]


def template_names() -> set[str]:
    """The document templates shipped in `definitions/templates/` (without `.html`)."""
    from importlib import resources

    folder = resources.files("definitions") / "templates"
    names = (f.name for f in folder.iterdir() if f.name.endswith(".html"))
    return {n.removesuffix(".html") for n in names if not n.startswith("_")}


def load(source: DefinitionSource) -> s.DefinitionSpec:
    """Parse and validate one definition file.

    Raises:
        InvalidDefinition: naming the file, the line and key, and the problem.
    """
    return _build(_Document.from_yaml(source))


def _build(doc: _Document) -> s.DefinitionSpec:
    if doc.data.get("kind") == "tier_policy":
        return _Policy(doc).build()
    if doc.data.get("kind") == "service_rating":
        return _Rating(doc).build()
    return _Workflow(doc).build()


class _Document:
    """A definition's data plus the line of every key, for error messages."""

    def __init__(self, file: str, data: Any, lines: dict[Path, int]) -> None:
        if not isinstance(data, dict):
            raise InvalidDefinition(file, "", "expected a mapping at the top level")
        self.file, self.data, self.lines = file, data, lines

    @classmethod
    def from_yaml(cls, source: DefinitionSource) -> _Document:
        import yaml  # only deploying reads YAML; the action path reads the compiled JSON

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
        try:
            node = yaml.compose(source.text, Loader=loader)  # for line numbers in errors
            data = yaml.load(source.text, Loader=loader)  # noqa: S506  # a safe loader
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise InvalidDefinition(source.file, where, f"not valid YAML: {problem}") from err
        return cls(source.file, data, dict(_lines(node, ())) if node is not None else {})

    @classmethod
    def from_compiled(cls, file: str, text: str) -> _Document:
        return cls(file, json.loads(text), {})

    def error(self, path: Path, problem: str) -> InvalidDefinition:
        line = next(
            (self.lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in self.lines), 0
        )
        key = ".".join(str(p) for p in path)
        return InvalidDefinition(self.file, f"line {line}, {key}" if line else key, problem)

    def get(
        self, mapping: Mapping[str, Any], key: str, path: Path, kind: type | tuple[type, ...]
    ) -> Any:
        if key not in mapping:
            raise self.error(path, f"missing required key {key!r}")
        return self.check_type(mapping[key], path + (key,), kind)

    def check_type(self, value: Any, path: Path, kind: type | tuple[type, ...]) -> Any:
        bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
        if bad_bool or not isinstance(value, kind):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.error(path, f"expected {names}, got {value!r}")
        return value

    def check_keys(self, mapping: Mapping[str, Any], allowed: set[str], path: Path) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.error(
                    path + (key,), f"unknown key {key!r} (known: {', '.join(sorted(allowed))})"
                )


def _lines(node: yaml.Node, path: Path) -> Iterator[tuple[Path, int]]:
    import yaml

    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield path + (key.value,), key.start_mark.line + 1
            yield from _lines(value, path + (key.value,))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _lines(item, path + (index,))


class _Workflow:
    def __init__(self, doc: _Document) -> None:
        self.doc = doc
        self.data = doc.data

    def build(self) -> s.WorkflowSpec:
        doc, data = self.doc, self.data
        doc.check_keys(data, _WORKFLOW_KEYS, ())
        name = doc.get(data, "name", (), str)
        version = doc.get(data, "version", (), int)
        tier = doc.get(data, "tier", (), str)
        if tier not in TIERS:
            raise doc.error(("tier",), f"unknown tier {tier!r} (known: {', '.join(TIERS)})")
        defaults = self._timers(data.get("timers", {}), ("timers",), None)
        states = self._states(defaults)
        initial = doc.get(data, "initial", (), str)
        if initial not in {st.name for st in states}:
            raise doc.error(("initial",), f"initial state {initial!r} is not declared under states")
        transitions = self._transitions(states)
        workflow = s.WorkflowSpec(
            name=name,
            version=version,
            tier=tier,
            title=str(data.get("title", name)),
            initial=initial,
            states=states,
            transitions=transitions,
            committee=self._committee(),
        )
        self._check_graph(workflow)
        return workflow

    def _timers(self, raw: Any, path: Path, base: s.TimerSpec | None) -> s.TimerSpec | None:
        doc = self.doc
        doc.check_type(raw, path, dict)
        doc.check_keys(raw, _TIMER_KEYS, path)
        if base is None and raw.get("sla_days") is None:
            return None
        sla = _days(doc, raw, "sla_days", path, base.sla if base else None)
        expiry = _days(
            doc, raw, "idle_expiry_days", path, base.idle_expiry if base else timedelta(0)
        )
        levels = raw.get("escalation_levels", base.escalation_levels if base else [1, 2])
        doc.check_type(levels, path + ("escalation_levels",), (list, tuple))
        for i, level in enumerate(levels):
            if doc.check_type(level, path + ("escalation_levels", i), int) < 1:
                raise doc.error(path + ("escalation_levels", i), "levels are whole numbers from 1")
        factor = raw.get("vip_factor", base.vip_factor if base else 1.0)
        doc.check_type(factor, path + ("vip_factor",), (int, float))
        if not 0 < factor <= 1:
            raise doc.error(path + ("vip_factor",), "must be above 0 and at most 1")
        return s.TimerSpec(
            sla or timedelta(0), tuple(levels), expiry or timedelta(0), float(factor)
        )

    def _states(self, defaults: s.TimerSpec | None) -> tuple[s.StateSpec, ...]:
        doc = self.doc
        raw = doc.get(self.data, "states", (), dict)
        states = []
        for name, body in raw.items():
            path = ("states", name)
            body = {} if body is None else doc.check_type(body, path, dict)
            terminal = doc.check_type(body.get("terminal", False), path + ("terminal",), bool)
            doc.check_keys(body, _TIMER_KEYS | {"terminal"}, path)
            own = {k: v for k, v in body.items() if k != "terminal"}
            timers = None if terminal or defaults is None else self._timers(own, path, defaults)
            states.append(s.StateSpec(str(name), terminal, timers))
        if not states:
            raise doc.error(("states",), "no states declared")
        return tuple(states)

    def _committee(self) -> s.CommitteeSpec | None:
        raw = self.data.get("committee")
        if raw is None:
            return None
        doc, path = self.doc, ("committee",)
        doc.check_type(raw, path, dict)
        doc.check_keys(raw, {"panel", "approvals_needed", "rejections_needed"}, path)
        panel, approvals, rejections = (
            doc.get(raw, key, path, int)
            for key in ("panel", "approvals_needed", "rejections_needed")
        )
        if not 0 < approvals <= panel or not 0 < rejections <= panel:
            raise doc.error(
                path, "approvals_needed and rejections_needed must be from 1 to the panel"
            )
        if approvals + rejections <= panel:
            raise doc.error(path, "a panel could then both approve and reject: raise a threshold")
        return s.CommitteeSpec(panel, approvals, rejections)

    def _transitions(self, states: tuple[s.StateSpec, ...]) -> tuple[s.TransitionSpec, ...]:
        doc = self.doc
        names = {st.name for st in states}
        steps = doc.get(self.data, "steps", (), list)
        result: list[s.TransitionSpec] = []
        for index, raw in enumerate(steps):
            result.extend(self._step(raw, ("steps", index), names))
        result.extend(self._withdrawals(names))
        result.extend(
            s.TransitionSpec(s.EXPIRE, st.name, "expired", s.EXPIRE, s.SYSTEM_ROLE)
            for st in states
            if st.timers and st.timers.idle_expiry
        )
        self._check_declared(result, names)
        seen: dict[tuple[str, str], Path] = {}
        for index, raw in enumerate(steps):
            key = (raw["action"], raw["from"])
            if key in seen:
                raise doc.error(
                    ("steps", index, "action"), f"duplicate action {key[0]!r} from {key[1]!r}"
                )
            seen[key] = ("steps", index)
        return tuple(result)

    def _step(self, raw: Any, path: Path, names: set[str]) -> list[s.TransitionSpec]:
        doc = self.doc
        doc.check_type(raw, path, dict)
        doc.check_keys(raw, _STEP_KEYS, path)
        action = doc.get(raw, "action", path, str)
        if action in s.RESERVED_ACTIONS:
            raise doc.error(
                path + ("action",), f"{action!r} is reserved: use return_to/reject/withdraw"
            )
        source = doc.get(raw, "from", path, str)
        role = self._role(doc.get(raw, "role", path, str), path + ("role",))
        guards = self._guards(raw.get("guards", []), path + ("guards",))
        records = raw.get("records")
        if records is not None:
            doc.check_type(records, path + ("records",), str)
        if "vote" in raw:
            return self._vote(raw, path, action, source, role, guards)
        dest = doc.get(raw, "to", path, str)
        documents = self._documents(raw.get("documents", []), path + ("documents",))
        step = s.TransitionSpec(
            action, source, dest, s.STEP, role, guards, records, documents=documents
        )
        out = [step]
        if "return_to" in raw:
            back = doc.get(raw, "return_to", path, str)
            out.append(s.TransitionSpec(s.RETURN, source, back, s.RETURN, role, guards, None, True))
        if doc.check_type(raw.get("reject", False), path + ("reject",), bool):
            out.append(
                s.TransitionSpec(s.REJECT, source, "rejected", s.REJECT, role, guards, None, True)
            )
        return out

    def _vote(
        self,
        raw: dict[str, Any],
        path: Path,
        action: str,
        source: str,
        role: str,
        guards: tuple[s.GuardSpec, ...],
    ) -> list[s.TransitionSpec]:
        doc = self.doc
        outcomes = doc.check_type(raw["vote"], path + ("vote",), dict)
        if set(outcomes) != {"approve", "reject"}:
            raise doc.error(
                path + ("vote",), "a vote maps exactly `approve` and `reject` to states"
            )
        if "committee" not in self.data:
            raise doc.error(path + ("vote",), "a vote step needs a `committee` panel rule")
        decided = [
            s.TransitionSpec(action, source, str(dest), s.VOTE, role, guards, None, False, outcome)
            for outcome, dest in outcomes.items()
        ]
        # An undecided vote is recorded and leaves the case where it is.
        return [*decided, s.TransitionSpec(action, source, None, s.VOTE, role, guards)]

    def _withdrawals(self, names: set[str]) -> list[s.TransitionSpec]:
        raw = self.data.get("withdraw")
        if raw is None:
            return []
        doc, path = self.doc, ("withdraw",)
        doc.check_type(raw, path, dict)
        doc.check_keys(raw, {"role", "from"}, path)
        role = self._role(doc.get(raw, "role", path, str), path + ("role",))
        sources = doc.get(raw, "from", path, list)
        return [
            s.TransitionSpec(s.WITHDRAW, str(src), "withdrawn", s.WITHDRAW, role, (), None, True)
            for src in sources
        ]

    def _role(self, role: str, path: Path) -> str:
        if role not in s.ROLES:
            raise self.doc.error(
                path, f"unknown role {role!r} (known: {', '.join(sorted(s.ROLES))})"
            )
        return role

    def _guards(self, raw: Any, path: Path) -> tuple[s.GuardSpec, ...]:
        doc = self.doc
        doc.check_type(raw, path, list)
        guards = []
        for index, item in enumerate(raw):
            name, params = (
                (item, []) if isinstance(item, str) else _single(doc, item, path + (index,))
            )
            if name not in KNOWN_GUARDS:
                known = ", ".join(sorted(KNOWN_GUARDS))
                raise doc.error(path + (index,), f"unknown guard {name!r} (known: {known})")
            doc.check_type(params, path + (index, name), list)
            guards.append(s.GuardSpec(name, tuple(str(p) for p in params)))
        return tuple(guards)

    def _documents(self, raw: Any, path: Path) -> tuple[s.DocumentSpec, ...]:
        doc = self.doc
        doc.check_type(raw, path, list)
        documents = []
        for index, item in enumerate(raw):
            where = path + (index,)
            doc.check_type(item, where, dict)
            doc.check_keys(item, {"template", "copies"}, where)
            template = doc.get(item, "template", where, str)
            if template not in template_names():
                known = ", ".join(sorted(template_names()))
                raise doc.error(
                    where + ("template",), f"unknown template {template!r} (known: {known})"
                )
            copies = doc.check_type(item.get("copies", ["original"]), where + ("copies",), list)
            if not copies or len(set(copies)) != len(copies):
                raise doc.error(where + ("copies",), "name each copy once")
            documents.append(s.DocumentSpec(template, tuple(str(c) for c in copies)))
        return tuple(documents)

    def _check_declared(self, transitions: list[s.TransitionSpec], names: set[str]) -> None:
        for t in transitions:
            for end, state in (("from", t.source), ("to", t.dest)):
                if state is not None and state not in names:
                    key = "return_to" if (t.kind, end) == (s.RETURN, "to") else end
                    path = self._path_of(t) + (key,)
                    raise self.doc.error(path, f"{t.action}: unknown state {state!r} in {end!r}")

    def _path_of(self, t: s.TransitionSpec) -> Path:
        if t.kind == s.WITHDRAW:
            return ("withdraw",)
        if t.kind == s.EXPIRE:
            return ("states",)
        for index, raw in enumerate(self.data["steps"]):
            if raw.get("from") == t.source and (raw.get("action") == t.action or t.kind != s.STEP):
                return ("steps", index)
        return ("steps",)

    def _check_graph(self, w: s.WorkflowSpec) -> None:
        doc = self.doc
        for t in w.transitions:
            if w.is_terminal(t.source):
                raise doc.error(
                    self._path_of(t), f"terminal state {t.source!r} cannot have actions"
                )
        reachable = _closure(
            {w.initial}, lambda st: {t.dest for t in w.transitions_from(st) if t.dest}
        )
        for st in w.states:
            if st.name not in reachable:
                raise doc.error(
                    ("states", st.name), f"state {st.name!r} is unreachable from {w.initial!r}"
                )
        terminals = {st.name for st in w.states if st.terminal}
        if not terminals:
            raise doc.error(("states",), "no terminal state: a case could never finish")
        for st in w.states:
            ends = _closure({st.name}, lambda x: {t.dest for t in w.transitions_from(x) if t.dest})
            if not ends & terminals:
                raise doc.error(
                    ("states", st.name), f"trap state {st.name!r}: no terminal reachable"
                )


class _Policy:
    def __init__(self, doc: _Document) -> None:
        self.doc = doc

    def build(self) -> s.TierPolicy:
        doc, data = self.doc, self.doc.data
        doc.check_keys(data, _POLICY_KEYS, ())
        low = doc.get(data, "low", (), dict)
        doc.check_keys(low, {"product", "guarantee", "rating_caps"}, ("low",))
        products = tuple(doc.get(data, "products", (), list))
        guarantees = tuple(doc.get(data, "guarantees", (), list))
        caps = doc.get(low, "rating_caps", ("low",), dict)
        paths = doc.get(data, "paths", (), dict)
        if set(paths) != set(TIERS):
            raise doc.error(("paths",), f"paths must name exactly the tiers {', '.join(TIERS)}")
        policy = s.TierPolicy(
            name=doc.get(data, "name", (), str),
            version=doc.get(data, "version", (), int),
            max_amount_fen=_fen(doc, data, "max_amount", ()),
            medium_cap_fen=_fen(doc, data, "medium_cap", ()),
            products=tuple(str(p) for p in products),
            guarantees=tuple(str(g) for g in guarantees),
            low_product=doc.get(low, "product", ("low",), str),
            low_guarantee=doc.get(low, "guarantee", ("low",), str),
            rating_caps_fen={str(r): _fen(doc, caps, r, ("low", "rating_caps")) for r in caps},
            paths={str(k): str(v) for k, v in paths.items()},
        )
        if policy.low_product not in policy.products:
            raise doc.error(("low", "product"), f"unknown product {policy.low_product!r}")
        if policy.low_guarantee not in policy.guarantees:
            raise doc.error(("low", "guarantee"), f"unknown guarantee {policy.low_guarantee!r}")
        return policy


class _Rating:
    """The star rule of the service report: levels from most stars down, each looser."""

    def __init__(self, doc: _Document) -> None:
        self.doc = doc

    def build(self) -> s.ServiceRating:
        doc, data = self.doc, self.doc.data
        doc.check_keys(data, _RATING_KEYS, ())
        levels = doc.get(data, "levels", (), list)
        if not levels:
            raise doc.error(("levels",), "at least one level is needed")
        rating = s.ServiceRating(
            name=doc.get(data, "name", (), str),
            version=_positive(doc, data, "version", ()),
            title=str(data.get("title", "")),
            min_measured_actions=_positive(doc, data, "min_measured_actions", ()),
            levels=tuple(self._level(raw, ("levels", i)) for i, raw in enumerate(levels)),
            floor=doc.get(data, "floor", (), int),
        )
        for i, (upper, lower) in enumerate(zip(rating.levels, rating.levels[1:], strict=False)):
            self._check_order(upper, lower, ("levels", i + 1))
        if not 0 <= rating.floor < rating.levels[-1].stars:
            raise doc.error(("floor",), "must be from 0 to fewer stars than the last level")
        return rating

    def _level(self, raw: Any, path: Path) -> s.StarLevel:
        doc = self.doc
        doc.check_type(raw, path, dict)
        doc.check_keys(raw, _LEVEL_KEYS, path)
        ratio = doc.get(raw, "max_turnaround_ratio", path, (int, float))
        if ratio <= 0:
            raise doc.error(path + ("max_turnaround_ratio",), "must be above 0")
        rate = doc.get(raw, "max_breach_rate", path, (int, float))
        if not 0 <= rate <= 1:
            raise doc.error(path + ("max_breach_rate",), "must be from 0 to 1")
        return s.StarLevel(_positive(doc, raw, "stars", path), float(ratio), float(rate))

    def _check_order(self, upper: s.StarLevel, lower: s.StarLevel, path: Path) -> None:
        if lower.stars >= upper.stars:
            raise self.doc.error(path + ("stars",), "levels go from most stars to fewest")
        if (
            lower.max_turnaround_ratio < upper.max_turnaround_ratio
            or lower.max_breach_rate < upper.max_breach_rate
        ):
            raise self.doc.error(path, "each level's limits must be as loose as the one above")


def _positive(doc: _Document, raw: Mapping[str, Any], key: str, path: Path) -> int:
    value: int = doc.get(raw, key, path, int)
    if value < 1:
        raise doc.error(path + (key,), "must be a whole number from 1")
    return value


def _single(doc: _Document, item: Any, path: Path) -> tuple[str, Any]:
    if not isinstance(item, dict) or len(item) != 1:
        raise doc.error(path, "a guard is a name, or a mapping of one name to its parameters")
    ((name, params),) = item.items()
    return str(name), params


def _days(
    doc: _Document, raw: dict[str, Any], key: str, path: Path, default: timedelta | None
) -> timedelta | None:
    if key not in raw:
        return default
    if raw[key] is None:
        return timedelta(0)
    value = doc.check_type(raw[key], path + (key,), (int, float))
    if value <= 0:
        raise doc.error(path + (key,), "must be a positive number of days, or null for none")
    return timedelta(days=value)


def _fen(doc: _Document, raw: Mapping[str, Any], key: str, path: Path) -> int:
    value = raw.get(key)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("NaN")
    if (
        value is None
        or not amount.is_finite()
        or amount <= 0
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise doc.error(
            path + (key,), f"expected a positive amount in yuan with two decimals, got {value!r}"
        )
    return int(amount * 100)


def _closure(start: set[str], step: Any) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in step(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen

"""Draw a workflow definition as a Mermaid, Graphviz DOT or self-contained SVG diagram."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from workflow.spec import EXPIRE, REJECT, RETURN, STEP, VOTE, WITHDRAW, StateSpec, WorkflowSpec

VISITED_FILL = "#dbeafe"  # light blue: states the case has been through
CURRENT_FILL = "#fde68a"  # gold: the state the case is in now
CURRENT_STROKE = "#92400e"
_DASHED_KINDS = frozenset({RETURN, REJECT, WITHDRAW, EXPIRE})
_MERMAID_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MERMAID_KEYWORDS = frozenset({"state", "note", "end", "direction", "class", "classdef", "as"})
_MERMAID_UNSAFE = re.compile(r"[^\w .,()/]")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# SVG layout, in pixels.
_PAD = 16.0
_TOP = _PAD + 34.0  # below the visible heading
_BOX_H = 36.0
_GAP = 40.0
_ROW = _BOX_H + _GAP
_FONT = 12.0
_SMALL = 11.0
_INK = "#0f172a"
_LINE = "#475569"
_FAINT = "#94a3b8"
_TAKEN = "#1e3a8a"
_DASH = "5 3"

_Point = tuple[float, float]
_Attrs = dict[str, str | float]


@dataclass(frozen=True)
class _Edge:
    """One drawn edge; an undecided vote (no destination) loops back on its source."""

    source: str
    dest: str
    action: str
    role: str
    kind: str

    @property
    def label(self) -> str:
        """`action (role)`."""
        return f"{self.action} ({self.role})"


def _edges(spec: WorkflowSpec) -> list[_Edge]:
    """The distinct (source, dest, action, role) edges of `spec`, in definition order."""
    seen: dict[tuple[str, str, str, str], _Edge] = {}
    for t in spec.transitions:
        edge = _Edge(t.source, t.dest or t.source, t.action, t.role, t.kind)
        seen.setdefault((edge.source, edge.dest, edge.action, edge.role), edge)
    return list(seen.values())


def _check_states(spec: WorkflowSpec, names: Iterable[str | None]) -> None:
    """Refuse state names (for marking) that `spec` does not declare.

    Raises:
        ValueError: naming the unknown states.
    """
    known = {st.name for st in spec.states}
    unknown = sorted({n for n in names if n is not None and n not in known})
    if unknown:
        listed = ", ".join(map(repr, unknown))
        raise ValueError(f"not states of {spec.name} v{spec.version}: {listed}")


# Mermaid ------------------------------------------------------------------------------------


def to_mermaid(
    spec: WorkflowSpec, *, visited: Sequence[str] = (), current: str | None = None
) -> str:
    """A Mermaid `stateDiagram-v2` of `spec`, edges labelled `action (role)`.

    Args:
        spec: the workflow definition to draw.
        visited: states a case has been through, marked with the `visited` class.
        current: the state a case is in now, marked with the `current` class.

    Returns:
        The diagram source, ending with a newline.

    Raises:
        ValueError: if `visited` or `current` names a state `spec` does not declare.
    """
    _check_states(spec, [*visited, current])
    ids = _mermaid_ids(spec)
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{_mermaid_text(n)}" as {i}' for n, i in ids.items() if n != i]
    lines.append(f"    [*] --> {ids[spec.initial]}")
    lines += [
        f"    {ids[e.source]} --> {ids[e.dest]} : {_mermaid_text(e.label)}" for e in _edges(spec)
    ]
    lines += [f"    {ids[st.name]} --> [*]" for st in spec.states if st.terminal]
    lines += _mermaid_classes(ids, visited, current)
    return "\n".join(lines) + "\n"


def _mermaid_ids(spec: WorkflowSpec) -> dict[str, str]:
    """State name to Mermaid id: the name itself if every name is a plain identifier, else sN."""
    names = [st.name for st in spec.states]
    if all(_MERMAID_ID.fullmatch(n) and n.lower() not in _MERMAID_KEYWORDS for n in names):
        return {n: n for n in names}
    return {n: f"s{index}" for index, n in enumerate(names)}


def _mermaid_text(text: str) -> str:
    """`text` with every character Mermaid could read as syntax written as an entity code."""
    return _MERMAID_UNSAFE.sub(lambda m: f"#{ord(m.group())};", text)


def _mermaid_classes(
    ids: Mapping[str, str], visited: Sequence[str], current: str | None
) -> list[str]:
    """The classDef and class lines marking visited states and the current state."""
    lines: list[str] = []
    done = [ids[n] for n in dict.fromkeys(visited) if n != current]
    if done:
        lines.append(f"    classDef visited fill:{VISITED_FILL}")
        lines.append(f"    class {','.join(done)} visited")
    if current is not None:
        style = f"fill:{CURRENT_FILL},stroke:{CURRENT_STROKE},stroke-width:3px"
        lines.append(f"    classDef current {style}")
        lines.append(f"    class {ids[current]} current")
    return lines


# Graphviz DOT -------------------------------------------------------------------------------


def to_dot(spec: WorkflowSpec, *, visited: Sequence[str] = (), current: str | None = None) -> str:
    """A Graphviz DOT digraph of `spec`; return, reject, withdraw and expire edges are dashed.

    Args:
        spec: the workflow definition to draw.
        visited: states a case has been through, filled light blue.
        current: the state a case is in now, filled gold with a bold border.

    Returns:
        The graph source, ending with a newline.

    Raises:
        ValueError: if `visited` or `current` names a state `spec` does not declare.
    """
    _check_states(spec, [*visited, current])
    lines = [
        f"digraph {_dot_quote(f'{spec.name} v{spec.version}')} {{",
        "    rankdir=TB;",
        f"    label={_dot_quote(spec.title)};",
        "    labelloc=t;",
        '    fontname="Helvetica";',
        '    node [fontname="Helvetica", fontsize=11];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]
    lines += [f"    {_dot_node(st, set(visited), current)}" for st in spec.states]
    lines += [f"    {_dot_edge(e)}" for e in _edges(spec)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    """`text` as a double-quoted DOT string, with `"`, `\\` and line breaks escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n") + '"'


def _dot_node(state: StateSpec, visited: set[str], current: str | None) -> str:
    """The DOT statement for one state, with its shape and marking."""
    attrs = {"label": _dot_quote(state.name)}
    style = [] if state.terminal else ["rounded"]
    attrs["shape"] = "doublecircle" if state.terminal else "box"
    if state.name == current:
        style += ["filled", "bold"]
        attrs |= {"fillcolor": _dot_quote(CURRENT_FILL), "color": _dot_quote(CURRENT_STROKE)}
        attrs["penwidth"] = "2"
    elif state.name in visited:
        style.append("filled")
        attrs["fillcolor"] = _dot_quote(VISITED_FILL)
    if style:
        attrs["style"] = _dot_quote(",".join(style))
    listed = ", ".join(f"{key}={value}" for key, value in attrs.items())
    return f"{_dot_quote(state.name)} [{listed}];"


def _dot_edge(edge: _Edge) -> str:
    """The DOT statement for one edge, labelled with its action over its role."""
    label = _dot_quote(edge.action)[:-1] + "\\n" + _dot_quote(f"({edge.role})")[1:]
    dashed = ", style=dashed" if edge.kind in _DASHED_KINDS else ""
    return f"{_dot_quote(edge.source)} -> {_dot_quote(edge.dest)} [label={label}{dashed}];"


# SVG ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    """The edges between two states, drawn as one line labelled with their actions."""

    source: str
    dest: str
    label: str
    dashed: bool


@dataclass(frozen=True)
class _Bus:
    """One dashed connector from the main column to a side state, shared by every source."""

    dest: str
    sources: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class _Plan:
    """What the SVG shows: the two columns, and the edges grouped by how they are drawn."""

    main: tuple[str, ...]  # the work path, top to bottom
    side: tuple[str, ...]  # everything else: rejected, withdrawn, expired
    links: tuple[_Link, ...]  # between main-column states
    buses: tuple[_Bus, ...]  # from main-column states into a side state
    strays: tuple[_Link, ...]  # from side states (none in the bundled definitions)


@dataclass(frozen=True)
class _Box:
    """Where a state's box stands; every box is `_BOX_H` high."""

    x: float
    y: float
    w: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + _BOX_H / 2

    @property
    def right(self) -> float:
        return self.x + self.w


@dataclass(frozen=True)
class _Layout:
    """Where everything in the SVG goes, and the size of the canvas."""

    boxes: dict[str, _Box]
    rank: dict[str, int]  # row of each main-column state
    bus_x: dict[str, float]  # x of each side state's vertical connector
    label_x: float  # where connector labels start
    width: float
    height: float


def to_svg(
    spec: WorkflowSpec,
    *,
    visited: Sequence[str] = (),
    current: str | None = None,
    taken: Sequence[tuple[str, str]] = (),
) -> str:
    """A self-contained inline SVG of `spec`, laid out without Graphviz.

    The work path runs down the left column; the other states (rejected, withdrawn, expired)
    stand in a right column, each reached by one dashed connector. Returns arc on the left.

    Args:
        spec: the workflow definition to draw.
        visited: states a case has been through, filled light blue.
        current: the state a case is in now, filled gold with a thicker border.
        taken: (from_state, to_state) moves the case made, drawn darker and thicker.

    Returns:
        The `<svg>` element, with no scripts and no external references.

    Raises:
        ValueError: if `visited`, `current` or `taken` names a state `spec` does not declare.
    """
    _check_states(spec, [*visited, current, *(name for pair in taken for name in pair)])
    plan = _plan(spec)
    lay = _layout(spec, plan)
    moves = set(taken)
    body = [_svg_link(link, lay, moves) for link in plan.links]
    body += [_svg_bus(bus, lay, moves) for bus in plan.buses]
    body += [_svg_stray(link, lay, moves) for link in plan.strays]
    body += [_svg_state(st, lay.boxes[st.name], set(visited), current) for st in spec.states]
    return "\n".join([_svg_open(spec, lay), *body, "</svg>"]) + "\n"


def _is_forward(kind: str, outcome: str | None) -> bool:
    """Whether a transition moves the work along its path (a step, or a vote not to reject)."""
    return kind == STEP or (kind == VOTE and outcome != "reject")


def _main_line(spec: WorkflowSpec) -> tuple[str, ...]:
    """The states reached from the initial state by forward moves, in path order."""
    order = [spec.initial]
    for name in order:  # grows while walked: breadth first, so a chain comes out in order
        for t in spec.transitions_from(name):
            if t.dest is not None and _is_forward(t.kind, t.outcome) and t.dest not in order:
                order.append(t.dest)
    return tuple(order)


def _plan(spec: WorkflowSpec) -> _Plan:
    """Sort the states into the two columns and the edges by how they are drawn."""
    main = _main_line(spec)
    side = tuple(st.name for st in spec.states if st.name not in main)
    pairs: dict[tuple[str, str], dict[str, str]] = {}
    for e in _edges(spec):
        if e.source != e.dest:  # the undecided vote's loop is left out of the SVG
            pairs.setdefault((e.source, e.dest), {})[e.action] = e.kind
    links = [_link(s, d, kinds) for (s, d), kinds in pairs.items()]
    buses = [
        _bus(dest, {s: kinds for (s, d), kinds in pairs.items() if d == dest and s in main})
        for dest in side
    ]
    return _Plan(
        main=main,
        side=side,
        links=tuple(link for link in links if {link.source, link.dest} <= set(main)),
        buses=tuple(bus for bus in buses if bus.sources),
        strays=tuple(link for link in links if link.source not in main),
    )


def _link(source: str, dest: str, kinds: Mapping[str, str]) -> _Link:
    """The link for the actions (mapped to their kinds) from `source` to `dest`."""
    dashed = all(kind in _DASHED_KINDS for kind in kinds.values())
    return _Link(source, dest, " / ".join(kinds), dashed)


def _bus(dest: str, into: Mapping[str, Mapping[str, str]]) -> _Bus:
    """The connector into side state `dest`; `into` maps each source to its actions' kinds."""
    actions = dict.fromkeys(action for kinds in into.values() for action in kinds)
    sources = tuple(into)
    where = sources[0] if len(sources) == 1 else f"{len(sources)} states"
    return _Bus(dest, sources, f"{' / '.join(actions)} from {where}")


def _text_width(text: str, size: float) -> float:
    """A generous estimate of the width of `text` in a sans-serif font of `size` pixels."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    return size * (wide + 0.62 * (len(text) - wide))


def _column_width(names: Iterable[str]) -> float:
    """The width of a column whose boxes hold `names`."""
    return max([140.0, *(_text_width(n, _FONT) + 28 for n in names)])


def _is_straight(link: _Link, rank: Mapping[str, int]) -> bool:
    """Whether `link` joins a main-column state to the next one down."""
    return rank[link.dest] == rank[link.source] + 1


def _arc_offset(link: _Link, rank: Mapping[str, int]) -> float:
    """How far left of the column an arc bulges: further for longer spans."""
    return 22.0 + 14.0 * (abs(rank[link.dest] - rank[link.source]) - 1)


def _layout(spec: WorkflowSpec, plan: _Plan) -> _Layout:
    """Place the boxes, connectors and labels, and size the canvas to fit them."""
    rank = {name: row for row, name in enumerate(plan.main)}
    arcs = [link for link in plan.links if not _is_straight(link, rank)]
    reach = (0.75 * _arc_offset(a, rank) + 6 + _text_width(a.label, _SMALL) for a in arcs)
    left = _PAD + max(reach, default=0.0)
    main_w = _column_width(plan.main)
    spill = (8 + _text_width(link.label, _SMALL) - main_w / 2 for link in plan.links)
    column_right = left + main_w + max([0.0, *spill])
    bus_x = {bus.dest: column_right + 16 + 10 * k for k, bus in enumerate(plan.buses)}
    label_x = max(bus_x.values(), default=column_right) + 8
    labels = max((_text_width(bus.label, _SMALL) for bus in plan.buses), default=0.0)
    boxes = {name: _Box(left, _TOP + row * _ROW, main_w) for row, name in enumerate(plan.main)}
    boxes |= _side_boxes(plan, label_x + labels + 16)
    right = max([column_right, *(box.right for box in boxes.values())])
    width = max(right, _PAD + _text_width(_caption(spec), 15)) + _PAD
    height = max(box.y for box in boxes.values()) + _BOX_H + _PAD
    return _Layout(boxes, rank, bus_x, label_x, width, height)


def _side_boxes(plan: _Plan, x: float) -> dict[str, _Box]:
    """Side states spread down the right column, each level with a gap between main rows."""
    width = _column_width(plan.side)
    stride = max(1, len(plan.main) // max(1, len(plan.side)))
    first = (stride - 1) // 2
    gap_middle = _TOP + _BOX_H + _GAP / 2  # halfway between the first and second rows
    return {
        name: _Box(x, gap_middle + (first + k * stride) * _ROW - _BOX_H / 2, width)
        for k, name in enumerate(plan.side)
    }


def _svg_open(spec: WorkflowSpec, lay: _Layout) -> str:
    """The opening `<svg>` tag, its `<title>` and the visible heading."""
    attrs: _Attrs = {"xmlns": "http://www.w3.org/2000/svg", "width": lay.width}
    attrs["height"] = lay.height
    attrs |= {"viewBox": f"0 0 {_num(lay.width)} {_num(lay.height)}", "role": "img"}
    attrs |= {"font-family": "sans-serif", "font-size": _FONT}
    heading: _Attrs = {"x": _PAD, "y": _PAD + 15, "font-size": 15, "fill": _INK}
    title = [_tag("title", {}, _caption(spec)), _tag("text", heading, _caption(spec))]
    return "\n".join([f"<svg{_attrs(attrs)}>", *title])


def _caption(spec: WorkflowSpec) -> str:
    """The diagram's title: the definition's title, name and version."""
    return f"{spec.title} ({spec.name} v{spec.version})"


def _pen(colour: str, width: float, dashed: bool) -> _Attrs:
    """Stroke attributes for an unfilled line."""
    pen: _Attrs = {"fill": "none", "stroke": colour, "stroke-width": width}
    return (pen | {"stroke-dasharray": _DASH}) if dashed else pen


def _link_pen(link: _Link, taken: set[tuple[str, str]], colour: str, width: float) -> _Attrs:
    """The pen for `link`: darker and thicker, and solid, if the case took it."""
    if (link.source, link.dest) in taken:
        return _pen(_TAKEN, 2.5, False)
    return _pen(colour, width, link.dashed)


def _svg_link(link: _Link, lay: _Layout, taken: set[tuple[str, str]]) -> str:
    """A main-column link: a straight arrow down, or an arc on the left for any other span."""
    pen = _link_pen(link, taken, _LINE, 1.2)
    if not _is_straight(link, lay.rank):
        return _svg_arc(link, lay, pen)
    a, b = lay.boxes[link.source], lay.boxes[link.dest]
    start, end = (a.cx, a.y + _BOX_H), (b.cx, b.y - 1)
    label = _label(a.cx + 8, (start[1] + end[1]) / 2 + 4, link.label, "start")
    return "\n".join([_line([start, end], pen), _arrow(end, start, pen), label])


def _svg_arc(link: _Link, lay: _Layout, pen: _Attrs) -> str:
    """A link drawn as an arc bulging left of the column, labelled at its apex."""
    a, b = lay.boxes[link.source], lay.boxes[link.dest]
    up = lay.rank[link.dest] < lay.rank[link.source]
    y1, y2 = a.cy + (-6 if up else 6), b.cy + (6 if up else -6)
    bend = a.x - _arc_offset(link, lay.rank)
    curve = f"M {_num(a.x)} {_num(y1)} C {_num(bend)} {_num(y1)} {_num(bend)} {_num(y2)}"
    path = _tag("path", {"d": f"{curve} {_num(b.x - 1)} {_num(y2)}", **pen})
    label = _label(a.x - 0.75 * (a.x - bend) - 4, (y1 + y2) / 2 + 4, link.label, "end")
    return "\n".join([path, _arrow((b.x - 1, y2), (bend, y2), pen), label])


def _svg_bus(bus: _Bus, lay: _Layout, taken: set[tuple[str, str]]) -> str:
    """A side state's dashed connector: a stub from each source, a spine, an arrow across."""
    box, x = lay.boxes[bus.dest], lay.bus_x[bus.dest]
    pen, end = _pen(_FAINT, 1.0, True), (box.x - 1, box.cy)
    sources = [lay.boxes[s] for s in bus.sources]
    ys = [src.cy for src in sources] + [box.cy]
    out = [_line([(x, min(ys)), (x, max(ys))], pen)]
    out += [_line([(src.right, src.cy), (x, src.cy)], pen) for src in sources]
    out += [_line([(x, box.cy), end], pen), _arrow(end, (x, box.cy), pen)]
    out.append(_label(lay.label_x, box.cy - 5, bus.label, "start"))
    dark = _pen(_TAKEN, 2.5, False)
    for src in (lay.boxes[s] for s in bus.sources if (s, bus.dest) in taken):
        out.append(_line([(src.right, src.cy), (x, src.cy), (x, box.cy), end], dark))
        out.append(_arrow(end, (x, box.cy), dark))
    return "\n".join(out)


def _svg_stray(link: _Link, lay: _Layout, taken: set[tuple[str, str]]) -> str:
    """Any other edge: a straight line between the two boxes."""
    a, b = lay.boxes[link.source], lay.boxes[link.dest]
    start, end = _clip(a, (b.cx, b.cy)), _clip(b, (a.cx, a.cy))
    pen = _link_pen(link, taken, _FAINT, 1.0)
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 - 4)
    label = _label(*middle, link.label, "middle")
    return "\n".join([_line([start, end], pen), _arrow(end, start, pen), label])


def _svg_state(state: StateSpec, box: _Box, visited: set[str], current: str | None) -> str:
    """A state's box: rounded, or a double-bordered pill for a terminal state."""
    fill, stroke, width = "#ffffff", "#64748b", 1.2
    if state.name == current:
        fill, stroke, width = CURRENT_FILL, CURRENT_STROKE, 3.0
    elif state.name in visited:
        fill, stroke = VISITED_FILL, "#3b82f6"
    rx = _BOX_H / 2 if state.terminal else 8.0
    frame = {"x": box.x, "y": box.y, "width": box.w, "height": _BOX_H, "rx": rx}
    out = [_tag("rect", {**frame, **_pen(stroke, width, False), "fill": fill})]
    if state.terminal:
        inner = {"x": box.x + 3, "y": box.y + 3, "width": box.w - 6, "height": _BOX_H - 6}
        out.append(_tag("rect", {**inner, "rx": rx - 3, **_pen(stroke, 1.0, False)}))
    text: _Attrs = {"x": box.cx, "y": box.cy + 4, "text-anchor": "middle", "fill": _INK}
    out.append(_tag("text", text, state.name))
    return "\n".join(out)


def _clip(box: _Box, toward: _Point) -> _Point:
    """Where the line from the centre of `box` toward `toward` leaves the box."""
    dx, dy = toward[0] - box.cx, toward[1] - box.cy
    if dx == 0 and dy == 0:
        return box.cx, box.cy
    scale = min(box.w / 2 / abs(dx) if dx else math.inf, _BOX_H / 2 / abs(dy) if dy else math.inf)
    return box.cx + dx * scale, box.cy + dy * scale


def _line(points: Sequence[_Point], pen: _Attrs) -> str:
    """A polyline through `points`."""
    listed = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    return _tag("polyline", {"points": listed, **pen})


def _arrow(tip: _Point, back: _Point, pen: _Attrs) -> str:
    """A filled arrowhead at `tip`, pointing away from `back`, in the colour of `pen`."""
    angle = math.atan2(tip[1] - back[1], tip[0] - back[0])
    cos, sin = math.cos(angle), math.sin(angle)
    base = (tip[0] - 8 * cos, tip[1] - 8 * sin)
    corners = [tip, (base[0] + 4 * sin, base[1] - 4 * cos), (base[0] - 4 * sin, base[1] + 4 * cos)]
    listed = " ".join(f"{_num(x)},{_num(y)}" for x, y in corners)
    return _tag("polygon", {"points": listed, "fill": pen["stroke"]})


def _label(x: float, y: float, text: str, anchor: str) -> str:
    """Small edge text, haloed in white so it stays legible where it crosses a line."""
    attrs: _Attrs = {"x": x, "y": y, "text-anchor": anchor, "font-size": _SMALL, "fill": "#334155"}
    halo: _Attrs = {"stroke": "#ffffff", "stroke-width": 3, "paint-order": "stroke"}
    return _tag("text", {**attrs, **halo, "stroke-linejoin": "round"}, text)


def _tag(name: str, attrs: Mapping[str, str | float], text: str | None = None) -> str:
    """An XML element; every attribute value and the text are escaped."""
    if text is None:
        return f"<{name}{_attrs(attrs)}/>"
    return f"<{name}{_attrs(attrs)}>{escape(_xml_safe(text))}</{name}>"


def _attrs(attrs: Mapping[str, str | float]) -> str:
    """Attributes for an XML start tag, each value escaped and quoted."""
    return "".join(f" {key}={quoteattr(_xml_safe(_num(value)))}" for key, value in attrs.items())


def _xml_safe(text: str) -> str:
    """`text` with characters XML 1.0 cannot hold, even escaped, replaced by U+FFFD."""
    return _XML_INVALID.sub("\ufffd", text)


def _num(value: str | float) -> str:
    """A number written to one decimal place at most; a string as it is."""
    return value if isinstance(value, str) else f"{round(value, 1):g}"

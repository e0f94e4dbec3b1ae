"""What every benchmark shares: alternating repetitions, medians, and the table's rows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds of several repetitions of one side of a benchmark."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def low(self) -> float:
        return min(self.seconds)

    @property
    def high(self) -> float:
        return max(self.seconds)


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    `ours` and `reference` are rates (work per second, higher is better) when `unit` ends in
    "/s", else seconds (lower is better); `ratio` is always "how many times the reference's speed
    loanflow reaches" so that the targets read the same way: loanflow/reference throughput.
    """

    name: str
    unit: str
    ours: Timing
    reference: Timing
    reference_name: str
    work: float  # the units of work one repetition does (actions, escalations, events...)
    target: str  # e.g. ">= 0.5" (within 2x of the floor) or "<= 1.3" for times
    note: str = ""

    def value(self, timing: Timing) -> float:
        return self.work / timing.median if self.unit.endswith("/s") else timing.median

    @property
    def ratio(self) -> float:
        ours, ref = self.value(self.ours), self.value(self.reference)
        return ours / ref if ref else float("inf")

    @property
    def met(self) -> bool:
        op, _, bound = self.target.partition(" ")
        return self.ratio >= float(bound) if op == ">=" else self.ratio <= float(bound)


def alternate(
    ours: Callable[[int], float], reference: Callable[[int], float], repetitions: int
) -> tuple[Timing, Timing]:
    """Run the two sides alternately, `repetitions` times each; each callable gets the repetition
    number and returns the seconds it measured (so that set-up can stay outside the timing)."""
    mine: list[float] = []
    theirs: list[float] = []
    for rep in range(repetitions):
        first, second = (ours, reference) if rep % 2 == 0 else (reference, ours)
        a = first(rep)
        b = second(rep)
        mine.append(a if first is ours else b)
        theirs.append(b if first is ours else a)
    return Timing(tuple(mine)), Timing(tuple(theirs))


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of `action` took."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def format_table(rows: list[Row]) -> str:
    """The results as a Markdown table, as the README shows it."""
    lines = [
        "| benchmark | loanflow (median, min-max) | reference (median, min-max) | ratio | target "
        "| met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {_cell(r, r.ours)} | {r.reference_name}: {_cell(r, r.reference)} "
            f"| {_ratio(r.ratio)} | {r.target} | {'yes' if r.met else 'no'} |"
        )
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def _ratio(ratio: float) -> str:
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"  # 0.007, not 0.00


def _cell(row: Row, timing: Timing) -> str:
    if row.unit.endswith("/s"):
        per = [row.work / s for s in (timing.median, timing.high, timing.low)]
        return f"{per[0]:,.0f} {row.unit} ({per[1]:,.0f}-{per[2]:,.0f})"
    return f"{timing.median * 1000:,.1f} ms ({timing.low * 1000:,.1f}-{timing.high * 1000:,.1f})"

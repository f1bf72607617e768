"""One chart per order, rendered by matplotlib to SVG: traffic, failures and the pod waterfall.

The three panels share one time axis (seconds from the order's window start), so a failure spike,
the delete that caused it and the pod phase it fell in line up vertically. Only aggregates are
drawn: rates per bin, and failures bucketed per pod and per short time slot, so the SVG stays the
same size for a thousand requests or a million.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.typing import RcKeyType
from numpy.typing import NDArray

from harness.analysis.pods import MOMENT_KEYS
from harness.report.lifecycle import PodRow, pod_label, routed_until, ts
from harness.report.markers import ENDPOINT_STATE_LABELS, MARKER_KINDS, EndpointState, Marker
from harness.report.svg import inline_svg
from harness.report.traffic import TrafficBins, TrafficScan

# Text stays text (selectable, searchable for a pod name, and a fifth of the size of glyph
# paths); the SVG names DejaVu Sans and a list of common fallbacks, all local fonts.
_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "drainlab",  # stable ids, so the same run renders the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}
WIDTH_IN = 11.0
MAX_POD_ROWS = 60  # beyond this the waterfall would be taller than any screen

OK_COLOR = "#4c78a8"
FAIL_COLOR = "#d62728"
LineStyle = Literal["-", "--", ":"] | tuple[float, tuple[float, ...]]
MARKER_STYLE: dict[str, tuple[str, LineStyle, float]] = {  # color, dash pattern, width
    "delete": ("#222222", (0, (4, 2)), 1.2),
    "SIGTERM": ("#ff7f0e", "-", 1.0),
    "endpoint removed": ("#7b4fa0", (0, (1, 1.5)), 1.4),
    "exit": ("#2ca02c", "-", 1.0),
    "kill": (FAIL_COLOR, "-", 2.0),
    "replacement ready": ("#1f77b4", (0, (5, 1, 1, 1)), 1.0),
}


@dataclass(frozen=True, slots=True)
class Segment:
    """One bar of the waterfall: a phase between two lifecycle steps, on one lane of a row."""

    label: str
    start: str
    end: str
    lane: str  # "pod" (the process) or "routing" (the Service's view)
    color: str


# Order matters only for the legend; bars never overlap within a lane.
SEGMENTS: tuple[Segment, ...] = (
    Segment("scheduling", "created", "scheduled", "pod", "#c6dbef"),
    Segment("starting container", "scheduled", "container_started", "pod", "#9ecae1"),
    Segment("starting app (not ready)", "container_started", "ready", "pod", "#4292c6"),
    Segment("ready", "ready", "delete_requested", "pod", "#c7e9c0"),
    Segment("delete → SIGTERM (preStop)", "delete_requested", "sigterm", "pod", "#fdd49e"),
    Segment("SIGTERM, still listening", "sigterm", "listening_until", "pod", "#fd8d3c"),
    Segment("draining (listener closed)", "listener_closed", "stopped", "pod", "#a63603"),
    Segment("endpoint being added", "ready", "endpoint_added", "routing", "#a1d99b"),
    Segment("in Service endpoints", "endpoint_added", "delete_requested", "routing", "#dadaeb"),
    Segment(
        "delete → endpoint removed", "delete_requested", "endpoint_removed", "routing", "#9e9ac8"
    ),
    Segment("proxy applying removal", "endpoint_removed", "removal_applied", "routing", "#54278f"),
)
_LANE_Y = {"pod": (0.02, 0.40), "routing": (-0.38, 0.30)}  # offset from row centre, height
# A terminating endpoint's published state, on its routing lane: serving (the fallback may use
# it) or not (its readiness failed: out of the fallback). Marker, color.
STATE_STYLE: dict[bool, tuple[str, str]] = {True: ("^", "#31a354"), False: ("v", "#e6550d")}


def order_chart(
    order: str,
    bins: TrafficBins,
    marks: Sequence[Marker],
    pods: Sequence[PodRow],
    scan: TrafficScan,
    xlim: tuple[float, float],
    states: Sequence[EndpointState] = (),
) -> str:
    """The inline ``<svg>`` for one order; ``states``: its terminating endpoints' conditions,
    where the endpoint events carried them."""
    rows = _sorted_pods(pods)[:MAX_POD_ROWS]
    with mpl.rc_context(_STYLE):
        fig, (traffic_ax, failed_ax, pods_ax) = _layout(rows)
        _traffic(traffic_ax, bins)
        _failed(failed_ax, bins)
        for ax in (traffic_ax, failed_ax):
            _draw_markers(ax, marks)
        _waterfall(pods_ax, rows, scan, bins.t0, xlim)
        shown = _endpoint_states(pods_ax, rows, states)
        for ax in (traffic_ax, failed_ax, pods_ax):
            ax.set_xlim(*xlim)
        for ax in (traffic_ax, failed_ax):
            ax.tick_params(labelbottom=False)
        pods_ax.set_xlabel("seconds from the start of this variant's load")
        _legends(fig, traffic_ax, marks, shown)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    label = f"{order}: requests per second, failures and pod lifecycle over time"
    return inline_svg(buffer.getvalue(), f"chart-{order}", label, {"data-chart": order})


def _layout(rows: Sequence[PodRow]) -> tuple[Figure, tuple[Axes, Axes, Axes]]:
    """Fixed margins in inches rather than a layout engine: constrained layout draws every
    chart twice and took most of the rendering time. The left margin fits the longest row label
    (the pod's name and why it stopped)."""
    longest = max((len(pod_label(r)) for r in rows), default=12)
    left = max(0.9, 0.3 + 0.068 * max(longest, 15))
    right, top_legend, gap, bottom = 0.25, 0.42, 0.38, 1.25
    heights = [1.8, 0.85, 0.3 + 0.34 * (len(rows) + 1)]
    total = top_legend + sum(heights) + 2 * gap + bottom
    # A bare Figure, not pyplot: no global figure registry to leak into and no GUI backend to
    # pick; savefig renders through matplotlib's SVG backend, with no script in the output.
    fig = Figure(figsize=(WIDTH_IN, total))
    axes: list[Axes] = []
    y = total - top_legend
    for i, height in enumerate(heights):
        y -= height
        rect = (left / WIDTH_IN, y / total, (WIDTH_IN - left - right) / WIDTH_IN, height / total)
        axes.append(fig.add_axes(rect, sharex=axes[0] if i else None))
        y -= gap
    return fig, (axes[0], axes[1], axes[2])


def _traffic(ax: Axes, bins: TrafficBins) -> None:
    x, y = _steps(bins.starts, bins.ok_rate, bins.width)
    ax.fill_between(x, y, step="post", color=OK_COLOR, alpha=0.25, linewidth=0)
    ax.step(x, y, where="post", color=OK_COLOR, linewidth=1.2)
    ax.set_ylabel("OK req/s")
    ax.set_ylim(bottom=0, top=max(1.0, float(y.max()) * 1.15) if y.size else 1.0)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    per = "per second" if bins.width == 1 else f"per second, in {bins.width:g} s bins"
    ax.set_title(f"successful requests ({per})", loc="left")


def _failed(ax: Axes, bins: TrafficBins) -> None:
    ax.bar(bins.starts, bins.failed_rate, width=bins.width, align="edge", color=FAIL_COLOR)
    peak = float(bins.failed_rate.max()) if bins.failed_rate.size else 0.0
    ax.set_ylim(0, max(1.0, peak * 1.2))
    ax.set_ylabel("failed/s")
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    title = "failed requests" if bins.failed else "failed requests: none"
    ax.set_title(title, loc="left", color=FAIL_COLOR if bins.failed else "#555555")


def _draw_markers(ax: Axes, marks: Sequence[Marker]) -> None:
    for mark in marks:
        color, style, width = MARKER_STYLE[mark.kind]
        ax.axvline(mark.t, color=color, linestyle=style, linewidth=width, alpha=0.85, zorder=3)


def _waterfall(
    ax: Axes, rows: Sequence[PodRow], scan: TrafficScan, t0: float, xlim: tuple[float, float]
) -> None:
    names = [str(r.get("pod")) for r in rows]
    count = len(rows)
    # Row 0 (top) holds every failure, whatever pod it hit; pods follow in creation order.
    centres = {name: float(count - i - 1) for i, name in enumerate(names)}
    top = count
    boxes: list[list[tuple[float, float]]] = []
    colors: list[str] = []
    for row in rows:
        y = centres[str(row.get("pod"))]
        steps = _steps_of(row, t0, xlim[1])
        for seg in SEGMENTS:
            start, end = steps.get(seg.start), steps.get(seg.end)
            if start is None or end is None or end <= start:
                continue
            offset, height = _LANE_Y[seg.lane]
            low, high = y + offset, y + offset + height
            boxes.append([(start, low), (start, high), (end, high), (end, low)])
            colors.append(seg.color)
        _row_marks(ax, y, steps)
    # One collection for every bar: an artist per bar made large waterfalls slow to draw.
    ax.add_collection(PolyCollection(boxes, facecolors=colors, linewidths=0))
    _failure_marks(ax, scan, t0, centres, top, xlim)
    # Each row says why its pod stopped: deleted, evicted, drained, scaled down, crashed...
    ax.set_yticks([top, *centres.values()], ["failed requests", *map(pod_label, rows)])
    ax.get_yticklabels()[0].set_color(FAIL_COLOR)
    ax.set_ylim(-0.7, top + 0.6)
    ax.axhline(top - 0.5, color="#bbbbbb", linewidth=0.6)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_title("pods: upper bar the process, lower bar the Service's routing", loc="left")
    if not rows:
        ax.text(0.5, 0.4, "no pods file for this variant", transform=ax.transAxes, ha="center")


def _steps_of(row: PodRow, t0: float, horizon: float) -> dict[str, float]:
    """A row's steps relative to t0, plus derived ends, so open phases run to the chart's edge."""
    steps: dict[str, float] = {}
    for key in MOMENT_KEYS:
        value = ts(row, key)
        if value is not None:
            steps[key] = value - t0
    stopped = ts(row, "stopped")
    if stopped is not None:
        steps["stopped"] = stopped - t0
    steps["listening_until"] = steps.get("listener_closed", steps.get("stopped", horizon))
    # A phase that had not ended when the run did is drawn to the right edge.
    if "delete_requested" not in steps and "ready" in steps:
        steps["delete_requested"] = horizon
    if "sigterm" in steps and "stopped" not in steps:
        steps["stopped"] = horizon
    if "delete_requested" in steps and "endpoint_removed" not in steps:
        routed = routed_until(row)
        steps["endpoint_removed"] = routed - t0 if routed is not None else horizon
    return steps


def _row_marks(ax: Axes, y: float, steps: dict[str, float]) -> None:
    if "last_served" in steps:
        ax.plot([steps["last_served"]], [y + 0.22], marker="|", markersize=9, color="#111111")
    if "killed" in steps:
        ax.plot([steps["killed"]], [y + 0.22], marker="X", markersize=8, color=FAIL_COLOR)
    elif "exited" in steps:
        ax.plot([steps["exited"]], [y + 0.22], marker="o", markersize=3, color="#2ca02c")


def _endpoint_states(
    ax: Axes, rows: Sequence[PodRow], states: Sequence[EndpointState]
) -> list[bool]:
    """Each state on its pod's routing lane; the serving values drawn, for the legend."""
    count = len(rows)
    centres = {str(r.get("pod")): float(count - i - 1) for i, r in enumerate(rows)}
    drawn: list[bool] = []
    for serving in (True, False):
        at = [
            (s.t, centres[s.pod] - 0.23)
            for s in states
            if s.serving is serving and s.pod in centres
        ]
        if at:
            marker, color = STATE_STYLE[serving]
            xs, ys = zip(*at, strict=True)
            ax.scatter(xs, ys, marker=marker, s=28, color=color, linewidths=0, zorder=5)
            drawn.append(serving)
    return drawn


def _failure_marks(
    ax: Axes,
    scan: TrafficScan,
    t0: float,
    centres: dict[str, float],
    top: int,
    xlim: tuple[float, float],
) -> None:
    if not len(scan.failed_ends):
        return
    times = np.frombuffer(scan.failed_ends, dtype=np.float64) - t0
    pods = np.frombuffer(scan.failed_pod, dtype=np.int32)
    # Bucket failures into slots a few pixels wide; the dot grows with how many share one.
    slot = max(0.05, (xlim[1] - xlim[0]) / 1500)
    row_of = np.array([centres.get(p, -1.0) for p in scan.pods] + [-1.0], dtype=np.float64)
    pod_rows = row_of[pods]  # index -1 picks the trailing -1.0: pod unknown
    for ys, ts_ in ((np.full(times.shape, float(top)), times), (pod_rows, times)):
        keep = ys >= 0
        _dots(ax, ts_[keep], ys[keep], slot)


def _dots(ax: Axes, times: NDArray[np.float64], ys: NDArray[np.float64], slot: float) -> None:
    if not times.size:
        return
    keys = np.stack([np.floor(times / slot), ys], axis=1)
    unique, counts = np.unique(keys, axis=0, return_counts=True)
    sizes = 16 + 14 * np.log2(counts)
    ax.scatter(
        (unique[:, 0] + 0.5) * slot,
        unique[:, 1],
        s=sizes,
        color=FAIL_COLOR,
        marker="o",
        alpha=0.8,
        linewidths=0,
        zorder=4,
    )


def _legends(
    fig: Figure, traffic_ax: Axes, marks: Sequence[Marker], states: Sequence[bool] = ()
) -> None:
    present = [k for k in MARKER_KINDS if any(m.kind == k for m in marks)]
    lines = [
        Line2D([], [], color=MARKER_STYLE[k][0], linestyle=MARKER_STYLE[k][1], linewidth=1.4)
        for k in present
    ]
    if lines:
        traffic_ax.legend(
            lines,
            present,
            loc="lower left",
            bbox_to_anchor=(0, 1.08),
            ncol=len(present),
            frameon=False,
            fontsize=8,
            handlelength=2.6,
        )
    handles: list[Patch | Line2D] = [Patch(color=s.color, label=s.label) for s in SEGMENTS]
    handles += [
        Line2D(
            [], [], color="#111111", marker="|", linestyle="", markersize=9, label="last served"
        ),
        Line2D([], [], color="#2ca02c", marker="o", linestyle="", markersize=4, label="exited"),
        Line2D([], [], color=FAIL_COLOR, marker="X", linestyle="", markersize=7, label="killed"),
        Line2D([], [], color=FAIL_COLOR, marker="o", linestyle="", markersize=5, label="failed"),
    ]
    handles += [
        Line2D(
            [],
            [],
            color=STATE_STYLE[serving][1],
            marker=STATE_STYLE[serving][0],
            linestyle="",
            markersize=6,
            label=ENDPOINT_STATE_LABELS[serving],
        )
        for serving in states
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=8)


def _sorted_pods(pods: Sequence[PodRow]) -> list[PodRow]:
    def first_seen(row: PodRow) -> float:
        found = [ts(row, k) for k in ("created", "scheduled", "ready", "delete_requested")]
        return min((v for v in found if v is not None), default=math.inf)

    return sorted(pods, key=lambda r: (first_seen(r), str(r.get("pod"))))


def _steps(
    starts: NDArray[np.float64], values: NDArray[np.float64], width: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Step coordinates that close the last bin instead of stopping at its left edge."""
    if not starts.size:
        return np.zeros(0), np.zeros(0)
    return np.append(starts, starts[-1] + width), np.append(values, values[-1])

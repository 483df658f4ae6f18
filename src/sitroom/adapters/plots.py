"""Reliability diagrams and sharpness histograms of forecast backtests, as PNG or SVG files;
a question's forecasts over time, as SVG text for the after-action report.

Drawn with matplotlib's object API (``Figure`` on an Agg canvas), never pyplot: no GUI backend,
no global figure registry. The output is deterministic, so the same input gives the same bytes:
PNG and SVG without the matplotlib version, SVG without the date and with a fixed hash salt
for its ids (by default a random one).
SVG text is written as text (``svg.fonttype`` "none"), so curve names can be searched.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sitroom.adapters.outputs import atomic, refuse_own
from sitroom.domain.risk.scoring import Reliability
from sitroom.errors import UserInputError

_FORMATS = {".png": "png", ".svg": "svg"}
_METADATA: dict[str, dict[str, str | None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
}


def reliability_diagram(
    curves: Mapping[str, Reliability], path: Path, *, title: str, workspace: Path | None = None
) -> Path:
    """Draw one reliability diagram of the named curves into ``path`` (.png or .svg).

    Top: observed frequency against mean forecast per bin for each curve (empty bins are left
    out), the diagonal of perfect reliability, and the Wilson 95% intervals of the first curve.
    Below, on the same x axis: how many forecasts each curve put in each bin (its sharpness).
    Parent directories are created; the file is written whole or not at all, never over
    ``workspace``'s own files. Returns ``path``.
    """
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserInputError(f"cannot write a plot to {path.name}: give a .png or .svg file name")
    if not curves:
        raise UserInputError("no forecasts to plot: the reliability diagram needs a curve")
    refuse_own(path, workspace)
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "sitroom"}):
        fig = Figure(figsize=(7.0, 7.5), dpi=100)
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
        ax = fig.add_subplot(grid[0])
        hist = fig.add_subplot(grid[1], sharex=ax)
        ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="0.6", label="perfect reliability")
        width_share = 0.9 / len(curves)
        for i, (name, curve) in enumerate(curves.items()):
            shown = curve.count > 0
            (line,) = ax.plot(
                curve.mean_forecast[shown], curve.observed[shown], marker="o", label=name
            )
            color = line.get_color()
            if i == 0:
                ax.errorbar(
                    curve.mean_forecast[shown],
                    curve.observed[shown],
                    yerr=np.vstack(
                        [
                            curve.observed[shown] - curve.low[shown],
                            curve.high[shown] - curve.observed[shown],
                        ]
                    ),
                    fmt="none",
                    ecolor=color,
                    capsize=3,
                    alpha=0.7,
                )
            width = (curve.hi - curve.lo) * width_share
            hist.bar(curve.lo + i * width, curve.count, width=width, align="edge", color=color)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("observed frequency")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelbottom=False)
        ax.legend(loc="upper left", fontsize="small")
        hist.set_xlabel("forecast probability")
        hist.set_ylabel("forecasts")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserInputError(f"cannot write {path}: {e.strerror or e}") from None
        with atomic(path) as f:
            fig.savefig(f, format=fmt, metadata=_METADATA[fmt])
    return path


def forecast_history_svg(
    times_ms: Sequence[int],
    aggregate: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    members: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    salt: str,
) -> str:
    """One question's forecasts over time as an SVG document's text, for inlining in a page:
    the aggregate as a line, the members' range as a band, each member as points. ``salt``
    keeps the ids of several plots on one page apart. User-written names are text, never
    mathtext (a "$" in a name is a dollar)."""
    when = np.array(times_ms, dtype="datetime64[ms]")

    def nan(values: Sequence[float | None]) -> list[float]:
        return [float("nan") if v is None else v for v in values]

    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "text.parse_math": False}):
        fig = Figure(figsize=(8.0, 3.2), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.fill_between(
            when, nan(low), nan(high), step="post", alpha=0.2, color="C0", label="range"
        )
        ax.step(when, nan(aggregate), where="post", color="C0", linewidth=2, label="aggregate")
        for i, (name, ps) in enumerate(members.items()):
            ax.plot(
                when, nan(ps), linestyle="none", marker="o", ms=4, color=f"C{i + 1}", label=name
            )
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("probability")
        ax.set_title(title, fontsize="medium", loc="left")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
        fig.autofmt_xdate()
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata=_METADATA["svg"])
    text = out.getvalue()
    # Inline: no XML declaration nor doctype, and no RDF metadata (it names vocabularies by URL).
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return text[text.index("<svg") :]

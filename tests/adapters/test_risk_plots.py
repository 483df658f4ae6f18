"""Reliability diagrams: PNG and SVG files, deterministic bytes, real text in SVG."""

from pathlib import Path

import numpy as np
import pytest

from sitroom.adapters.plots import reliability_diagram
from sitroom.domain.risk.scoring import Reliability, reliability
from sitroom.errors import UserInputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def curves() -> dict[str, Reliability]:
    rng = np.random.default_rng(7)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p).astype(int)
    return {
        "aggregate": reliability(p, y),
        "climatology": reliability(np.full(400, y.mean()), y),
        "last value": reliability(np.clip(p + rng.normal(0, 0.2, 400), 0, 1), y),
    }


def test_png_is_written_and_deterministic(tmp_path: Path) -> None:
    first = reliability_diagram(curves(), tmp_path / "a" / "b" / "rel.png", title="Backtest")
    assert first == tmp_path / "a" / "b" / "rel.png"
    data = first.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
    again = reliability_diagram(curves(), tmp_path / "again.png", title="Backtest")
    assert again.read_bytes() == data


def test_svg_holds_the_curve_names_as_text_and_is_deterministic(tmp_path: Path) -> None:
    path = reliability_diagram(curves(), tmp_path / "rel.svg", title="Backtest of escalation")
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for name in ("aggregate", "climatology", "last value", "Backtest of escalation"):
        assert f">{name}<" in text, name
    again = reliability_diagram(curves(), tmp_path / "again.svg", title="Backtest of escalation")
    assert again.read_bytes() == path.read_bytes()


def test_a_single_curve_with_empty_bins_is_drawn(tmp_path: Path) -> None:
    one = {"aggregate": reliability([0.1, 0.1, 0.9], [0, 1, 1])}
    assert reliability_diagram(one, tmp_path / "one.png", title="x").stat().st_size > 0


def test_a_bin_where_everything_came_true_is_drawn(tmp_path: Path) -> None:
    """Its Wilson upper bound, in floats, sat 1e-16 below the observed 1 (ten forecasts, all
    true): matplotlib refused the negative error bar and the backtest's --plot failed."""
    curve = reliability(np.full(10, 0.95), np.ones(10, int))
    shown = curve.count > 0
    assert (curve.low[shown] <= curve.observed[shown]).all()
    assert (curve.observed[shown] <= curve.high[shown]).all()
    drawn = reliability_diagram({"aggregate": curve}, tmp_path / "all.png", title="x")
    assert drawn.stat().st_size > 0


@pytest.mark.parametrize("name", ["report.txt", "plot", "plot.PDF"])
def test_other_formats_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserInputError, match=r"\.png or \.svg"):
        reliability_diagram(curves(), tmp_path / name, title="x")
    assert not (tmp_path / name).exists()


def test_no_curves_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError):
        reliability_diagram({}, tmp_path / "empty.png", title="x")

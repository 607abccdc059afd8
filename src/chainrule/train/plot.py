"""Pictures of a training run: loss and accuracy curves, and for 2-D inputs the decision
boundary with the data. matplotlib is an optional extra, imported only here and only when a
plot is asked for; figures are drawn on the Agg canvas (no display, no pyplot state) and
written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

import numpy as np

from chainrule.errors import ChainruleError, MissingDependency
from chainrule.files import write_atomically

INSTALL_HINT = "matplotlib is not installed: pip install 'chainrule[plot]'"
# Colour-blind-safe (Okabe–Ito) colours for classes and curves.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#999999", "#882255")


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependency(INSTALL_HINT) from None
    return Figure, FigureCanvasAgg


# The formats a plot is written in, named by the file's suffix: the ones every matplotlib
# Agg canvas writes and a course page or paper takes.
PLOT_FORMATS = ("png", "pdf", "svg")


def plot_format(path: str | Path) -> str:
    """The format for ``path`` from its suffix, after checking that matplotlib is installed
    and writes it: call before a long run, so that a bad ``--plot`` fails first, not last."""
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in PLOT_FORMATS:
        raise ChainruleError(f"--plot {path}: expected a file ending in "
                             f"{', '.join('.' + f for f in PLOT_FORMATS)}, got "
                             f"{('.' + suffix) if suffix else 'no suffix'}")
    _, canvas = _matplotlib()
    if suffix not in canvas.get_supported_filetypes():
        raise ChainruleError(f"--plot {path}: this matplotlib cannot write {suffix}")
    return suffix


def plot_run(path: str | Path, history, *, predict: Callable[[np.ndarray], np.ndarray] | None = None,
             x: np.ndarray | None = None, y: np.ndarray | None = None,
             title: str = "") -> None:
    """Save the curves of ``history`` and, given ``predict`` (inputs → class indices) and 2-D
    data ``x``, ``y``, the decision boundary; the format follows the suffix (png, svg, pdf)."""
    suffix = plot_format(path)
    Figure, FigureCanvasAgg = _matplotlib()
    boundary = predict is not None and x is not None and x.shape[1] == 2
    has_accuracy = any(a is not None for a in history.accuracy)
    panels = 1 + has_accuracy + boundary
    figure = Figure(figsize=(4.6 * panels, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    _curves(axes[0], history, "loss", "val_loss", "loss")
    if has_accuracy:
        _curves(axes[1], history, "accuracy", "val_accuracy", "accuracy")
        axes[1].set_ylim(-0.02, 1.02)
    if boundary:
        _boundary(axes[-1], predict, x, y)
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=suffix, dpi=120)
    write_atomically(path, buffer.getvalue())


def _curves(ax: Any, history, train_key: str, val_key: str, label: str) -> None:
    epochs = history.epoch
    for key, name, colour, style in ((train_key, "train", PALETTE[0], "-"),
                                     (val_key, "validation", PALETTE[1], "--")):
        values = getattr(history, key)
        points = [(e, v) for e, v in zip(epochs, values) if v is not None]
        if points:
            ax.plot(*zip(*points), style, color=colour, label=name, linewidth=1.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    if label == "loss" and all(v is None or v > 0 for v in getattr(history, train_key)):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)


def _boundary(ax: Any, predict, x: np.ndarray, y: np.ndarray, resolution: int = 200) -> None:
    low, high = x.min(axis=0), x.max(axis=0)
    margin = 0.1 * (high - low + 1e-12)
    grid_x, grid_y = np.meshgrid(np.linspace(low[0] - margin[0], high[0] + margin[0], resolution),
                                 np.linspace(low[1] - margin[1], high[1] + margin[1], resolution))
    classes = predict(np.column_stack([grid_x.ravel(), grid_y.ravel()])).reshape(grid_x.shape)
    labels = np.unique(np.concatenate([np.unique(classes), np.unique(y)])).astype(int)
    from matplotlib.colors import ListedColormap

    colours = ListedColormap([PALETTE[k % len(PALETTE)] for k in range(labels.max() + 1)])
    ax.contourf(grid_x, grid_y, classes, levels=np.arange(labels.max() + 2) - 0.5,
                cmap=colours, alpha=0.25)
    markers = "os^Dv<>p*h"
    for k in np.unique(y).astype(int):
        chosen = y == k
        ax.scatter(x[chosen, 0], x[chosen, 1], s=14, color=PALETTE[k % len(PALETTE)],
                   marker=markers[k % len(markers)], edgecolor="white", linewidth=0.4,
                   label=f"class {k}")
    ax.set_title("decision boundary")
    ax.legend(frameon=False, fontsize="small")

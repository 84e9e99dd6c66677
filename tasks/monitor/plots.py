"""PNG plots for a drift report: where the current window's prompts sit against the reference's, and how
well the index still answers them. Each function returns PNG bytes (matplotlib's Agg canvas, no pyplot state).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

REFERENCE_COLOR = "#4c72b0"
CURRENT_COLOR = "#dd8452"


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _sample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= limit else rows[rng.choice(len(rows), size=limit, replace=False)]


def embedding_projection_png(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    max_points: int = 2000,
    seed: int = 0,
    title: str = "Prompt embeddings, first two principal components",
) -> bytes:
    """Scatter of both windows on the first two principal components of the two pooled (at most
    `max_points` drawn per side, so a 10,000-row window stays readable)."""
    rng = np.random.default_rng(seed)
    ref = _sample(np.asarray(reference, dtype=np.float64), max_points, rng)
    cur = _sample(np.asarray(current, dtype=np.float64), max_points, rng)
    pooled = np.vstack([ref, cur])
    centre = pooled.mean(axis=0)
    _, singular, axes = np.linalg.svd(pooled - centre, full_matrices=False)
    share = singular**2 / np.sum(singular**2)
    # Two axes even for one-dimensional or constant input, so the plot never fails on odd data.
    axes = np.vstack([axes[:2], np.zeros((2, pooled.shape[1]))])[:2]
    share = np.r_[share[:2], 0.0, 0.0][:2]

    figure = Figure(figsize=(6.4, 5.2))
    ax = figure.add_subplot()
    for rows, label, color in ((ref, "reference", REFERENCE_COLOR), (cur, "current", CURRENT_COLOR)):
        xy = (rows - centre) @ axes.T
        ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.5, color=color, label=f"{label} ({len(rows)})", linewidths=0)
    ax.set_xlabel(f"PC1 ({share[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({share[1]:.0%} of variance)")
    ax.set_title(title)
    ax.legend(loc="best")
    return _png(figure)


def top1_histogram_png(
    reference_top1, current_top1, *, bins: int = 30, title: str = "Top-1 similarity of queries to the index"
) -> bytes:
    """Overlaid density histograms of the top-1 similarity, reference against current, with both means."""
    ref = np.asarray(reference_top1, dtype=np.float64)
    cur = np.asarray(current_top1, dtype=np.float64)
    both = np.concatenate([ref, cur])
    low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    edges = np.linspace(low, high if high > low else low + 1e-6, bins + 1)

    figure = Figure(figsize=(6.4, 4.2))
    ax = figure.add_subplot()
    for values, label, color in ((ref, "reference", REFERENCE_COLOR), (cur, "current", CURRENT_COLOR)):
        if values.size:
            ax.hist(values, bins=edges, density=True, alpha=0.5, color=color, label=f"{label} (n={values.size})")
            ax.axvline(values.mean(), color=color, linestyle="--", linewidth=1.5)
    ax.set_xlabel("top-1 similarity (dashed: mean)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(loc="best")
    return _png(figure)

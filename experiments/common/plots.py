"""Figures for studies (matplotlib): save a figure, draw a grid of greyscale images.

Figures are built with ``matplotlib.figure.Figure`` directly, never ``pyplot``, so no global
backend is selected and no figure registry fills up: nothing here changes process-wide state.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str, *, dpi: int = 100) -> None:
    """Writes ``fig`` to ``path`` (format from the extension), cropped to its content.

    Args:
      fig: a ``matplotlib.figure.Figure``.
      path: output file, e.g. ``WORKDIR/samples.png``.
      dpi: resolution.
    """
    fig.savefig(path, dpi=dpi, bbox_inches="tight")


def save_image_grid(path: str, images: np.ndarray, *, columns: int, title: str,
                    per_image_scale: bool = False, dpi: int = 80) -> None:
    """Writes a grid of greyscale images as one figure.

    Args:
      path: output file.
      images: (N, H, W).
      columns: images per row.
      title: figure title.
      per_image_scale: stretch every image to its own range (e.g. weights) instead of [0, 1].
      dpi: resolution.
    """
    rows = -(-len(images) // columns)
    fig = Figure(figsize=(columns * 0.8, rows * 0.8 + 0.4))
    axes = fig.subplots(rows, columns, squeeze=False)
    limits = {} if per_image_scale else {"vmin": 0.0, "vmax": 1.0}
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            ax.imshow(images[index], cmap="gray", interpolation="nearest", **limits)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=dpi)

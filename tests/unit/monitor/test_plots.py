"""The drift plots are real PNG images of a sensible size."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tasks.monitor.plots import embedding_projection_png, top1_histogram_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG carries right after its signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_projection_is_a_png():
    rng = np.random.default_rng(0)
    data = embedding_projection_png(rng.normal(size=(300, 384)), rng.normal(size=(100, 384)) + 0.3)
    width, height = png_size(data)
    assert 400 <= width <= 1000 and 300 <= height <= 800
    assert len(data) > 10_000  # hundreds of points, axes and a legend


def test_projection_of_large_windows_draws_a_sample():
    rng = np.random.default_rng(1)
    large = embedding_projection_png(rng.normal(size=(10_000, 16)), rng.normal(size=(10_000, 16)), max_points=500)
    assert png_size(large)[0] > 400


@pytest.mark.parametrize("dims", [1, 2])
def test_projection_handles_low_dimensional_input(dims):
    rng = np.random.default_rng(2)
    assert png_size(embedding_projection_png(rng.normal(size=(50, dims)), rng.normal(size=(50, dims))))[0] > 400


def test_top1_histogram_is_a_png():
    rng = np.random.default_rng(3)
    data = top1_histogram_png(rng.normal(0.7, 0.05, 500), rng.normal(0.6, 0.08, 200))
    width, height = png_size(data)
    assert 400 <= width <= 1000 and 250 <= height <= 700
    assert len(data) > 5_000


def test_top1_histogram_of_constant_values():
    assert png_size(top1_histogram_png([0.5] * 10, [0.5] * 10))[0] > 400

"""Candle paths: a block-bootstrap path is made of real candles' shapes in whole blocks,
chained from the first close; noise keeps every candle consistent; a path depends only on the
seed and its number."""

from __future__ import annotations

import numpy as np
import pytest
from engine.kit import random_walk

from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP, VOLUME
from jbt.validation.paths import (
    block_indices,
    bootstrap_candles,
    noisy_candles,
    scenario_candles,
)

CANDLES = random_walk(3000, 21, vol=0.002)


def relatives(c):
    prev = c[:-1, CLOSE]
    return np.column_stack([c[1:, OPEN] / prev, c[1:, HIGH] / prev, c[1:, LOW] / prev,
                            c[1:, CLOSE] / prev, c[1:, VOLUME]])


def test_block_indices_are_whole_circular_blocks():
    rng = np.random.default_rng(0)
    idx = block_indices(100, 12, rng)
    assert len(idx) == 100
    for b in range(0, 100, 12):
        part = idx[b:b + 12]
        assert np.all(np.diff(part) % 100 == 1)  # consecutive, wrapping at the end


def test_a_bootstrap_path_chains_real_candle_shapes():
    idx = block_indices(len(CANDLES) - 1, 60, np.random.default_rng(1))
    path = bootstrap_candles(CANDLES, idx)
    assert np.array_equal(path[:, TIMESTAMP], CANDLES[:, TIMESTAMP])
    assert np.array_equal(path[0], CANDLES[0])
    np.testing.assert_allclose(relatives(path), relatives(CANDLES)[idx], rtol=1e-9)
    assert np.all(path[:, HIGH] >= np.maximum(path[:, OPEN], path[:, CLOSE]))
    assert np.all(path[:, LOW] <= np.minimum(path[:, OPEN], path[:, CLOSE]))
    assert not np.allclose(path[:, CLOSE], CANDLES[:, CLOSE])


def test_noise_moves_each_price_and_keeps_candles_consistent():
    noisy = noisy_candles(CANDLES, 0.001, np.random.default_rng(2))
    assert np.array_equal(noisy[:, [TIMESTAMP, VOLUME]], CANDLES[:, [TIMESTAMP, VOLUME]])
    moved = noisy[:, CLOSE] / CANDLES[:, CLOSE] - 1
    assert 0.0008 < moved.std() < 0.0012
    assert np.all(noisy[:, HIGH] >= noisy[:, [OPEN, CLOSE, LOW]].max(axis=1))
    assert np.all(noisy[:, LOW] <= noisy[:, [OPEN, CLOSE, HIGH]].min(axis=1))


@pytest.mark.parametrize("kind", ["bootstrap", "noise"])
def test_a_path_depends_on_the_seed_and_its_number_only(kind):
    other = CANDLES.copy()
    other[:, 1:5] *= 2.0
    candles = {("x", "A"): CANDLES, ("x", "B"): other}
    blocks = {("x", "A"): 30, ("x", "B"): 30}
    a = scenario_candles(candles, kind, 4, 7, blocks, 0.001)
    b = scenario_candles(dict(reversed(list(candles.items()))), kind, 4, 7, blocks, 0.001)
    c = scenario_candles(candles, kind, 5, 7, blocks, 0.001)
    assert np.array_equal(a[("x", "A")], scenario_candles(candles, kind, 4, 7, blocks,
                                                         0.001)[("x", "A")])
    assert not np.array_equal(a[("x", "A")], c[("x", "A")])
    if kind == "bootstrap":
        # symbols with the same open times draw the same blocks: their co-movement is kept
        np.testing.assert_allclose(a[("x", "B")][:, 1:5], 2.0 * a[("x", "A")][:, 1:5],
                                   rtol=1e-12)
        assert np.array_equal(a[("x", "A")], b[("x", "A")])

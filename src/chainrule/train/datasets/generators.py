"""Seeded 2-D toy problems: xor, moons, circles, spirals, blobs.

Each generator draws from one ``numpy.random.Generator`` made from ``seed``, so the same
arguments give the same bytes on every run. Classes are balanced (sizes differ by at most
one) and the examples are shuffled, so a prefix of the data is not one class.
"""

from __future__ import annotations

import numpy as np

from chainrule.train.datasets.dataset import Dataset

FEATURES = ("x1", "x2")
XOR_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_LABELS = np.array([0, 1, 1, 0], dtype=np.int64)


def class_sizes(n: int, classes: int) -> list[int]:
    """n split into ``classes`` sizes that differ by at most one (earlier classes larger)."""
    return [n // classes + (k < n % classes) for k in range(classes)]


def _finish(name: str, x: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator,
            classes: int, description: str) -> Dataset:
    """Add Gaussian noise (standard deviation ``noise``) and shuffle the rows."""
    x = x + rng.normal(0.0, noise, size=x.shape)
    order = rng.permutation(len(y))
    return Dataset(name, x[order], y[order].astype(np.int64), "classification",
                   tuple(str(k) for k in range(classes)), FEATURES, description)


def xor(n: int | None, noise: float | None, seed: int) -> Dataset:
    """The 4 XOR points in order (n None), or n noisy samples cycling over the 4 corners."""
    if n is None:  # the classic 4-example problem: exact unless noise is asked for
        noise = 0.0 if noise is None else noise
        x = XOR_CORNERS + np.random.default_rng(seed).normal(0.0, noise, size=(4, 2))
        return Dataset("xor", x, XOR_LABELS.copy(), "classification", ("0", "1"), FEATURES,
                       "XOR: the 4 corners of the unit square, class 1 where x1 != x2")
    rng = np.random.default_rng(seed)
    corner = np.arange(n) % 4
    return _finish("xor", XOR_CORNERS[corner], XOR_LABELS[corner],
                   0.1 if noise is None else noise, rng, 2,
                   f"XOR: {n} noisy samples around the 4 corners of the unit square")


def moons(n: int, noise: float, seed: int) -> Dataset:
    """Two interleaving half circles, scikit-learn's ``make_moons`` geometry."""
    n_outer = n // 2
    n_inner = n - n_outer
    outer = np.linspace(0.0, np.pi, n_outer)
    inner = np.linspace(0.0, np.pi, n_inner)
    x = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], axis=1),
                        np.stack([1.0 - np.cos(inner), 0.5 - np.sin(inner)], axis=1)])
    y = np.repeat([0, 1], [n_outer, n_inner])
    return _finish("moons", x, y, noise, np.random.default_rng(seed), 2,
                   f"two interleaving half circles, {n} points, noise {noise:g}")


def circles(n: int, noise: float, seed: int, factor: float = 0.5) -> Dataset:
    """A circle of radius ``factor`` (class 1) inside one of radius 1 (class 0)."""
    n_outer = n // 2
    n_inner = n - n_outer
    outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    inner = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
    x = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], axis=1),
                        factor * np.stack([np.cos(inner), np.sin(inner)], axis=1)])
    y = np.repeat([0, 1], [n_outer, n_inner])
    return _finish("circles", x, y, noise, np.random.default_rng(seed), 2,
                   f"a circle inside a circle (radius ratio {factor:g}), {n} points, "
                   f"noise {noise:g}")


def spirals(n: int, noise: float, seed: int, arms: int = 2) -> Dataset:
    """``arms`` interleaved Archimedean spirals from radius 0.2 to 1 (2.4 / arms turns each).

    Winding fewer turns when there are more arms keeps neighbouring arms 1/3 apart along any
    radius, so the default noise (0.05) leaves them separable; more noise makes them overlap.
    """
    parts, labels = [], []
    for arm, size in enumerate(class_sizes(n, arms)):
        t = np.linspace(0.2, 1.0, size)
        angle = 6 * np.pi / arms * t + 2 * np.pi * arm / arms
        parts.append(np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1))
        labels.append(np.full(size, arm))
    return _finish("spirals", np.concatenate(parts), np.concatenate(labels), noise,
                   np.random.default_rng(seed), arms,
                   f"{arms} interleaved spirals, {n} points, noise {noise:g}")


def blobs(n: int, noise: float, seed: int, centres: int = 3) -> Dataset:
    """Gaussian blobs (standard deviation ``noise``) around centres evenly spaced on a circle
    of radius 3 (fixed, so only the samples depend on the seed)."""
    angle = np.pi / 2 + 2 * np.pi * np.arange(centres) / centres
    centre = 3.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    sizes = class_sizes(n, centres)
    y = np.repeat(np.arange(centres), sizes)
    return _finish("blobs", centre[y], y, noise, np.random.default_rng(seed), centres,
                   f"{centres} Gaussian blobs, {n} points, standard deviation {noise:g}")

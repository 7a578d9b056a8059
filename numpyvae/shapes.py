"""The built-in ``shapes`` dataset: anti-aliased squares, ellipses and triangles with known factors.

No files are needed, so every command has an offline default, and lessons can compare what a
VAE's latents learned with the true factors of variation:

    shape     int64    0 square, 1 ellipse, 2 triangle (names in SHAPE_NAMES)
    scale     float32  circumradius in pixels (the radius of the smallest circle around the shape),
                       uniform in [0.12, 0.25] * size
    rotation  float32  radians, counter-clockwise as displayed, uniform over one period of the
                       shape's rotational symmetry: [0, pi/2) square, [0, pi) ellipse,
                       [0, 2 pi/3) triangle, so that every image has exactly one rotation
    x, y      float32  centre in pixels: column x, row y (row 0 at the top; pixel centres are at
                       integer coordinates), uniform in [m, size - 1 - m] with
                       m = 0.25 * size + 1.5, so every shape, edge blur included, lies inside
                       the frame and the outermost ring of pixels is always 0

At rotation 0 the square is axis-aligned, the ellipse's long axis (semi-axes scale and
ELLIPSE_ASPECT * scale) is horizontal, and the triangle (equilateral) points up.

Rendering: for every pixel centre p we compute, in each shape's own rotated frame, a signed
distance d(p) to the outline (negative inside, in pixels) and set intensity = clip(0.5 - d, 0, 1):
1 inside, 0 outside, and a linear ramp one pixel wide across the edge (anti-aliasing).
Polygons are intersections of half-planes, so d = max over edges of (distance past that edge);
for the ellipse we use the first-order estimate d = f / |grad f| with f = k0 - 1.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validate import check_positive_int, check_rng

SHAPE_NAMES = ("square", "ellipse", "triangle")
SYMMETRY = (4, 2, 3)          # rotational symmetry order of each shape
ELLIPSE_ASPECT = 0.6          # minor / major semi-axis
SCALE_RANGE = (0.12, 0.25)    # circumradius range, as fractions of the image side
_CHUNK = 2048                 # examples rendered at once (bounds the temporaries' memory)


def make_shapes(n, rng, size=28):
    """Sample ``n`` random shapes and render them.

    n    : number of images (> 0).
    rng  : numpy.random.Generator; the same seed gives the same images, bit for bit.
    size : image side in pixels (>= 12).
    Returns (x, factors): x (n, size*size) float32 in [0, 1], one row-major image per row;
    factors a dict of (n,) arrays "shape" (int64), "scale", "rotation", "x", "y" (float32).
    """
    n = check_positive_int(n, "n")
    check_rng(rng)
    size = _check_size(size)
    lo, hi = (np.float32(f * size) for f in SCALE_RANGE)
    margin = np.float32(0.25 * size + 1.5)
    shape = rng.integers(0, len(SHAPE_NAMES), size=n, dtype=np.int64)
    scale = lo + (hi - lo) * rng.random(n, dtype=np.float32)
    period = np.float32(2 * np.pi) / np.asarray(SYMMETRY, dtype=np.float32)[shape]
    rotation = period * rng.random(n, dtype=np.float32)
    span = np.float32(size - 1) - 2 * margin
    x = margin + span * rng.random(n, dtype=np.float32)
    y = margin + span * rng.random(n, dtype=np.float32)
    factors = {"shape": shape, "scale": scale, "rotation": rotation, "x": x, "y": y}
    return render_shapes(**factors, size=size), factors


def render_shapes(shape, scale, rotation, x, y, size=28):
    """Render shapes with the given factors (each a (n,) array; see the module docstring).

    Useful for latent traversals: vary one factor, keep the others fixed. Shapes are not
    required to fit inside the frame here. Returns (n, size*size) float32 in [0, 1].
    """
    size = _check_size(size)
    shape = np.asarray(shape)
    if shape.ndim != 1 or not np.issubdtype(shape.dtype, np.integer):
        raise TypeError(f"shape must be a 1-d integer array, got {shape.dtype} {shape.shape}")
    if shape.size and (shape.min() < 0 or shape.max() >= len(SHAPE_NAMES)):
        raise ValueError(f"shape values must be in 0..{len(SHAPE_NAMES) - 1}")
    params = {}
    for name, v in (("scale", scale), ("rotation", rotation), ("x", x), ("y", y)):
        params[name] = v = np.asarray(v, dtype=np.float32)
        if v.shape != shape.shape:
            raise ValueError(f"{name} must have shape {shape.shape} like shape, got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} contains NaN or inf")
    out = np.empty((shape.size, size * size), dtype=np.float32)
    for start in range(0, shape.size, _CHUNK):
        block = slice(start, start + _CHUNK)
        _render_block(shape[block], {k: v[block] for k, v in params.items()}, size, out[block])
    return out


def _check_size(size):
    if not isinstance(size, numbers.Integral) or isinstance(size, bool):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 12:
        raise ValueError(f"size must be >= 12 pixels, got {size}")
    return int(size)


def _render_block(shape, factors, size, out):
    """Fill out (m, size*size) for m examples; one vectorized pass per kind of shape.
    ``factors``: "scale", "rotation", "x" and "y", each (m,) float32."""
    scale, rotation, x, y = (factors[k] for k in ("scale", "rotation", "x", "y"))
    pixels = np.arange(size, dtype=np.float32)
    cols = np.tile(pixels, size)[None, :]       # (1, P) column of each pixel, row-major order
    rows = np.repeat(pixels, size)[None, :]     # (1, P) row of each pixel
    for kind, signed_distance in enumerate((_square, _ellipse, _triangle)):
        idx = np.flatnonzero(shape == kind)
        if idx.size == 0:
            continue
        c = np.cos(rotation[idx])[:, None]
        s = np.sin(rotation[idx])[:, None]
        dx = cols - x[idx, None]                # (m, P) offsets from the centre, right positive
        dy = y[idx, None] - rows                # (m, P) up positive (rows grow downwards)
        u = c * dx + s * dy                     # coordinates in the shape's own frame:
        v = c * dy - s * dx                     # the point rotated by -rotation
        d = signed_distance(u, v, scale[idx, None])
        np.subtract(np.float32(0.5), d, out=d)
        out[idx] = np.clip(d, 0, 1, out=d)


def _square(u, v, radius):
    """Square with circumradius ``radius``: half-side radius / sqrt(2)."""
    half_side = radius * np.float32(1 / np.sqrt(2))
    return np.maximum(np.abs(u), np.abs(v)) - half_side


def _triangle(u, v, radius):
    """Equilateral triangle pointing up (+v); inradius radius / 2.

    Its three edges have outward normals (0, -1) and (+-sqrt(3)/2, 1/2).
    """
    slanted = np.float32(np.sqrt(3) / 2) * np.abs(u) + np.float32(0.5) * v
    return np.maximum(-v, slanted) - np.float32(0.5) * radius


def _ellipse(u, v, radius):
    """Ellipse with semi-axes a = radius (along u) and b = ELLIPSE_ASPECT * radius.

    With k0 = |(u/a, v/b)| (1 on the outline) and k1 = |(u/a^2, v/b^2)| = |grad k0| * k0,
    d = (k0 - 1) / |grad k0| = k0 (k0 - 1) / k1. At the centre k1 = 0 and we return -b.
    """
    a = radius
    b = radius * np.float32(ELLIPSE_ASPECT)
    k0 = np.hypot(u / a, v / b)
    k1 = np.hypot(u / (a * a), v / (b * b))
    ratio = np.divide(k0, k1, out=np.broadcast_to(b, k0.shape).copy(), where=k1 > 0)
    return (k0 - 1) * ratio

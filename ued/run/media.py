"""Host-side image files: PNGs, animated GIFs and image grids, for any level space."""

from __future__ import annotations

import os
from typing import Sequence

import jax
import numpy as np


def save_png(image, path: str | os.PathLike) -> str:
    """Writes an RGB array ``(H, W, 3)`` to a PNG file (host side); returns the path."""
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(np.asarray(jax.device_get(image), dtype=np.uint8)).save(path)
    return str(path)


def save_gif(frames: Sequence | np.ndarray, path: str | os.PathLike, fps: int = 8) -> str:
    """Writes RGB frames ``(N, H, W, 3)`` to an animated GIF (host side); returns the path."""
    from PIL import Image

    frames = np.asarray(jax.device_get(frames), dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise ValueError(f"save_gif needs frames of shape (N, H, W, 3) with N >= 1, got {frames.shape}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return str(path)


def tile_images(images, columns: int = 8, pad: int = 2) -> np.ndarray:
    """Arranges a batch of equally sized images ``(N, H, W, 3)`` in a grid (host side)."""
    images = np.asarray(jax.device_get(images), dtype=np.uint8)
    n, h, w, c = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, columns)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = img
    return out

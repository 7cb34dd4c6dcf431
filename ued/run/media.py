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


def write_eval_media(components, result: dict, levels, update: int, run_dir: str, curriculum_state=None) -> dict[str, str]:
    """Writes an evaluation's images into ``run_dir/media``; returns ``{name: path}``.

    ``proposed_<update>.png``: the first 16 levels the curriculum proposed last (as played, where
    it built them in the rollout: DEGen's generated levels); ``top_levels_<update>.png``:
    the 16 levels the curriculum rates highest (its ``Curriculum.top_levels``, when it has one and
    holds any); ``heldout_<level>_<update>.gif``: greedy episodes on the first
    ``eval.render_levels`` named held-out levels. With several seeds, seed 0's.

    Args:
        components: the run's ``ued.run.config.Components``.
        result: the evaluation's results (``Trainer.evaluate``), on the host.
        levels: the last proposed levels (leading axis ``num_envs``, after a seed axis with seeds).
        update: the update number (in the file names).
        run_dir: the run directory.
        curriculum_state: the curriculum's state (seed axis with seeds), or None.
    """
    import jax.numpy as jnp

    ls, cfg, out = components.level_space, components.cfg, {}
    media_dir = os.path.join(run_dir, "media")
    first_seed = (lambda t: jax.tree.map(lambda x: x[0], t)) if cfg.num_seeds > 1 else (lambda t: t)
    render_all = jax.jit(jax.vmap(ls.render)) if ls.render is not None else None
    if render_all is not None and levels is not None:
        shown = jax.tree.map(lambda x: x[:16], first_seed(levels))
        out["proposed_levels"] = save_png(tile_images(render_all(shown), columns=8),
                                          os.path.join(media_dir, f"proposed_{update:07d}.png"))
    top_fn = components.curriculum.top_levels
    if render_all is not None and top_fn is not None and curriculum_state is not None:
        top = jax.device_get(jax.jit(top_fn, static_argnums=1)(first_seed(curriculum_state), 16))
        valid = np.asarray(top.valid)
        if valid.any():
            images = render_all(jax.tree.map(lambda x: jnp.asarray(np.asarray(x)[valid]), top.levels))
            out["top_levels"] = save_png(tile_images(images, columns=8), os.path.join(media_dir, f"top_levels_{update:07d}.png"))
    if ls.render_episode is not None and "trace" in result.get("named", {}):
        trace = np.asarray(result["named"]["trace"])
        if cfg.num_seeds > 1:
            trace = trace[0]
        render_episode = jax.jit(ls.render_episode)
        for i, name in enumerate(ls.held_out_names[: cfg.eval.render_levels]):
            level = jax.tree.map(lambda x: x[i], ls.held_out)
            steps = trace[:, i]
            done = np.nonzero(steps[:, 3])[0]
            end = int(done[0]) + 1 if len(done) else len(steps)
            frames = render_episode(level, jnp.asarray(steps[:end]))
            out[f"heldout_{name}"] = save_gif(np.asarray(frames), os.path.join(media_dir, f"heldout_{name}_{update:07d}.gif"))
    return out

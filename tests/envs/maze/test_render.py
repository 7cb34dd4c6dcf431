import jax
import numpy as np
from PIL import Image

from ued.envs.maze import make_maze, named_level, parse_level, render_level, render_state
from ued.run.media import save_gif, save_png, tile_images
from ued.envs.maze.render import _COLOURS


def test_render_level_colours_and_shape():
    level = parse_level("""
        >#
        .G
    """)
    img = np.asarray(jax.jit(render_level, static_argnums=1)(level, 8))
    assert img.shape == (4 * 8, 4 * 8, 3) and img.dtype == np.uint8
    centre = lambda row, col: tuple(img[row * 8 + 4, col * 8 + 4])  # bordered grid coordinates
    assert centre(0, 0) == _COLOURS["wall"]  # border
    assert centre(1, 2) == _COLOURS["wall"]  # the wall at (x=1, y=0)
    assert centre(2, 2) == _COLOURS["goal"]
    assert centre(2, 1) == _COLOURS["empty"]
    assert centre(1, 1) == _COLOURS["agent"]


def test_agent_triangle_points_its_way():
    imgs = [np.asarray(render_level(parse_level(f"{c}.G"), 16)) for c in ">v<^"]
    tile = [im[16:32, 16:32] for im in imgs]  # the agent's cell
    red = [np.all(t == _COLOURS["agent"], axis=-1) for t in tile]

    def tip_width_vs_base(mask, axis, tip_at_end):
        # Number of red pixels in the first and last occupied line along ``axis``.
        lines = np.where(mask.any(axis=1 - axis))[0]
        counts = mask.sum(axis=1 - axis)
        tip, base = (lines.max(), lines.min()) if tip_at_end else (lines.min(), lines.max())
        return counts[tip], counts[base]

    for d, (axis, tip_at_end) in enumerate([(1, True), (0, True), (1, False), (0, False)]):
        tip, base = tip_width_vs_base(red[d], axis, tip_at_end)
        assert tip < base, d  # narrow end (the tip) faces the agent's direction


def test_render_state_and_files(tmp_path):
    env = make_maze()
    level = named_level("SixteenRooms")
    obs, state = env.reset_to_level(jax.random.key(0), level, env.default_params)
    frames = [render_state(state)]
    for a in (2, 2, 1, 1):  # every action changes the picture
        obs, state, *_ = env.step(jax.random.key(0), state, a, env.default_params)
        frames.append(render_state(state))
    frames = np.stack(frames)
    assert frames.shape == (5, 15 * 16, 15 * 16, 3)
    assert not np.array_equal(frames[0], frames[-1])
    png = save_png(frames[0], tmp_path / "a" / "level.png")
    gif = save_gif(frames, tmp_path / "episode.gif")
    np.testing.assert_array_equal(np.asarray(Image.open(png).convert("RGB")), frames[0])
    with Image.open(gif) as im:
        assert im.n_frames == 5
    grid = tile_images(frames[:3], columns=2)
    assert grid.shape == (2 * (240 + 2) + 2, 2 * (240 + 2) + 2, 3)

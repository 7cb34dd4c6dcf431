"""How PAIRED's adversary builds a level on a grid, one action a step: the editing protocols.

An action is a flat cell index ``y * W + x`` of the level space's ``GridEditor`` grid. Two
protocols, both starting from an empty grid:

- ``"jaxued"`` (default): JaxUED's ``MazeEditor`` (Coward et al. 2024, its maze PAIRED example):
  step 0 places the goal; step 1 sets the agent's heading (``action % headings``; only where the
  editor builds levels with a heading, ``GridEditor.headings > 0``); the next step places the
  agent (on the goal's cell: a uniformly random other cell); every later step **toggles** a wall
  (nothing on the goal's or the agent's cell). Exact against JaxUED on recorded action sequences
  (``tests/curricula/test_editing_reference.py``).
- ``"dcd"``: PAIRED's own code (Dennis et al. 2020; dcd's ``AdversarialEnv.step_adversary``): goal,
  agent (on the goal: a random free cell), then each step **places** a wall on a free cell; the
  heading is drawn by the editor.

The protocol's state after each step (``Draft``) is what the adversary observes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.types import GridEditor

PROTOCOLS = ("jaxued", "dcd")
GOAL, HEADING, AGENT, WALL = 0, 1, 2, 3


@struct.dataclass
class Draft:
    """A batch of ``B`` levels being designed on ``C`` cells.

    Attributes:
        walls: bool ``(B, C)``.
        goal: int32 ``(B,)``, the goal's cell (meaningful once ``has_goal``).
        agent: int32 ``(B,)``, the agent's cell (once ``has_agent``).
        heading: int32 ``(B,)``, the agent's heading, -1 while the editor is to draw it.
        has_goal: bool ``(B,)``.
        has_agent: bool ``(B,)``.
    """

    walls: jax.Array
    goal: jax.Array
    agent: jax.Array
    heading: jax.Array
    has_goal: jax.Array
    has_agent: jax.Array


def num_steps(protocol: str, n_walls: int, headings: int) -> int:
    """The editing steps: goal, heading (``jaxued`` with headings), agent and ``n_walls`` walls."""
    return n_walls + (3 if protocol == "jaxued" and headings > 0 else 2)


def blank(num_levels: int, cells: int) -> Draft:
    """``num_levels`` empty grids."""
    zeros = jnp.zeros((num_levels,), jnp.int32)
    no = jnp.zeros((num_levels,), jnp.bool_)
    return Draft(walls=jnp.zeros((num_levels, cells), jnp.bool_), goal=zeros, agent=zeros,
                 heading=zeros - 1, has_goal=no, has_agent=no)


def role(t, *, protocol: str, headings: int):
    """What step ``t`` (int32, traced) edits: ``GOAL``, ``HEADING``, ``AGENT`` or ``WALL``."""
    heading_step = protocol == "jaxued" and headings > 0
    agent_step = 2 if heading_step else 1
    return jnp.where(t == 0, GOAL, jnp.where(t == agent_step, AGENT,
                                             jnp.where((t == 1) & heading_step, HEADING, WALL)))


def edit(draft: Draft, t, actions, key, *, protocol: str, headings: int) -> Draft:
    """Applies step ``t``'s ``actions`` (int32 ``(B,)``) to the draft; ``key`` draws the agent's
    cell where the adversary chose the goal's."""
    b, cells = draft.walls.shape
    r = role(t, protocol=protocol, headings=headings)
    rows = jnp.arange(b)
    other = jax.vmap(lambda k, g: jax.random.choice(k, cells, p=jnp.arange(cells) != g))(
        jax.random.split(key, b), draft.goal)
    agent_cell = jnp.where(actions == draft.goal, other, actions)
    occupied = (actions == draft.goal) & draft.has_goal | (actions == draft.agent) & draft.has_agent
    current = draft.walls[rows, actions]
    wall_value = jnp.where(occupied, current, ~current if protocol == "jaxued" else True)
    walls = jnp.where((r == WALL), draft.walls.at[rows, actions].set(wall_value), draft.walls)
    cleared = jnp.where(r == GOAL, actions, jnp.where(r == AGENT, agent_cell, -1))  # a placed object clears its cell
    walls = walls & ~jax.nn.one_hot(cleared, cells, dtype=jnp.bool_)
    return draft.replace(
        walls=walls,
        goal=jnp.where(r == GOAL, actions, draft.goal),
        has_goal=draft.has_goal | (r == GOAL),
        agent=jnp.where(r == AGENT, agent_cell, draft.agent),
        has_agent=draft.has_agent | (r == AGENT),
        heading=jnp.where(r == HEADING, actions % max(headings, 1), draft.heading),
    )


def build(editor: GridEditor, draft: Draft, keys):
    """The ``B`` finished levels, built by the level space's editor (``keys`` ``(B,)`` for what it
    draws itself: the heading where ``draft.heading`` is -1, and anything else it adds)."""
    to_xy = lambda i: jnp.stack([i % editor.width, i // editor.width], axis=-1).astype(jnp.int32)  # noqa: E731
    walls = draft.walls.reshape(-1, editor.height, editor.width)
    return jax.vmap(editor.build)(walls, to_xy(draft.goal), to_xy(draft.agent), keys, draft.heading)


def design(editor: GridEditor, actions, keys, *, protocol: str):
    """The levels an action sequence ``(S, B)`` builds (the adversary's whole episode at once)."""
    b = actions.shape[1]
    draft = blank(b, editor.height * editor.width)
    step_keys = jax.random.split(keys[0], actions.shape[0])

    def step(d, inp):
        t, a, k = inp
        return edit(d, t, a, k, protocol=protocol, headings=editor.headings), None

    draft, _ = jax.lax.scan(step, draft, (jnp.arange(actions.shape[0]), actions, step_keys))
    return build(editor, draft, keys), draft

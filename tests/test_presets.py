"""Paper presets (docs/presets.md): each composes, equals its documented table, and changes
nothing the table does not list."""

import os
import re

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ued.run.config import (CONF_DIR, ConfigError, check_overrides, normalise_preset, preset_curricula, preset_names,
                            validate)

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "presets.md")


def _tables():
    """``{preset: [(curricula or None for all, key, value text)]}`` from docs/presets.md."""
    out, current = {}, None
    for line in open(DOC):
        m = re.match(r"^## (\w+)\s*$", line)
        if m:
            current = m.group(1)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current and line.startswith("|") and len(cells) == 4 and cells[0] not in ("curricula", "---"):
            who = None if cells[0] == "all" else tuple(c.strip() for c in cells[0].split(","))
            out.setdefault(current, []).append((who, cells[1].strip("`"), cells[2].strip("`")))
    return out


TABLES = _tables()


def _compose(overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _flat(node, prefix=""):
    out = {}
    for k, v in node.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def _env_choice(preset):
    with open(os.path.join(CONF_DIR, "preset", f"{preset}.yaml")) as f:
        defaults = (yaml.safe_load(f) or {}).get("defaults", [])
    for entry in defaults:
        if isinstance(entry, dict) and "override /env" in entry:
            return entry["override /env"]
    return None


def _cases():
    return [(p, c) for p in preset_names() for c in (preset_curricula(p) or ("dr",))]


def test_every_preset_is_documented_with_its_curricula():
    assert set(TABLES) == set(preset_names())
    for preset, rows in TABLES.items():
        named = {c for who, _, _ in rows if who for c in who}
        assert named <= set(preset_curricula(preset)), (preset, named)


@pytest.mark.parametrize("preset,curriculum", _cases())
def test_preset_equals_its_table_and_changes_nothing_else(preset, curriculum):
    env = _env_choice(preset)
    base = [f"curriculum={curriculum}"] + ([f"env={env}"] if env else [])
    cfg = _compose(base + [f"preset={preset}", "run_dir=x"])
    validate(cfg)
    got = _flat(OmegaConf.to_container(cfg, resolve=True))
    default = _flat(OmegaConf.to_container(_compose(base + ["run_dir=x"])))
    raw = _flat(OmegaConf.to_container(cfg))  # unresolved: ${...} copies of other keys compare equal
    rows = {key: text for who, key, text in TABLES[preset] if who is None or curriculum in who}
    for key, text in rows.items():
        assert key in got, f"{preset}/{curriculum}: {key} is not in the configuration"
        want = _value(text)
        if isinstance(want, float) or isinstance(got[key], float):
            assert got[key] == pytest.approx(want), (preset, curriculum, key)
        else:
            assert got[key] == want, (preset, curriculum, key)
    changed = {k for k in set(raw) | set(default) if raw.get(k) != default.get(k)}
    assert changed <= set(rows), f"{preset}/{curriculum} changes keys its table does not list: {changed - set(rows)}"


def test_plus_preset_is_read_as_preset_and_unknown_presets_are_named():
    assert normalise_preset(["+preset=sfl_minigrid", "seed=1"]) == ["preset=sfl_minigrid", "seed=1"]
    with pytest.raises(ConfigError, match=r"preset=nope: no such preset; the presets are .*sfl_minigrid"):
        check_overrides(["preset=nope"])
    with pytest.raises(ConfigError, match="preset=nope"):
        check_overrides(["preset=sfl_minigrid,nope"])


def test_a_curriculum_without_preset_settings_gets_a_note():
    notes = check_overrides(["preset=sfl_minigrid", "curriculum=paired,sfl"])
    assert notes == [n for n in notes if "curriculum=paired" in n] and len(notes) == 1
    assert "preset=sfl_minigrid has no settings of its own for curriculum=paired" in notes[0]
    assert check_overrides(["curriculum=paired"]) == []


def test_a_score_fixed_by_the_preset_cannot_be_overridden_silently():
    with pytest.raises(ConfigError, match=r"preset=accel_maze fixes the score of curriculum=accel"):
        check_overrides(["preset=accel_maze", "curriculum=accel", "score=max_mc"])
    check_overrides(["preset=sfl_minigrid", "curriculum=plr", "score=pvl"])  # not fixed there: allowed
    cfg = _compose(["preset=accel_maze", "curriculum=accel", "score._target_=ued.scores.max_mc"])
    assert cfg.score._target_ == "ued.scores.max_mc"


def test_accel_preset_trains_from_empty_rooms_but_is_evaluated_on_the_baselines_mazes():
    from ued.envs.maze import maze_level_space
    import jax
    import numpy as np

    cfg = _compose(["preset=accel_maze", "curriculum=accel"])
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.env).items() if k != "_target_"}
    space = maze_level_space(**kwargs)
    keys = jax.random.split(jax.random.key(0), 64)
    train = jax.vmap(space.generator.sample)(keys)
    held = jax.vmap(space.eval_generator.sample)(keys)
    assert int(np.asarray(train.wall_map).sum()) == 0
    walls = np.asarray(held.wall_map).sum(axis=(1, 2))
    assert walls.max() > 20 and walls.min() < walls.max()  # a uniform number of blocks up to 60

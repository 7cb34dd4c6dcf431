"""The configuration code's five modules: layered without cycles, and re-exported by ``ued.run.config``."""

import ast
import importlib
import os

import ued.run.config as config

# each module may import only from the modules before it (the schema first, building last)
LAYERS = ("schema", "catalog", "cli", "checks", "build")
RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ued", "run")


def _tree(name):
    with open(os.path.join(RUN, f"{name}.py")) as f:
        return ast.parse(f.read())


def _imported_run_modules(name):
    found = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ued.run."):
            found.add(node.module.split(".")[2])
    return found


def test_each_config_module_imports_only_the_layers_below_it():
    for i, name in enumerate(LAYERS):
        above = set(LAYERS[i:]) & _imported_run_modules(name)
        assert not above, f"ued.run.{name} imports ued.run.{sorted(above)}, a layer at or above it"
        assert "config" not in _imported_run_modules(name), f"ued.run.{name} imports the facade"


def _defined_public_names(name):
    names = []
    for node in _tree(name).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def test_the_facade_re_exports_every_public_name_of_the_five_modules_as_the_same_object():
    for name in LAYERS:
        module = importlib.import_module(f"ued.run.{name}")
        names = _defined_public_names(name)
        assert names, f"ued.run.{name} defines nothing public"
        for n in names:
            assert getattr(config, n, None) is getattr(module, n), f"ued.run.config.{n} is not ued.run.{name}.{n}"

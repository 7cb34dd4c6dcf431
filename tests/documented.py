"""The commands of README.md and docs/: their fenced code blocks, parsed, classified and rewritten
with size overrides appended, for ``tests/test_documented_commands.py``.

A bash block is a list of logical lines (``\\`` continuations joined, ``#`` comments dropped);
each line is one or more commands joined by ``&&``; each command is an optional run of
``NAME=value`` environment assignments, the program and its arguments, and an optional
trailing ``&``. A command is *run* (with the size overrides of its entry point appended at the
end of its arguments), *CI's* (an install or test command: ``.ci/run`` must run it), or
*excluded* with a reason (a cluster or an environment this machine does not have). A command
that matches no rule fails the classification test, so a new command is tested the day it is
written.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def copy_tracked(dest, *paths) -> list[str]:
    """Copies the repository's tracked files (``git ls-files [paths]``, as they are in the work tree)
    to ``dest``, keeping their relative paths: what a clean clone holds, less nothing and plus nothing.

    Returns:
        The copied files' relative paths (empty when git lists none).
    """
    listed = subprocess.run(["git", "ls-files", "-z", *paths], cwd=ROOT, capture_output=True, text=True)
    files = [rel for rel in listed.stdout.split("\0") if rel and os.path.isfile(os.path.join(ROOT, rel))] \
        if listed.returncode == 0 else []
    for rel in files:
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel))
    return files


DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                                                                          recursive=True))]
_FENCE = re.compile(r"^```(\w*)\s*$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class Command:
    """One command of a bash block."""

    env: list[str]            # NAME=value assignments before the program
    argv: list[str]           # the program and its arguments
    background: bool = False  # a trailing &
    source: str = ""          # where it is written: file:line

    @property
    def module(self) -> str | None:
        """``ued.train`` for ``python -m ued.train ...`` (and the console scripts), else None."""
        if len(self.argv) >= 3 and os.path.basename(self.argv[0]) in ("python", "python3") and self.argv[1] == "-m":
            return self.argv[2]
        scripts = {"ued-train": "ued.train", "ued-evaluate": "ued.evaluate", "ued-report": "ued.report",
                   "ued-curves": "ued.curves", "ued-analyze": "ued.analyze", "ued-study": "ued.study",
                   "ued-demo": "ued.demo"}
        return scripts.get(self.argv[0]) if self.argv else None

    @property
    def args(self) -> list[str]:
        """The arguments after the program (after ``-m module`` for a module)."""
        return self.argv[3:] if self.module and self.argv[1:2] == ["-m"] else self.argv[1:]

    def text(self, extra=()) -> str:
        """The command as shell text with ``extra`` arguments appended."""
        out = " ".join([*self.env, shlex.join([*self.argv, *extra])])
        return out + (" &" if self.background else "")


@dataclass
class Block:
    """A fenced code block."""

    path: str
    line: int                 # the line of its first content line
    lang: str
    text: str
    lines: list[list[Command]] = field(default_factory=list)  # bash: logical lines of commands
    exports: list[str] = field(default_factory=list)          # bash: `export ...` lines, kept in place

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


def code_blocks(paths=DOCS) -> list[Block]:
    """Every fenced code block of the files (paths relative to the repository root)."""
    blocks = []
    for path in paths:
        with open(os.path.join(ROOT, path)) as f:
            lines = f.read().splitlines()
        i = 0
        while i < len(lines):
            m = _FENCE.match(lines[i])
            if m is None:
                i += 1
                continue
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            block = Block(path, i + 2, m.group(1) or "text", "\n".join(lines[i + 1:j]))
            if block.lang in ("bash", "sh", "shell"):
                _parse_bash(block)
            blocks.append(block)
            i = j + 1
    return blocks


def _logical_lines(text: str):
    pending, start = "", None
    for n, raw in enumerate(text.splitlines()):
        if start is None:
            start = n
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        yield start, pending + raw
        pending, start = "", None


def _parse_bash(block: Block) -> None:
    order = []  # ("export", text) or ("line", [Command])
    for offset, line in _logical_lines(block.text):
        tokens = shlex.split(line, comments=True)
        if not tokens:
            continue
        source = f"{block.path}:{block.line + offset}"
        if tokens[0] == "export":
            block.exports.append(line.split("#")[0].strip())
            order.append(("export", line.split("#")[0].strip()))
            continue
        commands, cur = [], []
        for t in tokens + ["&&"]:
            if t == "&&":
                if cur:
                    commands.append(_command(cur, source))
                cur = []
            else:
                cur.append(t)
        block.lines.append(commands)
        order.append(("line", commands))
    block.order = order


def _command(tokens: list[str], source: str) -> Command:
    background = tokens[-1] == "&"
    if background:
        tokens = tokens[:-1]
    env = []
    while tokens and _ASSIGN.match(tokens[0]):
        env.append(tokens.pop(0))
    return Command(env=env, argv=tokens, background=background, source=source)


def bash_commands(blocks) -> list[Command]:
    """Every command of the bash blocks, in order."""
    return [c for b in blocks if hasattr(b, "order") for kind, x in b.order if kind == "line" for c in x]

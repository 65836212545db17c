"""The README walk-through: every shell command in README.md runs, as a newcomer would run it.

Each ```sh block runs in a fresh copy of this checkout, its commands in order, with `bash -c`, inside
one virtualenv made for this module (``--system-site-packages``: it sees torch, libcst and the test
tools installed here; pip runs offline). The README's own install command puts memlint into that
virtualenv, so `memlint`, `flake8` and `python -m ...` are what a user of the README gets. Building
that environment makes the blocks slow tests; the checks of the README's comments are not.

How a block says what its commands must do: an HTML comment (invisible on GitHub) right before the
block, with one line per command of the block, in order::

    <!-- readme-test
    exit=1 expect="fixtures/MEM001/bad.py:"
    exit=0 expect="tests collected" append="--collect-only"
    -->

- ``exit=N``: the exit code the command must end with (required).
- ``expect="text"``: a line of its output (stdout or stderr) must contain this text (required).
- ``append="args"``: added to the end of the command when it runs here. Only for commands that would
  run the whole test suite from inside the test suite (``--collect-only`` checks the command is valid).

A command may continue over several lines with a trailing backslash; lines that start with ``#`` are
comments. Commands that other work adds to the README (``memlint estimate``, ``memlint server``, new
``verify`` options) need nothing more than such a comment. A shell block without one fails
``test_every_shell_block_declares_its_commands``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, copy_checkout, make_venv

README = REPO / "README.md"
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell|console)\n(.*?)^```", re.DOTALL | re.MULTILINE)
OPEN, CLOSE = "<!-- readme-test\n", "-->\n"


@dataclass
class Command:
    line: str  # as the README shows it
    exit: int
    expect: str
    append: str = ""

    @property
    def run(self) -> str:
        return f"{self.line} {self.append}".strip()


@dataclass
class Block:
    number: int
    commands: list[Command] = field(default_factory=list)
    error: str = ""

    @property
    def id(self) -> str:
        first = self.commands[0].line if self.commands else "empty"
        return f"{self.number}-" + re.sub(r"[^\w.-]+", "-", first)[:60].strip("-")


def _commands(body: str) -> list[str]:
    commands, current = [], ""
    for line in body.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        commands.append((current + line).strip())
        current = ""
    return commands


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for number, match in enumerate(SHELL_BLOCK.finditer(text)):
        block = Block(number)
        blocks.append(block)
        commands = _commands(match.group(1))
        head = text[: match.start()]
        opened = head.rfind(OPEN)
        directive = head[opened + len(OPEN): -len(CLOSE)] if opened >= 0 and head.endswith(CLOSE) else None
        if directive is None or "-->" in directive:
            block.error = f"no <!-- readme-test --> comment right before the block of {commands[:1]}"
            continue
        specs = [line for line in directive.splitlines() if line.strip()]
        if len(specs) != len(commands):
            block.error = f"{len(specs)} readme-test lines for {len(commands)} commands: {commands}"
            continue
        for spec, line in zip(specs, commands):
            fields: dict[str, str] = {}
            for token in shlex.split(spec):
                key, _, value = token.partition("=")
                fields[key] = value
            if "exit" not in fields or not fields.get("expect"):
                block.error = f"readme-test line {spec!r} needs exit=N and expect=\"...\""
                break
            block.commands.append(Command(line, int(fields["exit"]), fields["expect"], fields.get("append", "")))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_every_shell_block_declares_its_commands():
    assert BLOCKS, "README.md has no shell blocks"
    assert [b.error for b in BLOCKS if b.error] == []


def test_ci_runs_the_readme_test_command():
    """The README's test command is the one .ci/run runs."""
    [command] = [c.line for b in BLOCKS for c in b.commands if 'install -e ".[test]"' in c.line]
    assert f'{command} "$@"' in (REPO / ".ci" / "run").read_text().splitlines()


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return make_venv(tmp_path_factory.mktemp("readme") / "venv")


@pytest.mark.slow
@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in BLOCKS if not b.error])
def test_readme_block(block, venv, tmp_path):
    checkout = copy_checkout(tmp_path / "memlint")
    if not (Path(venv["VIRTUAL_ENV"]) / "bin" / "memlint").exists():
        # Blocks may run alone (-k): install memlint the way the README's first block does.
        install = subprocess.run(
            ["python", "-m", "pip", "install", "-q", "-e", "."], cwd=checkout, env=venv, capture_output=True,
            text=True, timeout=600,
        )
        assert install.returncode == 0, install.stdout + install.stderr
    for command in block.commands:
        result = subprocess.run(
            ["bash", "-c", command.run], cwd=checkout, env=venv, capture_output=True, text=True, timeout=1800
        )
        output = result.stdout + result.stderr
        assert result.returncode == command.exit, f"`{command.run}` exited {result.returncode}:\n{output[-4000:]}"
        assert any(command.expect in line for line in output.splitlines()), (
            f"`{command.run}` printed no line with {command.expect!r}:\n{output[-4000:]}"
        )


@pytest.mark.slow
def test_the_readme_install_is_this_checkout(venv, tmp_path):
    """The virtualenv's memlint is the copy the README installed, not the one this test runs from."""
    checkout = copy_checkout(tmp_path / "memlint")
    subprocess.run(["python", "-m", "pip", "install", "-q", "-e", "."], cwd=checkout, env=venv, check=True,
                   capture_output=True, timeout=600)
    where = subprocess.run(["python", "-c", "import memlint; print(memlint.__file__)"], cwd="/", env=venv,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where) == checkout / "memlint" / "__init__.py"

"""The project index as a user meets it: `memlint check` of one file uses its siblings, the cache
notices a change in another file, and flake8 reports what `memlint check` reports."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_memlint
from memlint.analysis.project import build_project, file_root, find_root, module_name, prepare, relevant_files, root_files

HELPER = textwrap.dedent(
    """\
    def evaluate(model, loader):
        model.eval()
        total = 0.0
        for x, y in loader:
            total += (model(x) - y).abs().mean().item()
        return total
    """
)
CALLER = textwrap.dedent(
    """\
    import torch
    from pkg.utils import evaluate

    model = torch.nn.Linear(4, 1)
    loader = [(torch.randn(2, 4), torch.randn(2, 1))]
    {guard}
        print(evaluate(model, loader))
    """
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "utils.py").write_text(HELPER)
    (tmp_path / "train.py").write_text(CALLER.format(guard="with torch.no_grad():"))
    return tmp_path


def _codes(proc):
    assert proc.returncode in (0, 1), proc.stderr
    return [(f["filename"].replace("\\", "/").split("/")[-1], f["location"]["row"], f["code"]) for f in json.loads(proc.stdout)]


def test_one_file_check_sees_its_callers(project):
    """utils.py alone: its only caller (train.py) guards the call, so the helper is silent."""
    assert _codes(run_memlint("check", "--no-cache", "--output-format", "json", "pkg/utils.py", cwd=project)) == []
    (project / "train.py").write_text(CALLER.format(guard="if True:"))
    found = _codes(run_memlint("check", "--no-cache", "--output-format", "json", "pkg/utils.py", cwd=project))
    assert found == [("utils.py", 5, "MEM001")]


def test_a_tree_without_a_project_marker_is_one_project(project):
    """An archive with no pyproject/setup.cfg/.git: `check .` and a package file alone still see the callers."""
    (project / "pyproject.toml").unlink()
    assert _codes(run_memlint("check", "--no-cache", "--output-format", "json", ".", cwd=project)) == []
    assert _codes(run_memlint("check", "--no-cache", "--output-format", "json", "pkg/utils.py", cwd=project)) == []
    (project / "train.py").write_text(CALLER.format(guard="if True:"))
    for target in (".", "pkg/utils.py"):
        found = _codes(run_memlint("check", "--no-cache", "--output-format", "json", target, cwd=project))
        assert found == [("utils.py", 5, "MEM001")], target
    flake8 = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "MEM", "pkg/utils.py"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert flake8.stdout.split(" ")[:2] == ["pkg/utils.py:5:19:", "MEM001"], (flake8.stdout, flake8.stderr)


def test_imports_through_the_root_folders_own_name(tmp_path):
    """Scripts in `networks/` import `networks.common.metrics` (their parent is put on sys.path);
    checked from inside `networks/`, the import still resolves."""
    root = tmp_path / "networks"
    (root / "common").mkdir(parents=True)
    (root / "common" / "metrics.py").write_text(
        "class Track:\n    def __init__(self):\n        self.total = 0\n\n"
        "    def add(self, loss):\n        self.total += loss\n"
    )
    (root / "train.py").write_text(
        "import torch\nfrom networks.common.metrics import Track\n\n\n"
        "def train(model, loader, opt):\n    track = Track()\n    for x in loader:\n"
        "        loss = model(x).mean()\n        loss.backward()\n        opt.step()\n        track.add(loss)\n"
    )
    found = _codes(run_memlint("check", "--no-cache", "--select", "MEM002", "--output-format", "json", ".", cwd=root))
    assert found == [("train.py", 11, "MEM002")]


def test_cache_follows_a_change_in_another_file(project):
    first = _codes(run_memlint("check", "--output-format", "json", "pkg/utils.py", cwd=project))
    assert first == []
    (project / "train.py").write_text(CALLER.format(guard="if True:"))
    second = _codes(run_memlint("check", "--output-format", "json", "pkg/utils.py", cwd=project))
    assert second == [("utils.py", 5, "MEM001")], "a cached result ignored the caller's change"
    (project / "train.py").write_text(CALLER.format(guard="with torch.no_grad():"))
    assert _codes(run_memlint("check", "--output-format", "json", "pkg/utils.py", cwd=project)) == []


def test_flake8_agrees_with_memlint_check(project):
    (project / "train.py").write_text(CALLER.format(guard="if True:"))
    checked = run_memlint("check", "--no-cache", "--output-format", "concise", "pkg/utils.py", "train.py", cwd=project)
    flake8 = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "MEM", "pkg/utils.py", "train.py"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )
    ours = sorted(line.split(" ")[0] + line.split(" ")[1] for line in checked.stdout.splitlines() if " MEM" in line)
    theirs = sorted(line.split(" ")[0] + line.split(" ")[1] for line in flake8.stdout.splitlines() if " MEM" in line)
    assert ours == theirs == ["pkg/utils.py:5:19:MEM001"], (checked.stdout, flake8.stdout, flake8.stderr)


def test_root_and_module_names(tmp_path):
    (tmp_path / "setup.cfg").write_text("")
    (tmp_path / "src" / "lib").mkdir(parents=True)
    inner = tmp_path / "src" / "lib" / "train.py"
    inner.write_text("")
    assert find_root(inner) == tmp_path.resolve()
    assert module_name(tmp_path, inner) == "lib.train"
    assert module_name(tmp_path, tmp_path / "src" / "lib" / "__init__.py") == "lib"


def test_an_installed_package_is_its_own_project(tmp_path):
    # pyenv keeps its Python versions in a git checkout: the .git far above site-packages must not
    # make every file of every version one project, nor pull in the other installed packages.
    (tmp_path / ".git").mkdir()
    site = tmp_path / "versions" / "3.11" / "lib" / "python3.11" / "site-packages"
    (site / "pkg" / "sub").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("from pkg.sub.helpers import evaluate\n")
    (site / "pkg" / "sub" / "__init__.py").write_text("")
    (site / "pkg" / "sub" / "helpers.py").write_text(HELPER)
    (site / "other").mkdir()
    (site / "other" / "__init__.py").write_text("import torch\n")
    (site / "six.py").write_text("x = 1\n")
    (tmp_path / "versions" / "3.11" / "lib" / "python3.11" / "os.py").write_text("x = 1\n")
    checked = [site / "pkg" / "__init__.py", site / "pkg" / "sub" / "helpers.py"]
    project = prepare(checked)[str(checked[0])][0]
    names = sorted(Path(p).relative_to(site.resolve()).as_posix() for p in project.summaries)
    assert names == ["pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/helpers.py"]
    assert project.module_name(str(checked[1])) == "pkg.sub.helpers"
    assert project.definition("pkg.evaluate") is not None
    alone = root_files(file_root(checked[1]), checked[1])
    assert sorted(p.name for p in alone) == ["__init__.py", "__init__.py", "helpers.py"]


def test_relevant_files_follow_imports_and_callers(tmp_path):
    files = {
        "train.py": "from engine import step\n",
        "engine.py": "from losses import focal\n",
        "losses.py": "import torch\n",
        "report.py": "import train\n",
        "unrelated.py": "import json\n",
        "other.py": "x = 1\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = [tmp_path / n for n in files]
    chosen = {p.name for p in relevant_files(tmp_path, [tmp_path / "train.py"], paths)}
    assert chosen == {"train.py", "engine.py", "losses.py", "report.py"}


def test_reexported_helper_resolves_through_package_init(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from .utils import evaluate\n")
    (tmp_path / "pkg" / "utils.py").write_text(HELPER)
    paths = [tmp_path / "pkg" / "__init__.py", tmp_path / "pkg" / "utils.py"]
    project, _ = build_project(tmp_path, paths)
    found = project.definition("pkg.evaluate")
    assert found is not None and found[1].name == "evaluate"


def test_analyses_of_other_files_are_released_together_over_the_budget(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "utils.py").write_text(HELPER)
    (tmp_path / "pkg" / "more.py").write_text(HELPER.replace("def evaluate", "def score"))
    project, _ = build_project(tmp_path, sorted(tmp_path.rglob("*.py")))
    first = project.definition("pkg.utils.evaluate")[0]
    project.definition("pkg.more.score")
    project.forget_analyses(budget=10 * len(HELPER))  # under the budget: both kept
    assert project.definition("pkg.utils.evaluate")[0] is first
    project.forget_analyses(budget=len(HELPER))  # over it: all released, none left half-used
    assert project._analyses == {} and not hasattr(first, "tree")
    again = project.definition("pkg.utils.evaluate")
    assert again is not None and again[0] is not first and again[1].name == "evaluate"


def test_a_fifo_in_the_project_is_never_read(project):
    import os

    os.mkfifo(project / "pipe.py")
    proc = run_memlint("check", "--no-cache", "train.py", cwd=project, timeout=60)
    assert proc.returncode == 0, proc.stderr


assert Path  # used in type positions by readers


def test_a_helper_value_does_not_depend_on_which_rule_asked_first():
    # A helper's return value asked first from deep in a call chain (past MAX_DEPTH its own helpers
    # are unknown) and then from the top: the answer from the top must be the precise one.
    import ast

    from memlint.analysis.file import FileAnalysis
    from memlint.analysis.flow import MAX_DEPTH
    from memlint.analysis.syntax import parse_python

    text = textwrap.dedent(
        """
        import torch

        def strip(ids):
            return ids.detach()

        def clean(ids):
            return strip(ids)
        """
    )
    file = FileAnalysis(parse_python(text, "m.py"), "m.py", text)
    clean = next(n for n in file.nodes if isinstance(n, ast.FunctionDef) and n.name == "clean")
    assert not file.return_value(clean, MAX_DEPTH).known  # `strip` is past the depth limit there
    assert file.return_value(clean, 1).kind == "number"  # nearer the top it is followed
    assert file.return_value(clean, MAX_DEPTH).kind == "number"  # and remembered

"""The engine's independent check of every fix (memlint/fix_safety.py), whatever rule made it.

A deliberately careless test rule proposes fixes that would break programs; the engine must
refuse each one and leave the file as it was. Then the two scripts of issue #15 are fixed by the
real command line and run.
"""

import ast
import subprocess
import sys
import textwrap

import pytest

from conftest import run_memlint
from memlint.engine import fix_text, lint_text
from memlint.fix_safety import refusal, unbound_uses
from memlint.fixes import add_decorator, wrap_with
from memlint.rule import Fix, Rule


class WrapEveryLoop(Rule):
    """Careless on purpose: wraps every top-level loop in no_grad, and decorates every function."""

    code = "TST001"
    name = "careless"
    summary = "test rule"
    libraries = frozenset({"torch"})
    fix_kinds = {"wrap": "safe", "decorate": "safe", "undeclared": "unsafe"}

    def visit_For(self, node: ast.For) -> None:
        if isinstance(getattr(node, "_ml_parent", None), ast.Module):
            self.report(node, "loop", Fix("safe", "wrap", wrap_with([node], "torch.no_grad()"), uses=("torch",)))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.report(node, "function", Fix("safe", "decorate", (add_decorator(node, "torch.no_grad()"),), uses=("torch",)))


class UndeclaredFix(Rule):
    code = "TST002"
    name = "undeclared"
    summary = "test rule"
    libraries = frozenset({"torch"})
    fix_kinds = {"declared": "safe"}

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.report(node, "f", Fix("safe", "not in the table", (add_decorator(node, "torch.no_grad()"),)))


TRAINING_SCRIPT = textwrap.dedent(
    """\
    import torch

    net = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(3):
        opt.zero_grad()
        net(torch.randn(2, 4)).sum().backward()
        opt.step()
    """
)


def test_a_fix_that_would_put_backward_under_no_grad_is_refused():
    fixed, applied = fix_text(TRAINING_SCRIPT, "train.py", [WrapEveryLoop], unsafe=True)
    assert fixed == TRAINING_SCRIPT and not applied


def test_refusal_names_the_call():
    wrapped = TRAINING_SCRIPT.replace("for step in range(3):", "with torch.no_grad():\n  for step in range(3):")
    wrapped = "\n".join(("  " + line if line.startswith("    ") else line) for line in wrapped.splitlines())
    reason = refusal(TRAINING_SCRIPT, wrapped, ())
    assert reason is not None and "backward" in reason


def test_a_decorator_above_the_only_import_is_refused():
    source = textwrap.dedent(
        """\
        def score(net, x):
            return net(x)


        if __name__ == "__main__":
            import torch
            print(score(torch.nn.Linear(2, 1), torch.randn(1, 2)))
        """
    )
    fixed, applied = fix_text(source, "score.py", [WrapEveryLoop], unsafe=True)
    assert fixed == source and not applied


def test_unbound_uses_counts_module_time_reads_only():
    tree = ast.parse(
        textwrap.dedent(
            """\
            @torch.no_grad()
            def a():
                return torch.zeros(1)

            if __name__ == "__main__":
                import torch
                torch.ones(1)
            """
        )
    )
    # The decorator runs before any binding; the body of a() runs later (torch is global by then);
    # torch.ones runs after the import in the same block.
    assert unbound_uses(tree, ["torch"])["torch"] == 1


def test_a_fix_not_declared_by_its_rule_is_never_offered():
    source = "import torch\n\ndef f():\n    return 1\n"
    findings = lint_text(source, "f.py", [UndeclaredFix])
    assert findings and all(f.fix is None for f in findings)
    assert fix_text(source, "f.py", [UndeclaredFix], unsafe=True) == (source, {})


EPOCH_SCRIPT = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    net = nn.Linear(8, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    batches = [(torch.randn(4, 8), torch.randint(0, 2, (4,))) for _ in range(3)]

    for epoch in range(2):
        net.train()
        for x, y in batches:
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
        net.eval()
        hits = 0
        for x, y in batches:
            hits += (net(x).argmax(1) == y).sum().item()
        print(epoch, hits)

    for x, y in batches:
        print((net(x).argmax(1) == y).float().mean().item())
    """
)

MAIN_IMPORT_SCRIPT = textwrap.dedent(
    """\
    def score(net, batches):
        net.eval()
        hits = 0
        for x, y in batches:
            hits += (net(x).argmax(1) == y).sum().item()
        return hits


    if __name__ == "__main__":
        import torch

        torch.manual_seed(0)
        net = torch.nn.Linear(8, 2)
        print(score(net, [(torch.randn(4, 8), torch.randint(0, 2, (4,)))]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("script", [EPOCH_SCRIPT, MAIN_IMPORT_SCRIPT], ids=["epoch-loop", "main-import"])
def test_fixed_scripts_of_issue_15_still_run(script, tmp_path):
    """--fix --unsafe-fixes by the real command line, then the fixed script runs to the same output."""
    target = tmp_path / "train.py"
    target.write_text(script)
    before = subprocess.run([sys.executable, str(target)], capture_output=True, text=True, timeout=300)
    assert before.returncode == 0, before.stderr
    proc = run_memlint("check", "--no-cache", "--fix", "--unsafe-fixes", "--select", "MEM001", target)
    assert proc.returncode in (0, 1), proc.stderr
    fixed = target.read_text()
    assert fixed != script and "no_grad" in fixed
    after = subprocess.run([sys.executable, str(target)], capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    again = run_memlint("check", "--no-cache", "--fix", "--unsafe-fixes", "--select", "MEM001", target)
    assert again.returncode in (0, 1) and target.read_text() == fixed, "a second --fix changed the file"

"""An independent look at fixed code before it is accepted: a fix must never break a program.

Whatever rule made a fix, the fixed text is analysed again, from scratch, and compared with the
text before it. The fix is refused when:

- a call that needs autograd (``backward``, an optimizer ``step``, ``torch.autograd.grad``,
  ``requires_grad_``) now runs under ``no_grad`` / ``inference_mode`` where it did not before;
- a name the fix's new code reads (``torch`` in ``@torch.no_grad()``) is unbound where that code
  runs: a decorator or module-level statement placed above the module's own ``import torch``, or
  an import that only happens inside ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import ast
from collections import Counter
from typing import Iterable

from memlint.analysis.autograd import call_kind
from memlint.analysis.file import FileAnalysis
from memlint.analysis.syntax import FunctionNode, ScopeNode, ancestors


def needs_grad(call: ast.Call, file: FileAnalysis) -> bool:
    return call_kind(file, call) == "grad"


def guarded_grad_calls(file: FileAnalysis) -> Counter[str]:
    """Gradient-needing calls that run with grad off, by their source text."""
    found: Counter[str] = Counter()
    for node in ast.walk(file.tree):
        if isinstance(node, ast.Call) and needs_grad(node, file) and file.guard_at(node) == "off":
            found[ast.unparse(node)] += 1
    return found


def unbound_uses(tree: ast.Module, names: Iterable[str]) -> Counter[str]:
    """Reads of ``names`` where they cannot be bound yet, by name.

    Module-level code (decorators and defaults of module-level definitions included) runs top to
    bottom: a name is bound there only after an unconditional binding (a statement of the module
    body, or of a top-level ``try``). Code in function bodies runs later: a binding anywhere in
    the module, or in the function, will do.
    """
    wanted = set(names)
    unbound: Counter[str] = Counter()
    if not wanted:
        return unbound
    anywhere = _bound_anywhere(tree, wanted)

    def block(statements: list[ast.stmt], bound: set[str], certain: bool) -> set[str]:
        """Read a block in order; returns what it binds. ``certain``: the block always runs."""
        for stmt in statements:
            nested = _nested_blocks(stmt)
            if nested is None:
                for sub in _module_time_nodes(stmt):
                    if isinstance(sub, ast.Name) and sub.id in wanted and isinstance(sub.ctx, ast.Load) and sub.id not in bound:
                        unbound[sub.id] += 1
                bound = bound | _binds(stmt, wanted)
                continue
            headers, bodies, always = nested
            for header in headers:
                for sub in _module_time_nodes(header):
                    if isinstance(sub, ast.Name) and sub.id in wanted and isinstance(sub.ctx, ast.Load) and sub.id not in bound:
                        unbound[sub.id] += 1
            for body in bodies:
                inner = block(body, set(bound), certain and always)
                if always:
                    bound = bound | inner
        return bound

    block(tree.body, set(), True)
    for node in ast.walk(tree):
        if isinstance(node, FunctionNode) and isinstance(node, ast.AST):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and sub.id in wanted and isinstance(sub.ctx, ast.Load):
                    if _in_body(sub, node) and sub.id not in anywhere and sub.id not in _local_bindings(node, wanted):
                        unbound[sub.id] += 1
    return unbound


def _nested_blocks(stmt: ast.stmt) -> tuple[list[ast.AST], list[list[ast.stmt]], bool] | None:
    """A compound statement's header expressions, its blocks, and whether the blocks always run
    (a ``try`` body and ``with`` body do; ``if``/``for``/``while`` bodies may not)."""
    if isinstance(stmt, ast.If):
        return [stmt.test], [stmt.body, stmt.orelse], False
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [stmt.iter], [stmt.body, stmt.orelse], False
    if isinstance(stmt, ast.While):
        return [stmt.test], [stmt.body, stmt.orelse], False
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [item.context_expr for item in stmt.items], [stmt.body], True
    if isinstance(stmt, ast.Try):
        return [], [stmt.body, *[h.body for h in stmt.handlers], stmt.orelse, stmt.finalbody], True
    return None


def _module_time_nodes(stmt: ast.AST) -> Iterable[ast.AST]:
    """Nodes of a module-level statement that run when the module runs (not function bodies)."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, FunctionNode):
            stack.extend([*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)])
            continue
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _binds(stmt: ast.AST, wanted: set[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            local = alias.asname or alias.name.split(".")[0]
            if local in wanted:
                found.add(local)
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name) and node.id in wanted:
                    found.add(node.id)
    elif isinstance(stmt, (*FunctionNode, ast.ClassDef)) and stmt.name in wanted:
        found.add(stmt.name)
    return found


def _bound_anywhere(tree: ast.Module, wanted: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not any(isinstance(a, ScopeNode) for a in ancestors(node)):
            found |= _binds(node, wanted)
    return found


def _local_bindings(func: ast.AST, wanted: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.stmt):
            found |= _binds(node, wanted)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            found |= set(node.names) & wanted
    for arg in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]:  # type: ignore[attr-defined]
        if arg.arg in wanted:
            found.add(arg.arg)
    return found


def _in_body(node: ast.AST, func: ast.AST) -> bool:
    """``node`` sits in ``func``'s body (not in its decorators or defaults)."""
    child = node
    for outer in ancestors(node):
        if outer is func:
            return isinstance(child, ast.stmt)
        child = outer
    return False


def refusal(old_text: str, new_text: str, uses: Iterable[str], filename: str = "<fix>") -> str | None:
    """Why the fixed text must not be written, or None when it is safe to write."""
    try:
        old_tree = ast.parse(old_text)
        new_tree = ast.parse(new_text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the compile check reports this
    old_file = FileAnalysis(old_tree, filename, old_text)
    new_file = FileAnalysis(new_tree, filename, new_text)
    before = guarded_grad_calls(old_file)
    after = guarded_grad_calls(new_file)
    newly = after - before
    if newly:
        # name the call that would fail first in a reader's eyes: backward, then anything else
        call = min(newly, key=lambda text: (".backward(" not in text and "autograd.grad(" not in text, text))
        return f"it would run `{call}` with gradients off"
    names = sorted(set(uses))
    if names:
        grown = unbound_uses(new_tree, names) - unbound_uses(old_tree, names)
        if grown:
            return f"its code would use `{next(iter(grown))}` before the file binds it"
    return None


__all__ = ["refusal", "guarded_grad_calls", "unbound_uses", "needs_grad"]

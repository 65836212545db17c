"""A stand-in rule for tests of `memlint verify`: `xs.append(loss)` -> `xs.append(loss.item())`.

Only for the verifier's tests, so they do not depend on which real rules exist yet.
"""

import ast

from memlint.fixes import append_method
from memlint.rule import Fix, Rule


class AppendLossItem(Rule):
    code = "TST900"
    name = "append-loss-item"
    summary = "a loss tensor appended to a list keeps its graph alive"
    fix_availability = "always"
    fix_kinds = {"use .item()": "safe"}

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "append" and len(node.args) == 1):
            return
        arg = node.args[0]
        if isinstance(arg, ast.Name) and arg.id == "loss":
            self.report(node, "append loss.item()", Fix("safe", "use .item()", (append_method(arg, "item"),)))

"""A stand-in rule for tests of `memlint verify`: `xs.append(loss)` -> `xs.append(loss.item())`.

Only for the verifier's tests, so they do not depend on which real rules exist yet.
"""

import libcst as cst

from memlint.rule import Fix, Rule


class AppendLossItem(Rule):
    code = "TST900"
    name = "append-loss-item"
    summary = "a loss tensor appended to a list keeps its graph alive"
    fix_availability = "always"

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "append" and len(node.args) == 1):
            return
        arg = node.args[0].value
        if isinstance(arg, cst.Name) and arg.value == "loss":
            item = cst.Call(func=cst.Attribute(value=arg, attr=cst.Name("item")))
            self.report(node, "append loss.item()", Fix("safe", "use .item()", {arg: item}))

"""MEM011 pinned-prefetch-budget: ``pin_memory=True`` with a prefetch factor above PyTorch's default.

Each DataLoader worker keeps up to ``prefetch_factor`` batches ready, and with ``pin_memory=True``
the pin-memory thread copies every batch it takes into page-locked host memory: up to
``prefetch_factor x num_workers`` batches wait in host RAM, the pinned ones unswappable
(pytorch/pytorch#97432). PyTorch's default is 2 per worker; a larger factor multiplies the budget.

Trigger: a DataLoader call (``super().__init__`` of a DataLoader subclass included), and a
configuration (dataclass field, class attribute, argparse default) that declares a prefetch factor
beside a pin-memory setting that defaults to True.

Query, on the shared data analysis (``memlint/analysis/data.py``), only where the numbers can be read:
``prefetch_factor`` is a literal above ``max-prefetch-factor`` (directly, through a local name, a
conditional, a ``**kwargs`` dict or a parameter default) or a configured value (``args.x``,
``cfg["x"]``, computed from them) whose default is unknown or above the bound; ``pin_memory`` is not
off (True, configured, or passed through ``**kwargs``); ``num_workers`` is not 0. A configured
factor whose large default a pinning configuration declares is reported once, at the declaration.

Fix: none (the right factor depends on batch size and host memory).
"""

from __future__ import annotations

import ast

from memlint.analysis import data, facts
from memlint.rule import Invalid, Option, Rule, Valid


class PinnedPrefetchBudget(Rule):
    code = "MEM011"
    name = "pinned-prefetch-budget"
    summary = "`pin_memory=True` with a `prefetch_factor` above PyTorch's default multiplies pinned host memory"
    fix_availability = "none"
    libraries = frozenset({"torch", "lightning", "pytorch_lightning"})
    # Off by default: no finding in the reviewed real-code corpus, so no precision evidence (rules/MEM011.md).
    default_enabled = False
    options = (
        Option(
            "max-prefetch-factor",
            int,
            facts.DEFAULT_PREFETCH_FACTOR,
            "Report prefetch factors above this many batches per worker (PyTorch's default is 2).",
        ),
    )

    @property
    def bound(self) -> int:
        value = self.settings.get("max-prefetch-factor")
        return facts.DEFAULT_PREFETCH_FACTOR if value is None else int(value)

    def visit_Call(self, node: ast.Call) -> None:
        file = self.file
        if not data.is_loader_call(file, node):
            return
        workers = data.loader_setting(file, node, "num_workers")
        pin = data.loader_setting(file, node, "pin_memory")
        expr, _ = data.loader_argument(file, node, "prefetch_factor")
        if expr is None:
            return
        prefetch = data.setting(file, expr, node)
        over = prefetch.exceeds(self.bound)
        # A setting that is off unless the user opts in (`--pin_memory`, `--workers 8`) still
        # counts beside a large prefetch default: recipes switch those on.
        if any(s.off and not (over and s.kind == data.CONFIGURED) for s in (workers, pin)):
            return
        if not over and not (prefetch.kind == data.CONFIGURED and prefetch.open):
            return
        if over and self._declared_by_pinning_config(expr, node):
            return  # reported where the configuration declares it
        if over:
            top = max(v for v in prefetch.values if type(v) in (int, float))
            factor = f"prefetch_factor={top}" + ("" if isinstance(expr, ast.Constant) else f" (`{_short(ast.unparse(expr))}`)")
        else:
            factor = f"a configured prefetch_factor (`{_short(ast.unparse(expr))}`)"
        batch_expr, _ = data.loader_argument(file, node, "batch_size")
        batch = f" of batch_size={ast.unparse(batch_expr)}" if batch_expr is not None else ""
        workers_text = _spelled(file, node, "num_workers")
        pin_text = _spelled(file, node, "pin_memory")
        self.report(
            node,
            f"{pin_text} with {factor}: each of the {workers_text} workers keeps that "
            f"many batches{batch} ready and the pin-memory thread page-locks them in host RAM; PyTorch's "
            f"default is {facts.DEFAULT_PREFETCH_FACTOR} per worker",
        )

    def visit_Module(self, node: ast.Module) -> None:
        entries = data.config_entries(self.file)
        for entry in entries:
            if not facts.PREFETCH_FACTOR_NAME.search(entry.name) or not data.pinned_group(entries, entry):
                continue
            if type(entry.value) in (int, float) and entry.value > self.bound:  # type: ignore[operator]
                self.report(
                    entry.node,
                    f"`{entry.name}` defaults to {entry.value} beside a pin-memory setting that defaults to True: "
                    f"each DataLoader worker keeps {entry.value} batches ready and the pin-memory thread "
                    f"page-locks them in host RAM; PyTorch's default is {facts.DEFAULT_PREFETCH_FACTOR} per worker",
                )

    def _declared_by_pinning_config(self, expr: ast.AST, at: ast.Call) -> bool:
        """``prefetch_factor=args.x`` where a configuration that pins memory declares ``x`` large."""
        for key in _config_keys(self.file, expr, at):
            if not facts.PREFETCH_FACTOR_NAME.search(key):
                continue  # `--prefetch`: the declaration's report names prefetch_factor fields only
            if any(type(v) in (int, float) and v > self.bound for v in data.config_defaults(self.file, key, pinned_only=True)):
                return True
        return False

    VALID = [
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset):
                return DataLoader(dataset, batch_size=64, num_workers=8, pin_memory=True)
            """,
            why="the default prefetch factor",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset):
                return DataLoader(dataset, batch_size=64, num_workers=8, pin_memory=True, prefetch_factor=2)
            """,
            why="prefetch_factor=2 is PyTorch's default",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset):
                return DataLoader(dataset, batch_size=64, num_workers=8, prefetch_factor=8)
            """,
            why="no pinned memory",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset):
                return DataLoader(dataset, batch_size=64, num_workers=8, pin_memory=False, prefetch_factor=8)
            """,
            why="pin_memory=False",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset, prefetch_factor=None, pin_memory=True):
                return DataLoader(dataset, batch_size=16, num_workers=4, pin_memory=pin_memory, prefetch_factor=prefetch_factor)
            """,
            why="the caller's prefetch factor: no number to read",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            class StreamingDataLoader(DataLoader):
                def __init__(self, dataset, *args, batch_size=1, num_workers=0, prefetch_factor=None, **kwargs):
                    super().__init__(
                        dataset,
                        *args,
                        batch_size=batch_size,
                        num_workers=num_workers,
                        prefetch_factor=(2 if num_workers > 0 else None) if prefetch_factor is None else prefetch_factor,
                        **kwargs,
                    )
            """,
            why="the fixed version defaults to 2 (Lightning-AI/litData#141)",
        ),
        Valid(
            """
            import torch
            from dataclasses import dataclass


            @dataclass
            class LoaderArguments:
                num_workers: int = 4
                dataloader_pin_memory: bool = True
                dataloader_prefetch_factor: int = 2
            """,
            why="the fixed configuration (modelscope/ms-swift PR#7207)",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset):
                return DataLoader(dataset, batch_size=64, num_workers=0, pin_memory=True, prefetch_factor=None)
            """,
            why="no workers",
        ),
        Valid(
            """
            import argparse

            import torch

            parser = argparse.ArgumentParser()
            parser.add_argument("--workers", type=int, default=8)
            parser.add_argument("--prefetch-factor", type=int, default=2)
            args = parser.parse_args()
            loader = torch.utils.data.DataLoader(
                torch.arange(100), batch_size=10, num_workers=args.workers, pin_memory=True,
                prefetch_factor=args.prefetch_factor,
            )
            """,
            why="a configured prefetch factor whose default is PyTorch's",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset):
                return DataLoader(dataset, batch_size=64, num_workers=8, pin_memory=True, prefetch_factor=4)
            """,
            why="within a raised bound",
            options={"max-prefetch-factor": 4},
        ),
        Valid(
            """
            from dataclasses import dataclass


            @dataclass
            class LoaderConfig:
                num_workers: int = 0
                pin_memory: bool = True
                prefetch_factor: int = 8
            """,
            why="a configuration whose workers default to 0",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import argparse

            from torch.utils.data import DataLoader


            def add_loader_args(parser):
                parser.add_argument("--workers", type=int, default=0)
                parser.add_argument("--pin_memory", action="store_true")
                parser.add_argument("--prefetch", type=int, default=64)
                return parser


            def build_loader(args, dataset):
                return DataLoader(
                    dataset,
                    batch_size=None,
                    num_workers=args.workers,
                    pin_memory=args.pin_memory,
                    persistent_workers=True,
                    prefetch_factor=args.prefetch,
                )
            """,
            line=14,
            why="opt-in pinning and workers, a large configured prefetch default that the report at the "
            "declaration would not name (wenet-e2e/wenet#2486)",
        ),
        Invalid(
            """
            import torch


            def get_rest_dataloader(dataset, settings):
                return torch.utils.data.DataLoader(
                    dataset,
                    batch_size=1,
                    num_workers=settings.num_workers,
                    pin_memory=True,
                    persistent_workers=settings.num_workers > 0,
                    prefetch_factor=4 if settings.num_workers > 0 else None,
                )
            """,
            line=5,
            why="a literal 4 with configured workers (RolnickLab/ami-data-companion#138)",
        ),
        Invalid(
            """
            import math

            from torch.utils.data import DataLoader


            def build(dataset, args):
                prefetch_factor = math.ceil(args.prefetch_size / args.read_threads)
                kwargs = {"prefetch_factor": prefetch_factor, "persistent_workers": True}
                return DataLoader(dataset,
                                  batch_size=args.batch_size,
                                  num_workers=args.read_threads,
                                  pin_memory=True,
                                  drop_last=True,
                                  **kwargs)
            """,
            line=9,
            why="a prefetch factor computed from the configuration, through a kwargs dict "
            "(argonne-lcf/dlio_benchmark PR#239)",
        ),
        Invalid(
            {
                "args.py": """
                    import torch
                    from dataclasses import dataclass


                    @dataclass
                    class LoaderArguments:
                        num_workers: int = 4
                        dataloader_pin_memory: bool = True
                        dataloader_persistent_workers: bool = True
                        dataloader_prefetch_factor: int = 10
                """,
                "loader.py": """
                    import torch


                    def build_loader(args, dataset, batch_size):
                        return torch.utils.data.DataLoader(
                            dataset,
                            batch_size=batch_size,
                            num_workers=args.num_workers,
                            pin_memory=args.dataloader_pin_memory,
                            prefetch_factor=args.dataloader_prefetch_factor if args.num_workers > 0 else None,
                            persistent_workers=args.dataloader_persistent_workers,
                        )
                """,
            },
            path="args.py",
            line=10,
            count=1,
            why="a configuration default of 10 beside pinned memory (modelscope/ms-swift PR#7207)",
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader


            class StreamingDataLoader(DataLoader):
                def __init__(self, dataset, *args, batch_size=1, num_workers=0, prefetch_factor=None, **kwargs):
                    super().__init__(
                        dataset,
                        *args,
                        batch_size=batch_size,
                        num_workers=num_workers,
                        prefetch_factor=(10 if num_workers > 0 else None) if prefetch_factor is None else prefetch_factor,
                        **kwargs,
                    )
            """,
            line=6,
            why="a subclass defaults to 10 and passes the caller's pin_memory on (Lightning-AI/litData#141)",
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader


            def make_loader(dataset):
                return DataLoader(dataset, batch_size=256, shuffle=True, num_workers=16, pin_memory=True, prefetch_factor=8)
            """,
            line=5,
            why="all literals",
        ),
        Invalid(
            """
            import torch


            def loaders(train_set, cfg):
                common = dict(num_workers=cfg.workers, pin_memory=True, prefetch_factor=6, persistent_workers=True)
                return torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, **common)
            """,
            line=6,
            why="the settings in a dict(...) call",
        ),
        Invalid(
            """
            import argparse

            from torch.utils.data import DataLoader

            parser = argparse.ArgumentParser()
            parser.add_argument("--workers", type=int, default=8)
            parser.add_argument("--prefetch", type=int, default=16)
            args = parser.parse_args()


            def loader(dataset):
                return DataLoader(dataset, batch_size=32, num_workers=args.workers, pin_memory=True, prefetch_factor=args.prefetch)
            """,
            line=12,
            why="a configured prefetch factor whose argparse default is 16",
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset, workers, prefetch=6):
                return DataLoader(dataset, batch_size=32, num_workers=workers, pin_memory=True, prefetch_factor=prefetch)
            """,
            line=5,
            why="a parameter that defaults to 6",
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset, cfg):
                return DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                  pin_memory=cfg.pin_memory, prefetch_factor=cfg.prefetch_factor)
            """,
            line=5,
            why="configured values with no default in sight",
        ),
        Invalid(
            """
            import argparse

            import torch

            parser = argparse.ArgumentParser()
            parser.add_argument("--prefetch_factor", type=int, default=12)
            parser.add_argument("--pin_memory", action="store_true")
            parser.add_argument("--workers", type=int, default=4)
            args = parser.parse_args()
            loader = torch.utils.data.DataLoader(
                torch.arange(1000), batch_size=10, num_workers=args.workers,
                pin_memory=True, prefetch_factor=args.prefetch_factor,
            )
            """,
            line=10,
            why="the parser's pin-memory flag defaults to False, so the call site carries the finding",
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader


            def loader(dataset):
                return DataLoader(dataset, batch_size=64, num_workers=8, pin_memory=True, prefetch_factor=4)
            """,
            line=5,
            why="the default bound: above 2",
        ),
    ]


def _config_keys(file, expr: ast.AST, at: ast.AST) -> list[str]:  # type: ignore[no-untyped-def]
    """The configuration fields a prefetch expression reads (through conditionals and local names)."""
    keys: list[str] = []
    stack = [expr]
    seen = 0
    while stack and seen < 20:
        seen += 1
        current = stack.pop()
        if isinstance(current, ast.IfExp):
            stack.extend((current.body, current.orelse))
        elif isinstance(current, ast.Attribute) and data.is_config_reference(current):
            keys.append(current.attr)
        elif isinstance(current, ast.Name):
            scope = file.enclosing_function(at) or file.tree
            stack.extend(v for _, v in data.bindings(scope, current.id) if v is not None)
    return keys


def _spelled(file, call: ast.Call, name: str) -> str:  # type: ignore[no-untyped-def]
    expr, hidden = data.loader_argument(file, call, name)
    if expr is None:
        return f"{name} from **kwargs" if hidden else name
    return f"{name}={_short(ast.unparse(expr))}"


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."

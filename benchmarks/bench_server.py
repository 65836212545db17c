"""How long does `memlint server` take to re-lint a 2,000-line file after a keystroke? Prints ratios.

    python benchmarks/bench_server.py                # 30 keystrokes on a 2,000-line file
    python benchmarks/bench_server.py --keystrokes 60 --lines 1000

A real LSP session over stdio: the script starts `python -m memlint server`, opens the file, then
types one character at a time into a function body in the middle of the file, each keystroke a
`textDocument/didChange` (the whole text, as the server syncs it), and waits for the
`publishDiagnostics` of that version before the next keystroke.

  keystroke -> diagnostics    from sending didChange to receiving its diagnostics
  re-lint                     the same, less the server's 300 ms typing pause (the debounce)
  engine alone                `lint_text` of the same texts in this process: the baseline
  hover during a long lint    a hover answered while another document (8x the size) is linted

The file: the PyTorch fixtures' bad.py files (findings to report; `--keras` adds the Keras ones,
which switch the MEM1xx rules on), then top-level statements of torch's lr_scheduler.py (real
library code), until the line count is reached.
"""

from __future__ import annotations

import argparse
import asyncio
import ast
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_file(lines: int, keras: bool = False) -> str:
    """Fixture code with findings, then real torch code, cut at a top-level statement."""
    parts = []
    for bad in sorted((REPO / "fixtures").glob("MEM*/bad.py" if keras else "MEM0*/bad.py")):
        text = bad.read_text(encoding="utf-8")
        parts.append("\n".join(line for line in text.splitlines() if not line.startswith("from __future__")))
    head = "\n\n".join(parts) + "\n\n"
    import torch.optim.lr_scheduler as scheduler
    import torch.optim.optimizer as optimizer

    body: list[str] = []
    budget = lines - head.count("\n")
    for module in (scheduler, optimizer):
        library = Path(module.__file__).read_text(encoding="utf-8")
        source_lines = library.splitlines()
        for statement in ast.parse(library).body:
            if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
                continue
            start = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])]) - 1
            chunk = source_lines[start : statement.end_lineno]
            if len(body) + len(chunk) + 2 <= budget:  # statements that do not fit are left out
                body.extend(chunk + ["", ""])
    text = head + "\n".join(body) + "\n"
    ast.parse(text)
    return text


def keystrokes(text: str, count: int) -> list[str]:
    """The texts after each keystroke: a comment typed at the end of a one-line statement in a
    function body near the middle of the file (every intermediate text is valid Python)."""
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    candidates = [
        node.lineno
        for function in ast.walk(ast.parse(text))
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in function.body
        if node.lineno == node.end_lineno and node.lineno >= middle and not lines[node.lineno - 1].rstrip().endswith("\\")
    ]
    if not candidates:
        raise SystemExit("no function body to type into")
    row = min(candidates) - 1
    body = lines[row].rstrip("\n")
    typed = "  # tuning the learning rate by hand, one keystroke at a time " * (count // 40 + 1)
    texts = []
    for index in range(1, count + 1):
        lines[row] = body + typed[:index] + "\n"
        texts.append("".join(lines))
    return texts


async def session(text: str, typed: list[str], big: str) -> dict[str, list[float]]:
    from lsprotocol import types as lsp
    from pygls.lsp.client import LanguageClient

    from memlint.server.lsp import DEBOUNCE_S

    client = LanguageClient("bench", "1")
    arrivals: dict[tuple[str, int | None], float] = {}

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: lsp.PublishDiagnosticsParams) -> None:
        arrivals[(params.uri, params.version)] = time.perf_counter()

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    await client.start_io(sys.executable, "-m", "memlint", "server", env=env)
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=REPO.as_uri()))
    client.initialized(lsp.InitializedParams())

    async def wait_for(key: tuple[str, int | None]) -> float:
        while key not in arrivals:
            await asyncio.sleep(0.001)
        return arrivals[key]

    uri = (REPO / "bench_server_keystrokes.py").as_uri()
    sent = time.perf_counter()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "python", 1, text)))
    times: dict[str, list[float]] = {"open": [await wait_for((uri, 1)) - sent], "keystroke": [], "relint": []}

    for version, current in enumerate(typed, start=2):
        sent = time.perf_counter()
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(version, uri), [lsp.TextDocumentContentChangeWholeDocument(current)]
            )
        )
        elapsed = await wait_for((uri, version)) - sent
        times["keystroke"].append(elapsed)
        times["relint"].append(elapsed - DEBOUNCE_S)

    # Responsiveness: hover on the small file while a much larger one is being linted.
    big_uri = (REPO / "bench_server_big.py").as_uri()
    times["hover during a long lint"] = []
    times["long lint"] = []
    for round_ in range(3):
        version = 10 + round_
        sent = time.perf_counter()
        client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(big_uri, "python", version, big + "\n" * round_))
        )
        await asyncio.sleep(0.05)  # the big lint has started
        hover_sent = time.perf_counter()
        await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(0, 0)))
        hovered = time.perf_counter()
        done = await wait_for((big_uri, version))
        if hovered > done:
            print("note: the hover came back after the long lint finished", file=sys.stderr)
        times["hover during a long lint"].append(hovered - hover_sent)
        times["long lint"].append(done - sent)
        client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(big_uri)))

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def engine_alone(typed: list[str]) -> list[float]:
    from memlint.config import Settings
    from memlint.engine import lint_text

    rules = Settings().rules_for(Path("bench.py"))
    times = []
    for text in typed:
        start = time.perf_counter()
        lint_text(text, "bench.py", rules, {})
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--keystrokes", type=int, default=30)
    parser.add_argument("--keras", action="store_true", help="also the Keras fixtures (MEM1xx rules run)")
    args = parser.parse_args()
    text = build_file(args.lines, args.keras)
    big = text * 8  # repeated definitions are still valid Python
    typed = keystrokes(text, args.keystrokes)
    print(f"file: {text.count(chr(10))} lines, {len(text) / 1000:.0f} kB; long-lint file: {big.count(chr(10))} lines")

    baseline = engine_alone(typed)
    times = asyncio.run(session(text, typed, big))
    base = statistics.median(baseline)
    print(f"{'measure':28} {'median':>9} {'p90':>9}  ratio to the engine alone")
    rows = [("engine alone (lint_text)", baseline)] + [(name, values) for name, values in times.items()]
    for name, values in rows:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        median = statistics.median(values)
        print(f"{name:28} {median * 1000:7.0f} ms {p90 * 1000:7.0f} ms  {median / base:5.2f}")
    relint = statistics.median(times["relint"])
    verdict = "meets" if relint < 0.100 else "misses"
    print(f"re-lint median {relint * 1000:.0f} ms {verdict} the 100 ms target")


if __name__ == "__main__":
    main()

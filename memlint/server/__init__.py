"""``memlint server``: a Language Server Protocol server over stdio (needs ``memlint-ml[server]``).

``documents`` holds what the server knows without any LSP library (snapshots, the one call into
the engine, positions and edits); ``lsp`` wires it to pygls.
"""

from __future__ import annotations

import argparse
import logging
import sys


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    server = sub.add_parser("server", help="run the language server (LSP over stdio) for editors")
    server.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="what the server logs to stderr (default: warning)",
    )


def main(args: argparse.Namespace) -> int:
    try:
        from memlint.server.lsp import build_server
    except ImportError as exc:
        sys.stderr.write(f"memlint: error: the server needs pygls ({exc.name}): pip install 'memlint-ml[server]'\n")
        return 2
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), format="memlint server: %(levelname)s: %(message)s")
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol stream
    build_server().start_io(stdin, stdout)
    return 0

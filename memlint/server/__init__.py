"""``memlint server``: a Language Server Protocol server over stdio (needs ``memlint-ml[server]``).

``documents`` holds what the server knows without any LSP library (snapshots, the one call into
the engine, positions and edits); ``lsp`` wires it to pygls.
"""

from __future__ import annotations

import argparse
import logging
import os
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
    # The protocol gets its own copy of stdout; file descriptor 1 becomes stderr, so that nothing
    # printed by this process, native code or the lint processes can corrupt the stream.
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    build_server().start_io(sys.stdin.buffer, protocol_out)
    return 0

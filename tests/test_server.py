"""`memlint server` driven by a real LSP client (pytest-lsp's, built on pygls) over stdio.

Each test starts `python -m memlint server` as a subprocess, as an editor would, and compares
what the server says and edits with what `memlint check` reports and fixes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import typing
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

pytest.importorskip("pygls")
pytest.importorskip("pytest_lsp")

from lsprotocol import types as lsp  # noqa: E402
from pytest_lsp import client_capabilities  # noqa: E402
from pytest_lsp.client import LanguageClient  # noqa: E402

from memlint.config import tomllib  # noqa: E402  (tomli before Python 3.11)

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 60.0  # generous: the machine running the tests may be busy

EVAL_LOOP = textwrap.dedent(
    """\
    import torch


    def evaluate(model, loader):
        model.eval()
        scores = []
        for batch in loader:
            scores.append(model(batch))
        return torch.cat(scores).mean().item()
    """
)

# The fix wraps the loop in torch.no_grad(), but the function returns a tensor a caller might
# differentiate: unsafe.
UNSAFE_ONLY = textwrap.dedent(
    """\
    import torch


    def predict_all(net, batches, device):
        net.eval()
        predictions = []
        for images in batches:
            logits = net(images.to(device))
            predictions.append(logits.softmax(dim=-1))
        return torch.cat(predictions)
    """
)


def server_env(pythonpath: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(pythonpath) if pythonpath else None, str(REPO), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


def memlint_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memlint", *args], cwd=cwd, env=server_env(), capture_output=True, text=True, timeout=300
    )


def make_client() -> Any:
    """pytest-lsp's client with the handlers an editor has (diagnostics kept with versions).

    lsprotocol 2025.0 has no structure hook for the type of ``NotebookDocumentFilterWithCells.notebook``;
    without one the client could not read our capabilities.
    """
    client = LanguageClient()
    converter = client.protocol._converter
    notebook_type = typing.get_type_hints(lsp.NotebookDocumentFilterWithCells)["notebook"]

    def structure_notebook(value: Any, _: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return converter.structure(value, lsp.NotebookDocumentFilterNotebookType)

    converter.register_structure_hook(notebook_type, structure_notebook)
    client.published = []
    client.registrations = []

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def publish(params: lsp.PublishDiagnosticsParams) -> None:
        client.published.append(params)

    @client.feature(lsp.CLIENT_REGISTER_CAPABILITY)
    def register(params: lsp.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)

    client.configuration = {}  # what the client answers to workspace/configuration, by section

    @client.feature(lsp.WORKSPACE_CONFIGURATION)
    def configuration(params: lsp.ConfigurationParams) -> list[Any]:
        return [client.configuration.get(item.section) for item in params.items]

    @client.feature(lsp.WINDOW_LOG_MESSAGE)
    def log_message(params: lsp.LogMessageParams) -> None:
        client.log_messages.append(params)

    @client.feature(lsp.WINDOW_SHOW_MESSAGE)
    def show_message(params: lsp.ShowMessageParams) -> None:
        client.messages.append(params)

    return client


def vscode_capabilities(notebooks: bool = True) -> lsp.ClientCapabilities:
    capabilities = client_capabilities("visual_studio_code")
    if notebooks:  # VS Code has synced notebooks since LSP 3.17; the recorded 1.65 capabilities predate it
        capabilities.notebook_document = lsp.NotebookDocumentClientCapabilities(
            lsp.NotebookDocumentSyncClientCapabilities(dynamic_registration=False)
        )
    return capabilities


class Session:
    """A started server and the client talking to it, with what the server sent so far."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.published: list[lsp.PublishDiagnosticsParams] = client.published
        self.registrations: list[lsp.Registration] = client.registrations

    async def until(self, condition: Callable[[], Any], what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while True:
            value = condition()
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            await asyncio.sleep(0.02)

    def latest(self, uri: str) -> lsp.PublishDiagnosticsParams | None:
        for params in reversed(self.published):
            if params.uri == uri:
                return params
        return None

    async def diagnostics(self, uri: str, version: int | None = None, after: int = 0) -> list[lsp.Diagnostic]:
        """Diagnostics for ``uri`` published after the first ``after`` publications (for ``version``)."""

        def found() -> lsp.PublishDiagnosticsParams | None:
            for params in reversed(self.published[after:]):
                if params.uri == uri and (version is None or params.version == version):
                    return params
            return None

        params = await self.until(found, f"diagnostics for {uri} version {version}")
        return list(params.diagnostics)

    def open(self, uri: str, text: str, version: int = 1, language: str = "python") -> int:
        mark = len(self.published)
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, language, version, text)))
        return mark

    def change(self, uri: str, text: str, version: int) -> int:
        mark = len(self.published)
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(version, uri), [lsp.TextDocumentContentChangeWholeDocument(text)]
            )
        )
        return mark

    def change_cell(self, notebook_uri: str, version: int, cell_uri: str, text: str) -> int:
        mark = len(self.published)
        content = lsp.NotebookDocumentCellContentChanges(
            lsp.VersionedTextDocumentIdentifier(version, cell_uri), [lsp.TextDocumentContentChangeWholeDocument(text)]
        )
        self.client.notebook_document_did_change(
            lsp.DidChangeNotebookDocumentParams(
                lsp.VersionedNotebookDocumentIdentifier(version, notebook_uri),
                lsp.NotebookDocumentChangeEvent(cells=lsp.NotebookDocumentCellChanges(text_content=[content])),
            )
        )
        return mark

    async def code_actions(self, uri: str, diagnostic: lsp.Diagnostic, only: list[str] | None = None) -> list[lsp.CodeAction]:
        params = lsp.CodeActionParams(
            lsp.TextDocumentIdentifier(uri), diagnostic.range, lsp.CodeActionContext([diagnostic], only=only)
        )
        return list(await self.client.text_document_code_action_async(params) or [])


@contextlib.asynccontextmanager
async def session(
    root: Path,
    initialization_options: Any = None,
    capabilities: lsp.ClientCapabilities | None = None,
    pythonpath: Path | None = None,
) -> AsyncIterator[Session]:
    client = make_client()
    state = Session(client)
    await client.start_io(sys.executable, "-m", "memlint", "server", env=server_env(pythonpath), cwd=str(root))
    try:
        await client.initialize_session(
            lsp.InitializeParams(
                capabilities=capabilities or vscode_capabilities(),
                root_uri=root.as_uri(),
                workspace_folders=[lsp.WorkspaceFolder(root.as_uri(), root.name)],
                initialization_options=initialization_options,
            )
        )
        yield state
        await client.shutdown_session()
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()  # a failed test: do not wait for a server that was not told to exit
        await client.stop()


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, timeout=WAIT_S * 3))


# ---------------------------------------------------------------------------- applying edits as a client does
def _utf16_offset(text: str, line: int, character: int) -> int:
    """An LSP position (UTF-16) as an index into ``text``; lines end at \\r\\n, \\r or \\n."""
    index = 0
    for _ in range(line):
        breaks = [i for i in (text.find("\r", index), text.find("\n", index)) if i != -1]
        if not breaks:
            return len(text)
        at = min(breaks)
        index = at + (2 if text.startswith("\r\n", at) else 1)
    units = 0
    while index < len(text) and units < character and text[index] not in "\r\n":
        units += 2 if ord(text[index]) > 0xFFFF else 1
        index += 1
    return index


def apply_text_edits(text: str, edits: list[lsp.TextEdit]) -> str:
    spans = [
        (_utf16_offset(text, e.range.start.line, e.range.start.character), _utf16_offset(text, e.range.end.line, e.range.end.character), e.new_text)
        for e in edits
    ]
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def apply_workspace_edit(texts: dict[str, str], edit: lsp.WorkspaceEdit, versions: dict[str, int] | None = None) -> dict[str, str]:
    texts = dict(texts)
    if edit.document_changes is not None:
        for change in edit.document_changes:
            assert isinstance(change, lsp.TextDocumentEdit)
            uri = change.text_document.uri
            if versions is not None and change.text_document.version is not None:
                assert change.text_document.version == versions[uri], "edit for another version of the document"
            texts[uri] = apply_text_edits(texts[uri], list(change.edits))
    for uri, edits in (edit.changes or {}).items():
        texts[uri] = apply_text_edits(texts[uri], list(edits))
    return texts


def utf16_column(line: str, code_points: int) -> int:
    return len(line[:code_points].encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------- tests
def test_initialize_advertises_sync_actions_hover_and_notebooks(tmp_path: Path) -> None:
    async def scenario() -> None:
        client = make_client()
        await client.start_io(sys.executable, "-m", "memlint", "server", env=server_env(), cwd=str(tmp_path))
        try:
            result = await client.initialize_session(lsp.InitializeParams(capabilities=vscode_capabilities(), root_uri=tmp_path.as_uri()))
            caps = result.capabilities
            assert result.server_info is not None and result.server_info.name == "memlint"
            assert caps.text_document_sync.change == lsp.TextDocumentSyncKind.Full
            assert caps.text_document_sync.save
            assert set(caps.code_action_provider.code_action_kinds) == {"quickfix", "source.fixAll.memlint"}
            assert caps.code_action_provider.resolve_provider
            assert caps.hover_provider
            assert caps.notebook_document_sync.notebook_selector[0].cells[0].language == "python"
            assert caps.position_encoding == lsp.PositionEncodingKind.Utf16
            await client.shutdown_session()
        finally:
            await client.stop()

    run(scenario())


def test_open_publishes_what_check_reports_with_utf16_columns_and_crlf(tmp_path: Path) -> None:
    # A non-BMP character before the finding on its line: code points and UTF-16 units differ.
    text = EVAL_LOOP.replace("    for batch in loader:\n        scores.append(", '    for batch in loader:\n        print("é 🚀 ✓"); scores.append(')
    text = text.replace("\n", "\r\n")
    path = tmp_path / "train.py"
    path.write_bytes(text.encode("utf-8"))
    cli = json.loads(memlint_cli("check", "--output-format", "json", "--no-cache", str(path), cwd=tmp_path).stdout)
    assert [f["code"] for f in cli] == ["MEM001"]

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(path.as_uri(), text)
            diagnostics = await s.diagnostics(path.as_uri(), version=1)
            assert len(diagnostics) == 1
            diagnostic = diagnostics[0]
            row, column = cli[0]["location"]["row"], cli[0]["location"]["column"]
            line = text.split("\r\n")[row - 1]
            assert diagnostic.range.start == lsp.Position(row - 1, utf16_column(line, column - 1))
            assert line[column - 1 :].startswith("model(batch)")
            end = cli[0]["end_location"]
            assert diagnostic.range.end == lsp.Position(end["row"] - 1, utf16_column(line, end["column"] - 1))
            assert diagnostic.range.end.character - diagnostic.range.start.character == len("model(batch)")
            assert diagnostic.code == "MEM001"
            assert diagnostic.message == cli[0]["message"]
            assert diagnostic.severity == lsp.DiagnosticSeverity.Warning
            assert diagnostic.source == "memlint"
            assert diagnostic.code_description.href == cli[0]["url"]

    run(scenario())


def test_changes_are_debounced_superseded_versions_dropped_and_close_clears(tmp_path: Path) -> None:
    uri = (tmp_path / "train.py").as_uri()
    guarded = EVAL_LOOP.replace("    for batch in loader:\n        scores", "    with torch.no_grad():\n        for batch in loader:\n            scores")

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(uri, EVAL_LOOP)
            assert len(await s.diagnostics(uri, version=1)) == 1
            mark = len(s.published)
            # A burst of keystrokes: only the last version is linted and published.
            for version in range(2, 7):
                s.change(uri, EVAL_LOOP + "\n" * version, version)
            assert len(await s.diagnostics(uri, version=6, after=mark)) == 1
            s.change(uri, guarded, 7)
            assert await s.diagnostics(uri, version=7, after=mark) == []
            # A request answered after the last publication: nothing else was pending.
            await s.client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(0, 0)))
            assert [p.version for p in s.published[mark:] if p.uri == uri] == [6, 7]

            # Save lints at once; close clears the document's diagnostics.
            s.change(uri, EVAL_LOOP, 8)
            s.client.text_document_did_save(lsp.DidSaveTextDocumentParams(lsp.TextDocumentIdentifier(uri)))
            assert len(await s.diagnostics(uri, version=8, after=mark)) == 1
            mark = len(s.published)
            s.client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(uri)))
            assert await s.diagnostics(uri, after=mark) == []

    run(scenario())


def test_quick_fix_and_fix_all_give_what_check_fix_writes(tmp_path: Path) -> None:
    source = (REPO / "fixtures" / "MEM001" / "bad.py").read_text(encoding="utf-8")
    path = tmp_path / "bad.py"
    path.write_text(source, encoding="utf-8")
    fixed_by_cli = tmp_path / "fixed_by_cli.py"
    fixed_by_cli.write_text(source, encoding="utf-8")
    assert memlint_cli("check", "--fix", "--no-cache", str(fixed_by_cli), cwd=tmp_path).returncode == 0
    expected = fixed_by_cli.read_text(encoding="utf-8")
    assert expected != source
    uri = path.as_uri()

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(uri, source)
            (diagnostic,) = await s.diagnostics(uri, version=1)
            actions = await s.code_actions(uri, diagnostic)
            titles = [a.title for a in actions]
            assert titles[0].startswith("Fix MEM001: ") and "(unsafe)" not in titles[0]
            assert "Disable MEM001 for this line" in titles
            assert "Fix all memlint issues" in titles
            quick_fix = actions[0]
            assert quick_fix.kind == lsp.CodeActionKind.QuickFix and quick_fix.is_preferred
            assert quick_fix.diagnostics[0].code == "MEM001"
            after_fix = apply_workspace_edit({uri: source}, quick_fix.edit, {uri: 1})[uri]
            assert after_fix == expected
            compile(after_fix, "bad.py", "exec")

            # Fix all arrives without its edit and is resolved on request, as VS Code does.
            fix_all = next(a for a in actions if a.kind == "source.fixAll.memlint")
            assert fix_all.edit is None
            resolved = await s.client.code_action_resolve_async(fix_all)
            assert apply_workspace_edit({uri: source}, resolved.edit)[uri] == expected
            # Asked for by kind (format on save), it comes with its edit.
            on_save = await s.code_actions(uri, diagnostic, only=["source.fixAll"])
            assert [a.kind for a in on_save] == ["source.fixAll.memlint"]
            assert apply_workspace_edit({uri: source}, on_save[0].edit)[uri] == expected

            # After the edit the document is clean, and no action is offered any more.
            s.change(uri, after_fix, 2)
            assert await s.diagnostics(uri, version=2) == []
            whole = lsp.Diagnostic(lsp.Range(lsp.Position(0, 0), lsp.Position(40, 0)), "")
            assert await s.code_actions(uri, whole) == []

    run(scenario())


def test_form_feeds_keep_lines_where_the_editor_has_them(tmp_path: Path) -> None:
    # A form feed is not a line break for LSP or Python (str.splitlines thinks otherwise).
    source = (REPO / "fixtures" / "MEM001" / "bad.py").read_text(encoding="utf-8")
    text = source.replace("\n\ndef evaluate", "\n\x0c\ndef evaluate").replace("    model.eval()", "    model.eval()  # \x0c")
    path = tmp_path / "paged.py"
    path.write_text(text, encoding="utf-8")
    cli = json.loads(memlint_cli("check", "--output-format", "json", "--no-cache", str(path), cwd=tmp_path).stdout)
    memlint_cli("check", "--fix", "--no-cache", str(path), cwd=tmp_path)
    expected = path.read_text(encoding="utf-8")
    assert expected != text and "\x0c" in expected
    uri = path.as_uri()

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(uri, text)
            (diagnostic,) = await s.diagnostics(uri, version=1)
            row = cli[0]["location"]["row"]
            assert diagnostic.range.start.line == row - 1
            assert text.split("\n")[row - 1][diagnostic.range.start.character :].startswith("model(batch)")
            fix = (await s.code_actions(uri, diagnostic))[0]
            assert apply_workspace_edit({uri: text}, fix.edit)[uri] == expected

    run(scenario())


def test_unsafe_fixes_are_offered_only_when_the_setting_allows(tmp_path: Path) -> None:
    path = tmp_path / "trainer.py"
    path.write_text(UNSAFE_ONLY, encoding="utf-8")
    cli = json.loads(memlint_cli("check", "--output-format", "json", "--no-cache", str(path), cwd=tmp_path).stdout)
    assert [(f["code"], f["fix"]["applicability"]) for f in cli] == [("MEM001", "unsafe")]
    memlint_cli("check", "--fix", "--unsafe-fixes", "--no-cache", str(path), cwd=tmp_path)
    expected = path.read_text(encoding="utf-8")
    uri = (tmp_path / "open.py").as_uri()

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(uri, UNSAFE_ONLY)
            (diagnostic,) = await s.diagnostics(uri, version=1)
            titles = [a.title for a in await s.code_actions(uri, diagnostic)]
            assert titles == ["Disable MEM001 for this line"]

            mark = len(s.published)
            s.client.workspace_did_change_configuration(
                lsp.DidChangeConfigurationParams(settings={"memlint": {"unsafeFixes": True}})
            )
            await s.diagnostics(uri, after=mark)  # the settings change re-lints open documents
            actions = await s.code_actions(uri, diagnostic)
            unsafe = [a for a in actions if a.title.startswith("Fix MEM001")]
            assert len(unsafe) == 1 and unsafe[0].title.endswith("(unsafe)") and not unsafe[0].is_preferred
            assert apply_workspace_edit({uri: UNSAFE_ONLY}, unsafe[0].edit)[uri] == expected
            fix_all = next(a for a in actions if a.kind == "source.fixAll.memlint")
            resolved = await s.client.code_action_resolve_async(fix_all)
            assert apply_workspace_edit({uri: UNSAFE_ONLY}, resolved.edit)[uri] == expected

    run(scenario())

    async def from_initialization_options() -> None:
        async with session(tmp_path, initialization_options={"unsafeFixes": True}) as s:
            s.open(uri, UNSAFE_ONLY)
            (diagnostic,) = await s.diagnostics(uri, version=1)
            assert any(a.title.endswith("(unsafe)") for a in await s.code_actions(uri, diagnostic))

    run(from_initialization_options())


def test_disable_for_this_line_adds_noqa_and_silences_the_finding(tmp_path: Path) -> None:
    text = EVAL_LOOP.replace("scores.append(model(batch))", "scores.append(model(batch))  # noqa: MEM002")
    uri = (tmp_path / "train.py").as_uri()

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(uri, text)
            (diagnostic,) = await s.diagnostics(uri, version=1)
            action = next(a for a in await s.code_actions(uri, diagnostic) if a.title == "Disable MEM001 for this line")
            new_text = apply_workspace_edit({uri: text}, action.edit)[uri]
            assert new_text == text.replace("# noqa: MEM002", "# noqa: MEM002, MEM001")
            s.change(uri, new_text, 2)
            assert await s.diagnostics(uri, version=2) == []

    run(scenario())


def test_hover_on_a_finding_shows_the_rule_and_its_measured_effect(tmp_path: Path) -> None:
    uri = (tmp_path / "train.py").as_uri()

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(uri, EVAL_LOOP)
            (diagnostic,) = await s.diagnostics(uri, version=1)
            hover = await s.client.text_document_hover_async(
                lsp.HoverParams(lsp.TextDocumentIdentifier(uri), diagnostic.range.start)
            )
            value = hover.contents.value
            assert hover.contents.kind == lsp.MarkupKind.Markdown
            assert value.startswith("**MEM001** (eval-without-no-grad)")
            for section in ("### What it does", "### Why is this bad?", "### Measured effect"):
                assert section in value
            measured = value.split("### Measured effect", 1)[1]
            assert "MiB" in measured or "MB" in measured
            assert hover.range == diagnostic.range
            nothing = await s.client.text_document_hover_async(
                lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(0, 0))
            )
            assert nothing is None

    run(scenario())


def _notebook_cells() -> list[tuple[str, str]]:
    return [
        ("code", "!pip install torch\nimport torch\nfrom torch import nn\nmodel = nn.Linear(4, 2)\n"),
        ("markdown", "# Evaluation\nThe loop below runs the model."),
        ("code", "%time x = 1\nmodel.eval()\nouts = []\nfor batch in [torch.randn(3, 4)]:\n    outs.append(model(batch))\n"),
        ("code", "print(len(outs))"),
    ]


def test_notebook_cells_are_checked_as_one_module_like_check(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    cells = _notebook_cells()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(text) if kind == "code" else nbformat.v4.new_markdown_cell(text) for kind, text in cells
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path = tmp_path / "eval.ipynb"
    path.write_text(nbformat.writes(notebook), encoding="utf-8")
    cli = json.loads(memlint_cli("check", "--output-format", "json", "--no-cache", str(path), cwd=tmp_path).stdout)
    assert [(f["code"], f["cell"]) for f in cli] == [("MEM001", 3)]
    assert memlint_cli("check", "--fix", "--no-cache", str(path), cwd=tmp_path).returncode == 0
    fixed_cells = [c.source for c in nbformat.read(str(path), as_version=4).cells]

    uri = path.as_uri()
    cell_uris = [f"vscode-notebook-cell:{path}#cell{i}" for i in range(len(cells))]
    texts = {cell_uri: text for cell_uri, (_, text) in zip(cell_uris, cells)}

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.client.notebook_document_did_open(
                lsp.DidOpenNotebookDocumentParams(
                    lsp.NotebookDocument(
                        uri,
                        "jupyter-notebook",
                        1,
                        [
                            lsp.NotebookCell(lsp.NotebookCellKind.Code if kind == "code" else lsp.NotebookCellKind.Markup, cell_uri)
                            for cell_uri, (kind, _) in zip(cell_uris, cells)
                        ],
                    ),
                    [
                        lsp.TextDocumentItem(cell_uri, "python" if kind == "code" else "markdown", 1, text)
                        for cell_uri, (kind, text) in zip(cell_uris, cells)
                    ],
                )
            )
            (diagnostic,) = await s.diagnostics(cell_uris[2])
            assert await s.diagnostics(cell_uris[0]) == []
            assert diagnostic.range.start == lsp.Position(cli[0]["location"]["row"] - 1, cli[0]["location"]["column"] - 1)
            assert diagnostic.code == "MEM001"

            # The quick fix edits the cells as `check --fix` does (magics kept).
            action = next(a for a in await s.code_actions(cell_uris[2], diagnostic) if a.title.startswith("Fix MEM001"))
            after = apply_workspace_edit(texts, action.edit)
            assert [after[u] for u in cell_uris] == fixed_cells

            # Editing a cell re-checks the notebook; the fixed cell is clean.
            mark = s.change_cell(uri, 2, cell_uris[2], after[cell_uris[2]])
            assert await s.diagnostics(cell_uris[2], after=mark) == []

            # A cell that does not parse: one error diagnostic, in that cell, at the error.
            mark = s.change_cell(uri, 3, cell_uris[3], "print(len(outs)\n")
            (error,) = await s.diagnostics(cell_uris[3], after=mark)
            assert error.severity == lsp.DiagnosticSeverity.Error and error.range.start.line == 0

            mark = len(s.published)
            s.client.notebook_document_did_close(
                lsp.DidCloseNotebookDocumentParams(
                    lsp.NotebookDocumentIdentifier(uri), [lsp.TextDocumentIdentifier(u) for u in cell_uris]
                )
            )
            assert await s.diagnostics(cell_uris[3], after=mark) == []

    run(scenario())


def test_configuration_from_the_editor_and_from_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pkg" / "train.py"
    path.parent.mkdir()
    uri = path.as_uri()
    text = EVAL_LOOP

    async def scenario() -> None:
        async with session(tmp_path, initialization_options={"memlint": {"ignore": ["MEM001"]}}) as s:
            s.open(uri, text)
            assert await s.diagnostics(uri, version=1) == []

            # Other tools' settings leave the initialization options in force.
            s.client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings={"python": {}}))
            mark = s.change(uri, text + "\n", 2)
            assert await s.diagnostics(uri, version=2, after=mark) == []

            # A pull-model change: no settings pushed, the server asks for the memlint section.
            s.client.configuration["memlint"] = {"ignore": []}
            mark = len(s.published)
            s.client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
            assert len(await s.diagnostics(uri, after=mark)) == 1

            # A bad setting is reported and the previous settings stay (MEM8: no rule; MEM9 selects MEM900).
            s.client.workspace_did_change_configuration(
                lsp.DidChangeConfigurationParams(settings={"memlint": {"select": ["MEM8"]}})
            )
            message = await s.until(lambda: [m for m in s.client.messages if "MEM8" in m.message], "an error message")
            assert message[0].type == lsp.MessageType.Error
            assert "unknown rule selector 'MEM8'" in message[0].message

            # The server watches configuration files; a change re-lints the open documents.
            assert {w["globPattern"] for r in s.registrations for w in r.register_options["watchers"]} == {
                "**/pyproject.toml",
                "**/memlint.toml",
            }
            pyproject = tmp_path / "pyproject.toml"
            pyproject.write_text('[tool.memlint]\nignore = ["MEM001"]\n', encoding="utf-8")
            mark = len(s.published)
            s.client.workspace_did_change_watched_files(
                lsp.DidChangeWatchedFilesParams([lsp.FileEvent(pyproject.as_uri(), lsp.FileChangeType.Created)])
            )
            assert await s.diagnostics(uri, after=mark) == []

            # Without a notification (editors that do not watch files) the next lint sees the change.
            pyproject.write_text('[tool.memlint]\nselect = ["MEM001"]\n# changed\n', encoding="utf-8")
            mark = s.change(uri, text, 3)
            assert len(await s.diagnostics(uri, version=3, after=mark)) == 1

            # A broken pyproject.toml: one error message, no findings, and the server goes on.
            pyproject.write_text("[tool.memlint\n", encoding="utf-8")
            mark = s.change(uri, text + "\n", 4)
            assert await s.diagnostics(uri, version=4, after=mark) == []
            await s.until(lambda: [m for m in s.client.messages if "invalid TOML" in m.message], "a TOML error")

    run(scenario())


def test_a_file_that_does_not_parse_gets_one_diagnostic_at_the_error(tmp_path: Path) -> None:
    broken = "import torch\n\ndef f(:\n    return torch.zeros(1)\n"
    path = tmp_path / "broken.py"
    path.write_text(broken, encoding="utf-8")
    cli = memlint_cli("check", "--no-cache", str(path), cwd=tmp_path)
    assert cli.returncode == 2
    problem = cli.stderr.strip().splitlines()[0]
    assert problem.startswith(f"{path}:3:7: cannot parse")

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(path.as_uri(), broken)
            (diagnostic,) = await s.diagnostics(path.as_uri(), version=1)
            assert diagnostic.severity == lsp.DiagnosticSeverity.Error
            assert diagnostic.range.start == lsp.Position(2, 6)
            assert diagnostic.message.startswith("cannot parse: ")
            assert problem.endswith(diagnostic.message)
            # The server goes on serving other documents.
            other = (tmp_path / "ok.py").as_uri()
            s.open(other, EVAL_LOOP)
            assert len(await s.diagnostics(other, version=1)) == 1

    run(scenario())


# A rule that raises as it reports on a marked file (the traceback runs through the rule's module).
# As sitecustomize it is loaded by the server and by each of its lint processes.
CRASHING_RULE = """
from memlint.rule import Rule

def report(self, node, message, fix=None):
    if "CRASH_THIS_RULE" in self.file.text:
        raise RuntimeError("a bug in a rule")
    return original(self, node, message, fix)

original, Rule.report = Rule.report, report
"""


def test_a_crash_inside_a_rule_is_logged_and_the_server_keeps_serving(tmp_path: Path) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(CRASHING_RULE, encoding="utf-8")
    crashing = (tmp_path / "crash.py").as_uri()
    fine = (tmp_path / "fine.py").as_uri()

    async def scenario() -> None:
        async with session(tmp_path, pythonpath=inject) as s:
            s.open(crashing, "# CRASH_THIS_RULE\n" + EVAL_LOOP)
            assert await s.diagnostics(crashing, version=1) == []
            logged = await s.until(
                lambda: [m for m in s.client.log_messages if m.type == lsp.MessageType.Error and "a bug in a rule" in m.message],
                "the crash in the log",
            )
            assert "internal error in mem001_eval_without_no_grad.py:" in logged[0].message
            assert "RuntimeError" in logged[0].message
            s.open(fine, EVAL_LOOP)
            assert [d.code for d in await s.diagnostics(fine, version=1)] == ["MEM001"]
            # Still answering requests about the crashing document.
            whole = lsp.Diagnostic(lsp.Range(lsp.Position(0, 0), lsp.Position(9, 0)), "")
            assert await s.code_actions(crashing, whole) == []

    run(scenario())


@pytest.mark.slow
def test_a_long_lint_neither_blocks_requests_nor_publishes_stale_results(tmp_path: Path) -> None:
    big_text = "import torch\n" + "".join(
        EVAL_LOOP.replace("import torch\n", "").replace("def evaluate(", f"def evaluate_{i}(") for i in range(700)
    )
    big = (tmp_path / "big.py").as_uri()
    small = (tmp_path / "small.py").as_uri()

    async def scenario() -> None:
        async with session(tmp_path) as s:
            s.open(small, "import torch\n")
            await s.diagnostics(small, version=1)  # the lint processes are up
            s.open(big, big_text)
            await asyncio.sleep(0.2)  # the long lint is running
            s.change(big, big_text + "\n", 2)  # makes the running lint stale
            s.change(small, EVAL_LOOP, 2)
            assert len(await s.diagnostics(small, version=2)) == 1
            hover = await s.client.text_document_hover_async(
                lsp.HoverParams(lsp.TextDocumentIdentifier(small), lsp.Position(7, 22))
            )
            assert hover is not None and "MEM001" in hover.contents.value
            assert s.latest(big) is None, "the small file had to wait for the big one"
            assert len(await s.diagnostics(big, version=2)) == 700
            assert [p.version for p in s.published if p.uri == big] == [2], "a superseded lint was published"

    run(scenario())


# ---------------------------------------------------------------------------- raw JSON-RPC
def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _message(payload: dict[str, Any]) -> bytes:
    return _frame(json.dumps(payload).encode("utf-8"))


def _read_message(stream: Any) -> dict[str, Any]:
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise AssertionError("the server closed its output")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    assert length is not None
    return json.loads(stream.read(length))


def _responses(stdout: Any, wanted_ids: set[Any]) -> dict[Any, dict[str, Any]]:
    found: dict[Any, dict[str, Any]] = {}
    while not wanted_ids <= set(found):
        message = _read_message(stdout)
        if "method" not in message:
            found[message.get("id")] = message
    return found


def test_malformed_requests_get_error_responses(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "memlint", "server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=server_env(),
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdin.write(_message({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}))
        server.stdin.flush()
        assert "capabilities" in _responses(server.stdout, {1})[1]["result"]
        server.stdin.write(_message({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        # Params that are not a CodeActionParams; a body that is not JSON; a method nobody knows.
        server.stdin.write(
            _message({"jsonrpc": "2.0", "id": 2, "method": "textDocument/codeAction", "params": {"textDocument": 5}})
        )
        server.stdin.write(_frame(b'{"jsonrpc": "2.0", "id": 3, "method": '))
        server.stdin.write(_message({"jsonrpc": "2.0", "id": 4, "method": "memlint/unknown", "params": {}}))
        # Then a good request: the server still answers.
        server.stdin.write(
            _message(
                {
                    "jsonrpc": "2.0",
                    "id": 5,
                    "method": "textDocument/hover",
                    "params": {"textDocument": {"uri": "file:///nowhere.py"}, "position": {"line": 0, "character": 0}},
                }
            )
        )
        server.stdin.flush()
        responses = _responses(server.stdout, {2, None, 4, 5})
        assert responses[2]["error"]["code"] == -32602
        assert "textDocument/codeAction" in responses[2]["error"]["message"]
        assert responses[None]["error"]["code"] == -32700
        assert responses[4]["error"]["code"] == -32601
        assert responses[5] == {"jsonrpc": "2.0", "id": 5, "result": None}
        server.stdin.write(_message({"jsonrpc": "2.0", "id": 6, "method": "shutdown"}))
        server.stdin.flush()
        assert _responses(server.stdout, {6})[6]["result"] is None
        server.stdin.write(_message({"jsonrpc": "2.0", "method": "exit"}))
        server.stdin.flush()
        assert server.wait(timeout=WAIT_S) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_server_without_pygls_says_how_to_install_it(tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "pygls.py").write_text("raise ImportError('No module named pygls', name='pygls')\n", encoding="utf-8")
    env = server_env()
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), env["PYTHONPATH"]])
    result = subprocess.run(
        [sys.executable, "-m", "memlint", "server"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "memlint: error: the server needs pygls (pygls): pip install 'memlint-ml[server]'"
    ]


# ---------------------------------------------------------------------------- the README's server section
def _readme_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Editors: `memlint server`")
    return text[start : text.index("\n## ", start + 1)]


def _contains(actual: Any, expected: Any) -> bool:
    """Objects: the expected keys, recursively; lists: the same length, item by item."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(_contains, actual, expected))
    return actual == expected


class _RawServer:
    """`memlint server` (or an editor's configured command) with JSON-RPC framing by hand."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd, env=server_env()
        )
        self.watchdog = threading.Timer(WAIT_S, self.process.kill)  # a hung server ends the test, not the run
        self.watchdog.start()

    def send(self, payload: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(_message(payload))
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        return _read_message(self.process.stdout)

    def close(self) -> int:
        try:
            return self.process.wait(timeout=WAIT_S)
        finally:
            self.watchdog.cancel()
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def test_readme_transcript_is_what_the_server_says(tmp_path: Path) -> None:
    block = _readme_section().split("<!-- lsp-transcript -->", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert sum(line.startswith("<-- ") for line in lines) >= 5
    server = _RawServer([sys.executable, "-m", "memlint", "server"], tmp_path)
    try:
        for line in lines:
            direction, _, payload = line.partition(" ")
            message = json.loads(payload)
            if direction == "-->":
                server.send(message)
                continue
            assert direction == "<--", line
            seen = []
            while not _contains(seen[-1] if seen else None, message):
                seen.append(server.receive())
    finally:
        assert server.close() == 0


def _editor_commands() -> dict[str, tuple[list[str], Any]]:
    """Each editor set-up in the README: the command it starts and the initialization options."""
    section = _readme_section()
    vscode = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    lua = section.split("```lua\n", 1)[1].split("```", 1)[0]
    lua_cmd = re.search(r"cmd = \{(.*?)\}", lua).group(1)
    lua_options = re.search(r"init_options = (\{.*\}),\n", lua).group(1)
    lua_options = re.sub(r"(\w+)\s*=", r'"\1":', lua_options)
    while re.search(r"\{([^{}:]*)\}", lua_options):  # Lua's {"a", "b"} is a list
        lua_options = re.sub(r"\{([^{}:]*)\}", r"[\1]", lua_options)
    helix = tomllib.loads(section.split("```toml\n", 1)[1].split("```", 1)[0])["language-server"]["memlint"]
    return {
        "vscode": ([vscode["glspc.server.command"], *vscode["glspc.server.commandArguments"]], vscode["glspc.server.initializationOptions"]),
        "neovim": (re.findall(r'"([^"]+)"', lua_cmd), json.loads(lua_options)),
        "helix": ([helix["command"], *helix["args"]], helix["config"]),
    }


@pytest.mark.parametrize("editor", ["vscode", "neovim", "helix"])
def test_readme_editor_setups_start_the_server(editor: str, tmp_path: Path) -> None:
    command, options = _editor_commands()[editor]
    assert command == ["memlint", "server"]
    executable = shutil.which(command[0])
    if executable is None:
        pytest.skip("the memlint command is not installed (pip install -e .)")
    server = _RawServer([executable, *command[1:]], tmp_path)
    try:
        server.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}, "initializationOptions": options}})
        reply = server.receive()
        assert reply["result"]["serverInfo"]["name"] == "memlint"
        server.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": (tmp_path / "t.py").as_uri(), "languageId": "python", "version": 1, "text": EVAL_LOOP}}})
        published = server.receive()
        # The settings were accepted (a rejected one would come as window/showMessage first).
        assert published["method"] == "textDocument/publishDiagnostics", published
        assert [d["code"] for d in published["params"]["diagnostics"]] == ["MEM001"]
        server.send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        assert server.receive()["id"] == 2
        server.send({"jsonrpc": "2.0", "method": "exit"})
    finally:
        assert server.close() == 0

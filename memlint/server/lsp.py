"""The language server: pygls handlers around ``documents``.

Lints run in worker processes (``LINT_PROCESSES``), not threads: libcst's native parser holds the
GIL for the whole parse, so a long lint in a thread would stall every request. A worker that dies
(a crash in native code) is replaced and the server goes on. A change is linted after a pause in
typing (``DEBOUNCE_S``); open and save lint at once. Each document has a generation counter: a
lint whose document changed (or closed) while it waited or ran is dropped, and at most one lint
per document runs at a time.

Documents are synced whole (``TextDocumentSyncKind.Full``): pygls applies incremental changes
with ``str.splitlines``, which also splits at form feeds and would put later edits on the wrong
lines of such files.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcParseError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from memlint import __version__
from memlint.config import ConfigError, ConfigResolver, Settings, resolve_selector
from memlint.engine import URL_BASE, FixFailure, ParseFailure
from memlint.server.documents import (
    Cell,
    LintResult,
    Placed,
    PositionMap,
    Snapshot,
    fix_all,
    iter_rule_sections,
    lint,
    noqa_edit,
    text_changes,
)

logger = logging.getLogger("memlint.server")

DEBOUNCE_S = 0.3
LINT_PROCESSES = 2
FIX_ALL_KIND = "source.fixAll.memlint"
CONFIG_FILES = ("pyproject.toml", "memlint.toml")
HOVER_SECTIONS = ("What it does", "Why is this bad?", "Measured effect")


class _Answered:
    """A request that was already answered with an error while it was being read."""

    jsonrpc = "answered"


class MemlintProtocol(LanguageServerProtocol):
    """Answers a request whose params do not match the LSP types with InvalidParams; pygls
    itself only logs it, and the client would wait for a response forever."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data and isinstance(data["id"], (int, str)):
                cause = exc.__cause__
                detail = str(cause).splitlines()[0] if cause is not None and str(cause) else type(exc).__name__
                message = f"invalid params for {data['method']}: {detail}"
                self._send_response(data["id"], error=lsp.ResponseError(JsonRpcInvalidParams.CODE, message))
                return _Answered()
            raise

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Answered):
            return
        super().handle_message(message)


@dataclass
class _Tracked:
    """An open document (a Python file or a notebook) and its lint state."""

    uri: str
    notebook: bool
    generation: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    result: LintResult | None = None
    result_epoch: int = -1  # the configuration epoch the result was linted under
    published: set[str] = field(default_factory=set)  # URIs that got diagnostics (cells)


@dataclass
class ClientSettings:
    """Settings an editor sends: ``initializationOptions`` or ``workspace/didChangeConfiguration``."""

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    unsafe_fixes: bool = False

    KEYS = frozenset({"select", "extendSelect", "extend-select", "ignore", "unsafeFixes", "unsafe-fixes"})

    @classmethod
    def section(cls, raw: Any) -> Any:
        """The memlint part of the settings an editor pushed or answered, None when there is none
        (editors also send their other settings, or nothing, on every change)."""
        if isinstance(raw, Mapping):
            if "memlint" in raw:
                return raw["memlint"]
            if set(raw) & cls.KEYS:
                return raw
        return None

    @classmethod
    def parse(cls, raw: Any) -> "ClientSettings":
        """Accepts ``{"select": ...}`` or ``{"memlint": {...}}``; camelCase or kebab-case keys."""
        if isinstance(raw, Mapping) and isinstance(raw.get("memlint"), Mapping):
            raw = raw["memlint"]
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError("memlint settings must be an object")
        unknown = sorted(set(raw) - cls.KEYS)
        if unknown:
            raise ConfigError(f"unknown memlint setting {unknown[0]!r}; valid: select, extendSelect, ignore, unsafeFixes")

        def codes(key: str, *aliases: str) -> list[str] | None:
            for name in (key, *aliases):
                if name in raw and raw[name] is not None:
                    value = raw[name]
                    if isinstance(value, str):
                        value = [value]
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        raise ConfigError(f"memlint setting {name!r} must be a list of rule codes")
                    for selector in value:
                        resolve_selector(selector, f"the editor setting {name!r}")
                    return list(value)
            return None

        unsafe = raw.get("unsafeFixes", raw.get("unsafe-fixes", False))
        if not isinstance(unsafe, bool):
            raise ConfigError("memlint setting 'unsafeFixes' must be true or false")
        return cls(codes("select"), codes("extendSelect", "extend-select") or [], codes("ignore") or [], unsafe)

    def overrides(self) -> dict[str, Any]:
        return {"select": self.select, "extend_select": self.extend_select, "ignore": self.ignore}


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]
    return Path(path)


def _is_python(document: Any) -> bool:
    language = getattr(document, "language_id", None)
    if language:
        return language == "python"
    path = uri_to_path(document.uri)
    return path is not None and path.suffix in (".py", ".pyi")


class MemlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "memlint",
            __version__,
            text_document_sync_kind=lsp.TextDocumentSyncKind.Full,
            notebook_document_sync=lsp.NotebookDocumentSyncOptions(
                notebook_selector=[lsp.NotebookDocumentFilterWithCells(cells=[lsp.NotebookCellLanguage("python")])],
                save=True,
            ),
            protocol_cls=MemlintProtocol,
        )
        self.tracked: dict[str, _Tracked] = {}
        self.client_settings = ClientSettings()
        self.resolver = ConfigResolver(None, self.client_settings.overrides())
        self._config_stamps: dict[Path, tuple[Any, ...]] = {}
        self.config_epoch = 0  # bumped whenever settings may have changed; older results are stale
        self._shown_errors: set[str] = set()
        self.lints = _lint_processes()
        self.stopping = False  # after `shutdown`: nothing more is linted

    def shutdown(self) -> None:
        self.stop_lints()
        super().shutdown()

    def stop_lints(self) -> None:
        """Ends the lint processes now: exiting must not wait for a long lint to finish."""
        self.stopping = True
        processes = list((getattr(self.lints, "_processes", None) or {}).values())
        self.lints.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()

    # ------------------------------------------------------------------ errors and messages
    def report_server_error(self, error: Exception, source: Any) -> None:
        """A body that is not JSON gets JSON-RPC's parse error (id null); the rest is logged."""
        if isinstance(error, json.JSONDecodeError) or isinstance(error.__cause__, json.JSONDecodeError):
            message = f"Parse error: {error}"
            self.protocol._send_response(None, error=lsp.ResponseError(JsonRpcParseError.CODE, message))
            return
        logger.error("%s: %s", type(error).__name__, error)

    def log(self, message: str, kind: lsp.MessageType = lsp.MessageType.Info) -> None:
        self.window_log_message(lsp.LogMessageParams(kind, message))

    def show_error_once(self, message: str) -> None:
        logger.error("%s", message)
        self.log(message, lsp.MessageType.Error)
        if message not in self._shown_errors:
            self._shown_errors.add(message)
            self.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error, message))

    # ------------------------------------------------------------------ settings
    def apply_client_settings(self, raw: Any) -> bool:
        try:
            settings = ClientSettings.parse(raw)
        except ConfigError as exc:
            self.show_error_once(f"memlint: {exc}; keeping the previous settings")
            return False
        self.client_settings = settings
        self.reload_config()
        return True

    def reload_config(self) -> None:
        self.resolver = ConfigResolver(None, self.client_settings.overrides())
        self._config_stamps.clear()
        self.config_epoch += 1

    def settings_for(self, path: Path | None) -> Settings:
        """Settings for a document; a configuration file changed on disk since it was read is
        read again, also when the editor does not report file changes."""
        anchor = path if path is not None else self._root_anchor()
        directory = Path(os.path.abspath(anchor.parent))
        stamp = _config_stamp(directory)
        if self._config_stamps.get(directory, stamp) != stamp:
            self.reload_config()
        self._config_stamps[directory] = stamp
        return self.resolver.for_path(anchor)

    def _root_anchor(self) -> Path:
        root = self.workspace.root_path if self.protocol._workspace is not None else None
        return Path(root or os.getcwd()) / "untitled.py"

    # ------------------------------------------------------------------ snapshots
    def snapshot(self, tracked: _Tracked) -> Snapshot | None:
        workspace = self.workspace
        if not tracked.notebook:
            document = workspace.text_documents.get(unquote(tracked.uri))
            if document is None:
                return None
            return Snapshot(tracked.uri, uri_to_path(tracked.uri), document.version, document.source)
        notebook = workspace.get_notebook_document(notebook_uri=tracked.uri)
        if notebook is None:
            return None
        cells = []
        for cell in notebook.cells:
            document = workspace.text_documents.get(unquote(cell.document))
            text = document.source if document is not None else ""
            version = document.version if document is not None else None
            cells.append(Cell(cell.document, cell.kind == lsp.NotebookCellKind.Code, text, version))
        return Snapshot(tracked.uri, uri_to_path(tracked.uri), notebook.version, cells=tuple(cells))

    def snapshot_and_settings(self, tracked: _Tracked) -> tuple[Snapshot | None, Settings | None]:
        """The document now and its settings; settings are None when the configuration cannot
        be read (the error is shown to the user)."""
        snapshot = self.snapshot(tracked)
        if snapshot is None:
            return None, None
        try:
            return snapshot, self.settings_for(snapshot.path)
        except ConfigError as exc:
            self.show_error_once(f"memlint: {exc}")
            return snapshot, None

    def tracked_for(self, uri: str) -> _Tracked | None:
        """The open file, or the notebook that holds the cell ``uri``."""
        if uri in self.tracked:
            return self.tracked[uri]
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        return self.tracked.get(notebook.uri) if notebook is not None else None

    # ------------------------------------------------------------------ linting
    def opened(self, uri: str, notebook: bool) -> None:
        self.schedule(self.tracked.setdefault(uri, _Tracked(uri, notebook)), 0)

    def changed(self, uri: str, delay: float) -> None:
        tracked = self.tracked.get(uri)
        if tracked is not None:
            self.schedule(tracked, delay)

    def closed(self, uri: str) -> None:
        tracked = self.tracked.pop(uri, None)
        if tracked is not None:
            tracked.generation += 1  # drops a lint still waiting or running
            self.clear(tracked)

    def schedule(self, tracked: _Tracked, delay: float) -> None:
        tracked.generation += 1
        asyncio.get_running_loop().create_task(self._lint_later(tracked, tracked.generation, delay))

    def relint_all(self) -> None:
        for tracked in list(self.tracked.values()):
            self.schedule(tracked, 0)

    async def _lint_later(self, tracked: _Tracked, generation: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if tracked.generation != generation or self.stopping:
            return
        result = await self.current_result(tracked, with_edits=False)
        if result is None or tracked.generation != generation or self.tracked.get(tracked.uri) is not tracked:
            return  # superseded by a newer change, or closed
        self.publish(tracked, result)

    async def current_result(self, tracked: _Tracked, with_edits: bool) -> LintResult | None:
        """The lint of the document as it is now (reused when its versions have not changed)."""
        async with tracked.lock:
            snapshot, settings = self.snapshot_and_settings(tracked)
            if snapshot is None:
                return None
            if settings is None:
                return LintResult(snapshot, with_edits=with_edits)
            epoch = self.config_epoch
            cached = tracked.result
            if (
                cached is not None
                and tracked.result_epoch == epoch
                and cached.snapshot == snapshot
                and (cached.with_edits or not with_edits)
            ):
                return cached
            if snapshot.path is not None and settings.is_excluded(snapshot.path):
                return LintResult(snapshot, with_edits=with_edits)
            try:
                result = await self.in_worker(lint, snapshot, settings, with_edits)
            except BrokenProcessPool:
                result = LintResult(snapshot, with_edits=with_edits, crash="the lint process died (see the log)")
            if self.snapshot(tracked) == snapshot and self.config_epoch == epoch:
                tracked.result, tracked.result_epoch = result, epoch
            return result

    async def in_worker(self, function: Any, *args: Any) -> Any:
        """Run ``function`` in a lint process; a dead process is replaced for the next call."""
        pool = self.lints
        if self.stopping:
            raise BrokenProcessPool("the server is shutting down")
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            logger.error("a lint process died; starting new ones")
            if self.lints is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self.lints = _lint_processes()
            raise

    def publish(self, tracked: _Tracked, result: LintResult) -> None:
        if result.crash is not None:
            first_line = result.crash.splitlines()[0]
            logger.error("checking %s: %s", tracked.uri, result.crash)
            self.log(f"memlint: {tracked.uri}: {result.crash}", lsp.MessageType.Error)
            if "crash" not in self._shown_errors:
                self._shown_errors.add("crash")
                self.window_show_message(
                    lsp.ShowMessageParams(lsp.MessageType.Error, f"memlint: {first_line} (details in the log)")
                )
        documents = result.snapshot.documents()
        versions = result.snapshot.versions()
        by_uri: dict[str, list[lsp.Diagnostic]] = {uri: [] for uri in documents}
        for placed in result.findings:
            by_uri.setdefault(placed.uri, []).append(self.diagnostic(placed, documents[placed.uri]))
        if result.failure is not None:
            uri, failure = result.failure
            by_uri.setdefault(uri, []).append(self.failure_diagnostic(failure, documents.get(uri, "")))
        if result.skipped is not None:
            first = next(iter(documents), tracked.uri)
            start = lsp.Position(0, 0)
            by_uri.setdefault(first, []).append(
                lsp.Diagnostic(lsp.Range(start, start), result.skipped, lsp.DiagnosticSeverity.Information, source="memlint")
            )
        for uri in tracked.published - set(by_uri):  # cells that were removed
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri, []))
        for uri, diagnostics in by_uri.items():
            params = lsp.PublishDiagnosticsParams(uri, diagnostics, versions.get(uri))
            self.text_document_publish_diagnostics(params)
        tracked.published = set(by_uri)

    def clear(self, tracked: _Tracked) -> None:
        for uri in tracked.published:
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri, []))
        tracked.published = set()

    # ------------------------------------------------------------------ conversions
    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or "utf-16")

    def lsp_range(self, text: str, row: int, column: int, end_row: int, end_column: int) -> lsp.Range:
        positions = PositionMap(text, self.encoding)
        start, end = positions.position(row, column), positions.position(end_row, end_column)
        return lsp.Range(lsp.Position(*start), lsp.Position(*end))

    def diagnostic(self, placed: Placed, text: str) -> lsp.Diagnostic:
        finding = placed.finding
        fix = finding.fix
        return lsp.Diagnostic(
            range=self.lsp_range(text, finding.row, finding.column, finding.end_row, finding.end_column),
            message=finding.message,
            severity=lsp.DiagnosticSeverity.Warning,
            code=finding.code,
            code_description=lsp.CodeDescription(href=f"{URL_BASE}{finding.code}.md"),
            source="memlint",
            data={"fix": fix.applicability if fix is not None else None, "name": finding.name},
        )

    def failure_diagnostic(self, failure: ParseFailure, text: str) -> lsp.Diagnostic:
        positions = PositionMap(text, self.encoding)
        line, character = positions.position(failure.row, failure.column)
        end = positions.line_end(line)
        if end[1] <= character:  # at the end of a line: a zero-width range there
            end = (line, character)
        return lsp.Diagnostic(
            range=lsp.Range(lsp.Position(line, character), lsp.Position(*end)),
            message=f"cannot parse: {failure.message}",
            severity=lsp.DiagnosticSeverity.Error,
            source="memlint",
        )

    def workspace_edit(self, snapshot: Snapshot, new_texts: Mapping[str, str]) -> lsp.WorkspaceEdit | None:
        """Edits from the snapshot's texts to ``new_texts``, tied to the snapshot's versions when
        the client accepts versioned edits (it then refuses them for a changed document)."""
        documents, versions = snapshot.documents(), snapshot.versions()
        per_uri: dict[str, list[lsp.TextEdit]] = {}
        for uri, new_text in new_texts.items():
            edits = [
                lsp.TextEdit(lsp.Range(lsp.Position(*c.start), lsp.Position(*c.end)), c.text)
                for c in text_changes(documents[uri], new_text, self.encoding)
            ]
            if edits:
                per_uri[uri] = edits
        if not per_uri:
            return None
        capabilities = self.client_capabilities.workspace
        edit_capabilities = capabilities.workspace_edit if capabilities is not None else None
        if edit_capabilities is not None and edit_capabilities.document_changes:
            return lsp.WorkspaceEdit(
                document_changes=[
                    lsp.TextDocumentEdit(lsp.OptionalVersionedTextDocumentIdentifier(uri, versions.get(uri)), edits)
                    for uri, edits in per_uri.items()
                ]
            )
        return lsp.WorkspaceEdit(changes=per_uri)

    # ------------------------------------------------------------------ code actions and hover
    async def code_actions(self, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        tracked = self.tracked_for(params.text_document.uri)
        if tracked is None:
            return []
        only = params.context.only
        wants_quickfix = only is None or any(_kind_covers(k, lsp.CodeActionKind.QuickFix) for k in only)
        wants_fix_all = only is None or any(_kind_covers(k, FIX_ALL_KIND) for k in only)
        actions: list[lsp.CodeAction] = []
        result = await self.current_result(tracked, with_edits=True)
        if result is None:
            return []
        uri = params.text_document.uri
        snapshot = result.snapshot
        text = snapshot.documents().get(uri, "")
        unsafe = self.client_settings.unsafe_fixes
        if wants_quickfix:
            for placed in result.findings:
                if placed.uri != uri or not self._overlaps(text, placed, params.range):
                    continue
                diagnostic = self.diagnostic(placed, text)
                fix = placed.finding.fix
                if fix is not None and placed.fixed and (fix.applicability == "safe" or unsafe):
                    edit = self.workspace_edit(snapshot, placed.fixed)
                    if edit is not None:
                        suffix = " (unsafe)" if fix.applicability == "unsafe" else ""
                        actions.append(
                            lsp.CodeAction(
                                title=f"Fix {placed.finding.code}: {fix.message}{suffix}",
                                kind=lsp.CodeActionKind.QuickFix,
                                diagnostics=[diagnostic],
                                is_preferred=fix.applicability == "safe",
                                edit=edit,
                            )
                        )
                new_text = noqa_edit(snapshot, uri, placed.finding.row, placed.finding.code)
                if new_text is not None:
                    edit = self.workspace_edit(snapshot, {uri: new_text})
                    actions.append(
                        lsp.CodeAction(
                            title=f"Disable {placed.finding.code} for this line",
                            kind=lsp.CodeActionKind.QuickFix,
                            diagnostics=[diagnostic],
                            edit=edit,
                        )
                    )
        if wants_fix_all and any(
            p.finding.fix is not None and (p.finding.fix.applicability == "safe" or unsafe) for p in result.findings
        ):
            action = lsp.CodeAction(title="Fix all memlint issues", kind=FIX_ALL_KIND, data={"uri": uri})
            if only is not None or not self._client_resolves_edits():
                action = await self.resolve_fix_all(action)
            actions.append(action)
        return actions

    def _overlaps(self, text: str, placed: Placed, wanted: lsp.Range) -> bool:
        finding = placed.finding
        found = self.lsp_range(text, finding.row, finding.column, finding.end_row, finding.end_column)
        start = (found.start.line, found.start.character)
        end = (found.end.line, found.end.character)
        return start <= (wanted.end.line, wanted.end.character) and (wanted.start.line, wanted.start.character) <= end

    def _client_resolves_edits(self) -> bool:
        text_document = self.client_capabilities.text_document
        code_action = text_document.code_action if text_document is not None else None
        support = code_action.resolve_support if code_action is not None else None
        return support is not None and "edit" in support.properties

    async def resolve_fix_all(self, action: lsp.CodeAction) -> lsp.CodeAction:
        data = action.data if isinstance(action.data, Mapping) else {}
        tracked = self.tracked_for(str(data.get("uri", "")))
        if tracked is None:
            return action
        async with tracked.lock:
            snapshot, settings = self.snapshot_and_settings(tracked)
        if snapshot is None or settings is None:
            return action
        try:
            new_texts = await self.in_worker(fix_all, snapshot, settings, self.client_settings.unsafe_fixes)
        except (FixFailure, ParseFailure) as exc:
            self.log(f"memlint: fix all in {tracked.uri}: {exc}", lsp.MessageType.Warning)
            return action
        except Exception as exc:  # a crash inside a rule's fix
            logger.exception("fix all in %s", tracked.uri)
            self.log(f"memlint: fix all in {tracked.uri}: internal error: {exc!r}", lsp.MessageType.Error)
            return action
        action.edit = self.workspace_edit(snapshot, new_texts) or lsp.WorkspaceEdit(changes={})
        return action

    async def hover(self, params: lsp.HoverParams) -> lsp.Hover | None:
        tracked = self.tracked_for(params.text_document.uri)
        result = await self.current_result(tracked, with_edits=False) if tracked is not None else None
        if result is None:
            return None
        uri = params.text_document.uri
        text = result.snapshot.documents().get(uri)
        if text is None:
            return None
        point = lsp.Range(params.position, params.position)
        codes: list[tuple[str, lsp.Range]] = []
        for placed in result.findings:
            if placed.uri == uri and self._overlaps(text, placed, point):
                finding = placed.finding
                found = self.lsp_range(text, finding.row, finding.column, finding.end_row, finding.end_column)
                if finding.code not in [code for code, _ in codes]:
                    codes.append((finding.code, found))
        if not codes:
            return None
        return lsp.Hover(
            lsp.MarkupContent(lsp.MarkupKind.Markdown, "\n\n---\n\n".join(rule_hover(code) for code, _ in codes)),
            codes[0][1],
        )


def rule_hover(code: str) -> str:
    """What a hover on a finding shows: the rule's purpose and the memory effect measured."""
    from memlint.rule_docs import rule_document
    from memlint.rules import all_rules

    rule = all_rules()[code]
    parts = [f"**{code}** ({rule.name}): {rule.summary}"]
    for name, body in iter_rule_sections(rule_document(rule), HOVER_SECTIONS):
        parts.append(f"### {name}\n{body}")
    parts.append(f"[Full rule document]({URL_BASE}{code}.md)")
    return "\n\n".join(parts)


def _lint_processes() -> ProcessPoolExecutor:
    # Spawned, not forked: the server has threads (the stdin reader), and fork copies their locks.
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(LINT_PROCESSES, mp_context=context, initializer=_start_lint_process)


def _start_lint_process() -> None:
    """Nothing a lint process prints may reach the client, and it never outlives the server."""
    from memlint.runner import _quiet_worker  # the `memlint check` pool's worker set-up

    os.dup2(2, 1)  # file descriptor 1 is the server's protocol stream unless main() moved it
    _quiet_worker()


def warm_up() -> None:
    """Imports the engine and every rule in a lint process before the first document arrives."""
    from memlint.config import Settings
    from memlint.engine import lint_text

    lint_text("import torch\nimport keras\n", "warm_up.py", Settings().rules_for(None), {})


def _kind_covers(requested: str, kind: str) -> bool:
    """LSP kinds are hierarchical: asking for ``source.fixAll`` covers ``source.fixAll.memlint``."""
    return kind == requested or kind.startswith(f"{requested}.")


def _config_stamp(directory: Path) -> tuple[Any, ...]:
    """The modification times of every configuration file memlint could read for ``directory``."""
    stamp: list[Any] = []
    for folder in (directory, *directory.parents):
        for name in CONFIG_FILES:
            try:
                stamp.append(os.stat(folder / name).st_mtime_ns)
            except OSError:
                stamp.append(None)
    return tuple(stamp)


def _is_config_file(uri: str) -> bool:
    path = uri_to_path(uri)
    return path is not None and path.name in CONFIG_FILES


def build_server() -> MemlintServer:
    server = MemlintServer()

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: MemlintServer, params: lsp.InitializeParams) -> None:
        if params.initialization_options is not None:
            ls.apply_client_settings(params.initialization_options)

    @server.feature(lsp.INITIALIZED)
    async def initialized(ls: MemlintServer, params: lsp.InitializedParams) -> None:
        for _ in range(LINT_PROCESSES):
            ls.lints.submit(warm_up)
        workspace = ls.client_capabilities.workspace
        watch = workspace.did_change_watched_files if workspace is not None else None
        if watch is not None and watch.dynamic_registration:
            watchers = [lsp.FileSystemWatcher(glob_pattern=f"**/{name}") for name in CONFIG_FILES]
            registration = lsp.Registration(
                "memlint-config-files",
                lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                lsp.DidChangeWatchedFilesRegistrationOptions(watchers),
            )
            try:
                await ls.client_register_capability_async(lsp.RegistrationParams([registration]))
            except Exception as exc:  # the client refused; config changes are still seen at the next lint
                logger.warning("could not watch configuration files: %s", exc)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: MemlintServer, params: lsp.DidOpenTextDocumentParams) -> None:
        if _is_python(params.text_document):
            ls.opened(params.text_document.uri, notebook=False)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: MemlintServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.changed(params.text_document.uri, DEBOUNCE_S)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: MemlintServer, params: lsp.DidSaveTextDocumentParams) -> None:
        if _is_config_file(params.text_document.uri):
            ls.reload_config()
            ls.relint_all()
        else:
            ls.changed(params.text_document.uri, 0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: MemlintServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.closed(params.text_document.uri)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls: MemlintServer, params: lsp.DidOpenNotebookDocumentParams) -> None:
        ls.opened(params.notebook_document.uri, notebook=True)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(ls: MemlintServer, params: lsp.DidChangeNotebookDocumentParams) -> None:
        ls.changed(params.notebook_document.uri, DEBOUNCE_S)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(ls: MemlintServer, params: lsp.DidSaveNotebookDocumentParams) -> None:
        ls.changed(params.notebook_document.uri, 0)

    @server.feature(lsp.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls: MemlintServer, params: lsp.DidCloseNotebookDocumentParams) -> None:
        ls.closed(params.notebook_document.uri)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: MemlintServer, params: lsp.DidChangeConfigurationParams) -> None:
        raw = ClientSettings.section(params.settings)
        if raw is None:  # pull-model clients send nothing and answer workspace/configuration instead
            workspace = ls.client_capabilities.workspace
            if workspace is None or not workspace.configuration:
                return
            try:
                answers = await ls.workspace_configuration_async(
                    lsp.ConfigurationParams([lsp.ConfigurationItem(section="memlint")])
                )
            except Exception as exc:
                logger.warning("workspace/configuration failed: %s", exc)
                return
            raw = answers[0] if answers else None
        if raw is None:
            return  # nothing for memlint: the settings from initializationOptions stay
        if ls.apply_client_settings(raw):
            ls.relint_all()

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: MemlintServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        if any(_is_config_file(change.uri) for change in params.changes):
            ls.reload_config()
            ls.relint_all()

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix, FIX_ALL_KIND], resolve_provider=True),
    )
    async def code_action(ls: MemlintServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        return await ls.code_actions(params)

    @server.feature(lsp.CODE_ACTION_RESOLVE)
    async def code_action_resolve(ls: MemlintServer, action: lsp.CodeAction) -> lsp.CodeAction:
        if action.kind == FIX_ALL_KIND and action.edit is None:
            return await ls.resolve_fix_all(action)
        return action

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    async def hover(ls: MemlintServer, params: lsp.HoverParams) -> lsp.Hover | None:
        return await ls.hover(params)

    @server.feature(lsp.SHUTDOWN)
    def shutdown(ls: MemlintServer, params: Any) -> None:
        ls.stop_lints()

    return server

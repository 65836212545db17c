"""memlint deletes only what it created: every deletion site, run against folders full of other files.

Deletion sites outside memlint/verify/ (the verifier's temp folders are tested in test_verify.py):
- cache.py: old cache namespaces (`Cache._drop_old_namespaces` -> `remove_namespace`), and the
  temporary file of an entry write that failed (`Cache.put`);
- source.py: the temporary file of a failed atomic write (`atomic_write`), tested here, and stale
  `.memlint-tmp` files that a killed `--fix` left behind (`remove_stale_temp_files`), tested next to
  files that only look like them in test_runs.py::test_temp_files_of_a_killed_fix_are_removed_next_run_and_nothing_else.
Each test snapshots a tree of someone else's files, runs memlint the way a user would, and
compares every path and every byte afterwards.
"""

import hashlib
import os
from pathlib import Path

import pytest

from memlint.cache import Cache, code_fingerprint, remove_namespace
from memlint import __version__

EVAL_LOOP = (
    "import torch\n\n\ndef evaluate(model, loader):\n    model.eval()\n"
    "    for x, y in loader:\n        out = model(x)\n"
)


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root (links not followed) with a digest of its content."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[os.path.relpath(os.path.join(directory, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "link:" + os.readlink(path)
            else:
                found[rel] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


def someone_elses_project(root: Path) -> Path:
    """A project with sources, data, a git folder and another tool's cache tag."""
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "train.py").write_text(EVAL_LOOP)
    (root / "data").mkdir()
    (root / "data" / "x.npy").write_bytes(b"\x93NUMPY" + bytes(range(200)))
    (root / ".git" / "objects" / "ab").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git" / "objects" / "ab" / "cdef0123").write_bytes(b"blob")
    # Folders named the way memlint names its namespaces and shards, holding someone else's files.
    namespace_like = root / f"0.0.9-{'0' * 16}"
    (namespace_like / "ab").mkdir(parents=True)
    (namespace_like / "ab" / ("c" * 62)).write_text("not memlint's")
    (root / "notes.txt").write_text("keep me\n")
    return root


@pytest.mark.parametrize("how", ["config", "flag"])
def test_cache_dir_pointing_at_a_project_deletes_nothing(tmp_path, memlint, how):
    project = someone_elses_project(tmp_path / "project")
    before = snapshot(project)
    if how == "config":
        (project / "pyproject.toml").write_text('[tool.memlint]\ncache-dir = "."\n')
        before = snapshot(project)
        result = memlint("check", "src", cwd=project)
    else:
        result = memlint("check", "--cache-dir", ".", "src", cwd=project)
    assert result.returncode == 1, result.stderr  # the finding in train.py, nothing else
    assert "MEM001" in result.stdout
    assert "holds files memlint did not create" in result.stderr
    assert snapshot(project) == before
    again = memlint("check", "src", cwd=project) if how == "config" else memlint(
        "check", "--cache-dir", ".", "src", cwd=project
    )
    assert again.returncode == 1 and snapshot(project) == before


def test_cache_dir_home_cache_keeps_other_tools_caches(tmp_path, memlint):
    home = tmp_path / "home"
    caches = home / ".cache"
    (caches / "pip" / "http").mkdir(parents=True)
    (caches / "pip" / "http" / "entry").write_bytes(b"\0pip")
    (caches / "torch" / "hub").mkdir(parents=True)
    (caches / "torch" / "hub" / "weights.pth").write_bytes(b"weights")
    (caches / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n# created by another tool\n")
    project = tmp_path / "work"
    project.mkdir()
    (project / "train.py").write_text(EVAL_LOOP)
    before = snapshot(home)
    for _ in range(2):
        result = memlint("check", "--cache-dir", str(caches), "train.py", cwd=project, env={"HOME": str(home)})
        assert result.returncode == 1 and "did not create" in result.stderr
    assert snapshot(home) == before


def test_empty_folder_becomes_the_cache_and_is_tagged(tmp_path, memlint):
    (tmp_path / "lintcache").mkdir()
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", "--cache-dir", "lintcache", "train.py", cwd=tmp_path)
    assert result.returncode == 1 and "did not create" not in result.stderr
    assert (tmp_path / "lintcache" / "CACHEDIR.TAG").read_text().count("created by memlint") == 1
    assert any((tmp_path / "lintcache").glob(f"{__version__}-*/*/*"))


def _fill_namespace(namespace: Path, entries: int = 3) -> None:
    for i in range(entries):
        shard = namespace / f"{i:02x}"
        shard.mkdir(parents=True, exist_ok=True)
        (shard / (f"{i:02x}" * 31)).write_bytes(b"entry")
        (shard / ".tmp-abc_12x").write_bytes(b"half-written")


def test_old_namespaces_lose_only_memlint_entries(tmp_path):
    root = tmp_path / "cache"
    Cache(root).namespace.rmdir()  # a real memlint cache folder, as an older build left it
    old = root / f"0.0.1-{'a' * 16}"
    _fill_namespace(old)
    (old / "00" / "my-notes.txt").write_text("someone put this here")
    (old / "mine").mkdir()
    (old / "mine" / "data.bin").write_bytes(b"x")
    emptied = root / f"0.0.2-{'b' * 16}"
    _fill_namespace(emptied)
    unrelated = root / "results"  # a name memlint never gives a namespace
    unrelated.mkdir()
    (unrelated / ("c" * 62)).write_text("looks like an entry, is not in a namespace")
    kept = {p: p.read_bytes() for p in (old / "00" / "my-notes.txt", old / "mine" / "data.bin", unrelated / ("c" * 62))}

    cache = Cache(root)  # a new build: the namespaces above are stale
    assert cache.enabled and cache.namespace.name == f"{__version__}-{code_fingerprint()}"
    assert not emptied.exists(), "a namespace holding only memlint's entries is removed"
    assert {p: p.read_bytes() for p in kept} == kept
    assert sorted(p.name for p in (old / "00").iterdir()) == ["my-notes.txt"]
    assert not (old / "01").exists()


def test_namespace_removal_never_follows_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ("d" * 62)).write_text("a file with an entry's name, outside the cache")
    namespace = tmp_path / "cache" / f"0.0.1-{'e' * 16}"
    namespace.mkdir(parents=True)
    (namespace / "ab").symlink_to(outside, target_is_directory=True)
    (namespace / "cd").mkdir()
    (namespace / "cd" / ("e" * 62)).symlink_to(outside / ("d" * 62))
    before = snapshot(outside)
    remove_namespace(namespace)
    assert snapshot(outside) == before
    assert (namespace / "ab").is_symlink()


def test_failed_entry_write_removes_only_its_own_temp_file(tmp_path, monkeypatch):
    cache = Cache(tmp_path / "cache")
    key = "ab" + "0" * 62
    shard = cache.namespace / "ab"
    shard.mkdir()
    (shard / ".tmp-someone").write_text("not from this write")
    import pickle

    def broken_dump(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pickle, "dump", broken_dump)
    cache.put(key, "digest", {"value": 1})
    assert not cache.enabled
    assert sorted(p.name for p in shard.iterdir()) == [".tmp-someone"]


def test_failed_source_write_removes_only_its_own_temp_file(tmp_path, monkeypatch):
    import errno

    from memlint.source import SourceError, atomic_write, read_source

    target = tmp_path / "train.py"
    target.write_text(EVAL_LOOP)
    # Another writer's temp file for the same target (a live process: this one), and a user's files.
    (tmp_path / f".train.py.{os.getpid()}.abcdefgh.memlint-tmp").write_text("another write in progress")
    (tmp_path / "train.py.bak").write_text("a backup")
    before = snapshot(tmp_path)
    source = read_source(target)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(SourceError):
        atomic_write(source, EVAL_LOOP.replace("model.eval()", "model.eval()  # changed"))
    monkeypatch.undo()
    assert snapshot(tmp_path) == before

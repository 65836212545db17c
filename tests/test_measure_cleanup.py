"""Every place in memlint/verify and memlint/estimate that deletes removes only what memlint created.

The deletion sites all live in memlint/measure/workdir.py: ``remove_workdir`` (end of every
verify and estimate run), ``discard_file`` (verify drops each run's output once compared) and
``sweep_stale`` (folders of runs that were killed). Each is tested against folders that hold
someone else's files, and end to end through the real commands.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import run_memlint
from memlint.measure.workdir import MANIFEST, discard_file, make_workdir, record_file, remove_workdir, sweep_stale


def test_remove_workdir_removes_only_recorded_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    work = make_workdir("verify")
    Path(record_file(work, "ours.txt")).write_text("x")
    (work / "theirs.txt").write_text("someone else's")
    (work / "their-dir").mkdir()
    record_file(work, "their-dir")  # a recorded name that is now a folder is still not removed
    assert remove_workdir(work) is False
    assert sorted(p.name for p in work.iterdir()) == ["their-dir", "theirs.txt"]
    assert (work / "theirs.txt").read_text() == "someone else's"


def test_remove_workdir_refuses_a_folder_without_a_manifest(tmp_path):
    folder = tmp_path / "memlint-verify-abc"
    folder.mkdir()
    (folder / "original.py").write_text("precious")
    assert remove_workdir(folder) is False
    assert (folder / "original.py").read_text() == "precious"
    (folder / MANIFEST).write_text("not our header\noriginal.py\n")
    assert remove_workdir(folder) is False
    assert (folder / "original.py").exists()


def test_remove_workdir_unlinks_a_symlink_not_its_target(tmp_path):
    work = make_workdir("estimate")
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    os.symlink(target, record_file(work, "link.txt"))
    assert remove_workdir(work) is True
    assert target.read_text() == "keep me"


def test_discard_file_only_removes_recorded_names(tmp_path):
    work = make_workdir("verify")
    try:
        Path(record_file(work, "run.out")).write_text("out")
        (work / "foreign.out").write_text("not ours")
        assert discard_file(work, "foreign.out") is False
        assert discard_file(work, "../" + tmp_path.name) is False
        assert discard_file(work, "run.out") is True
        assert (work / "foreign.out").exists()
    finally:
        (work / "foreign.out").unlink()
        remove_workdir(work)


def _folder_with_manifest(base: Path, name: str, pid: int, start: str, files=("a.py",)) -> Path:
    folder = base / name
    folder.mkdir()
    (folder / MANIFEST).write_text(f"memlint work folder pid={pid} start={start}\n" + "".join(f + "\n" for f in files))
    for file in files:
        (folder / file).write_text("x")
    return folder


def test_sweep_removes_only_folders_of_dead_runs(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    from memlint.measure.workdir import process_start_ticks

    stale = _folder_with_manifest(tmp_path, "memlint-verify-stale", dead_pid, "1")
    (stale / "left-by-user.txt").write_text("keep")
    gone = _folder_with_manifest(tmp_path, "memlint-estimate-gone", dead_pid, "1")
    live = _folder_with_manifest(tmp_path, "memlint-verify-live", os.getpid(), process_start_ticks(os.getpid()))
    unrelated = _folder_with_manifest(tmp_path, "other-tool-xyz", dead_pid, "1")
    no_manifest = tmp_path / "memlint-verify-nomanifest"
    no_manifest.mkdir()
    (no_manifest / "a.py").write_text("x")
    link = tmp_path / "memlint-verify-link"
    link.symlink_to(gone)

    removed = sweep_stale(tmp_path)
    assert removed == [gone]
    assert not gone.exists()
    assert sorted(p.name for p in stale.iterdir()) == ["left-by-user.txt"]  # ours removed, the user's kept
    assert (live / "a.py").exists() and (unrelated / "a.py").exists() and (no_manifest / "a.py").exists()
    assert link.is_symlink()


def test_verify_keeps_a_file_someone_put_in_its_work_folder(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    script = tmp_path / "intruder.py"
    script.write_text(textwrap.dedent(f"""
        import glob, os
        for folder in glob.glob(os.path.join({str(temp)!r}, "memlint-verify-*")):
            with open(os.path.join(folder, "notes.txt"), "w") as f:
                f.write("mine")
        print("ok")
    """))
    proc = run_memlint("verify", script, "--against", script, "--repeat", "1", cwd=tmp_path, env={"TMPDIR": str(temp)})
    assert proc.returncode == 1, proc.stderr
    folders = list(temp.iterdir())
    assert len(folders) == 1
    assert [p.name for p in folders[0].iterdir()] == ["notes.txt"]  # memlint's own files are gone
    assert (folders[0] / "notes.txt").read_text() == "mine"


def test_estimate_keeps_a_file_someone_put_in_its_work_folder(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    script = tmp_path / "intruder.py"
    script.write_text(textwrap.dedent(f"""
        import glob, os
        import torch
        for folder in glob.glob(os.path.join({str(temp)!r}, "memlint-estimate-*")):
            fd = os.open(os.path.join(folder, "notes.txt"), os.O_CREAT | os.O_WRONLY)  # not through open()
            os.write(fd, b"mine")
            os.close(fd)
        model = torch.nn.Linear(4, 4)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            model(torch.randn(2, 4)).sum().backward()
            opt.step()
    """))
    proc = run_memlint("estimate", "--output-format", "json", "--no-levers", script, cwd=tmp_path,
                       env={"TMPDIR": str(temp)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["peak_bytes"] > 0
    folders = [p for p in temp.iterdir() if p.name.startswith("memlint-")]
    assert len(folders) == 1
    assert [p.name for p in folders[0].iterdir()] == ["notes.txt"]

"""Safe reruns on shared servers: interrupted prepare/train runs that the next run understands,
the user's umask on every output, a full disk, and two runs writing one folder at once."""
from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sigvision.io import artifacts
from sigvision.io.artifacts import folder_lock, remove_stale_temps, write_json
from sigvision.cli import main
from sigvision.config.load import config_from_dict
from sigvision.errors import InputFileError
from sigvision.io.runs import JOURNAL_NAME, load_prepared
from sigvision.steps.prepare import folder_state, prepare_dataset
from tests.paths import REPO



def _cfg(root, **data):
    return config_from_dict({"name": "t", "data": {"root": str(root), **data},
                             "render": {"height": 16, "width": 16}})


def _prep_args(root, out, *extra):
    return ["--quiet", "prepare", "--set", f"data.root={root}", "--set", "render.height=16",
            "--set", "render.width=16", "--out", str(out), *extra]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# --- interrupted prepare ------------------------------------------------------------------

def test_interrupted_prepare_is_named_and_update_resumes_it(synth_dir4, tmp_path, monkeypatch, capsys):
    """A prepare that fails on its third recording leaves a journal of the two it finished:
    the next plain run says an interrupted prepare is here, a reader refuses the folder, and
    --update resumes: the finished recordings are not read again, and the result equals a
    prepare that never stopped."""
    import sigvision.steps.prepare as psg  # the name prepare reads recordings with

    out = tmp_path / "p"
    real = psg.load_sleep_night
    calls: list[str] = []

    def failing(path, *a, **kw):
        calls.append(Path(path).name)
        if len(calls) == 3:
            raise KeyboardInterrupt("power cut")
        return real(path, *a, **kw)

    monkeypatch.setattr(psg, "load_sleep_night", failing)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(_cfg(synth_dir4), out)
    assert folder_state(out) == "interrupted" and (out / JOURNAL_NAME).is_file()
    assert not (out / "prepare.json").exists()

    assert main(_prep_args(synth_dir4, out)) == 2
    err = capsys.readouterr().err.strip()
    assert "an interrupted prepare is here (2 recording(s) finished before it stopped)" in err, err
    assert "--update resumes it, --overwrite starts over" in err and "already holds results" not in err
    with pytest.raises(InputFileError, match="interrupted .*--update"):
        load_prepared(out)

    calls.clear()
    monkeypatch.setattr(psg, "load_sleep_night", lambda path, *a, **kw: (calls.append(Path(path).name),
                                                                         real(path, *a, **kw))[1])
    res = prepare_dataset(_cfg(synth_dir4), out, update=True)
    assert len(calls) == 2  # only the two recordings the journal did not list were read
    assert not (out / JOURNAL_NAME).exists() and folder_state(out) == "finished"
    monkeypatch.setattr(psg, "load_sleep_night", real)
    ref = prepare_dataset(_cfg(synth_dir4), tmp_path / "ref")
    a, _ = load_prepared(out)
    b, _ = load_prepared(tmp_path / "ref")
    pd.testing.assert_frame_equal(a, b)
    assert res.n_samples == ref.n_samples
    for rec in a["record"].unique():
        np.testing.assert_array_equal(np.load(out / "signals" / f"{rec}.npy"),
                                      np.load(tmp_path / "ref" / "signals" / f"{rec}.npy"))
        np.testing.assert_array_equal(np.load(res.cache_dir / f"{rec}.npy"), np.load(ref.cache_dir / f"{rec}.npy"))


def test_prepare_killed_mid_write_leaves_no_file_taken_for_complete(synth_dir4, tmp_path):
    """SIGKILL while the second night's image cache is half-written: the half-written file only
    ever existed under a temporary name; --update removes it, rebuilds that night and reuses
    the first."""
    out = tmp_path / "p"
    script = textwrap.dedent(f"""
        import os, signal
        from sigvision.steps import prepare
        from sigvision.config.load import config_from_dict
        real = prepare._save_memmap_images
        n = []
        def dying(path, shape, fill):
            n.append(path)
            if len(n) == 2:
                def half(mm):
                    mm[: len(mm) // 2] = 7
                    mm.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(path, shape, half)
            return real(path, shape, fill)
        prepare._save_memmap_images = dying
        cfg = config_from_dict({{"name": "t", "data": {{"root": {str(synth_dir4)!r}}},
                                "render": {{"height": 16, "width": 16}}}})
        prepare.prepare_dataset(cfg, {str(out)!r})
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    temps = [p for p in out.rglob(".*.npy")]
    assert temps, "the killed write should have left its temporary file"
    cache = next((out / "cache").iterdir())
    assert [p.name for p in cache.glob("*.npy") if not p.name.startswith(".")] == ["SYN_SC4001E0.npy"]
    assert folder_state(out) == "interrupted"
    res = prepare_dataset(_cfg(synth_dir4), out, update=True)
    assert not list(out.rglob(".*.npy")) and not list(out.rglob(".*.tmp"))
    idx, _ = load_prepared(out)
    assert res.n_records == 4
    for rec, g in idx.groupby("record"):
        imgs = np.load(res.cache_dir / f"{rec}.npy")
        assert imgs.shape[0] == len(g) and not (imgs == 7).all(axis=(1, 2, 3)).any()


def test_finished_and_foreign_folders_get_their_own_messages(synth_dir, tmp_path, capsys):
    out = tmp_path / "p"
    assert main(_prep_args(synth_dir, out)) == 0
    capsys.readouterr()
    assert main(_prep_args(synth_dir, out)) == 2
    err = capsys.readouterr().err
    assert "already holds a finished prepare" in err and "--update refreshes it" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(_prep_args(synth_dir, other, "--update")) == 2
    assert "not a sigvision prepare" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "mine"


# --- umask --------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_honour_the_umask(synth_dir, tmp_path, umask):
    old = os.umask(umask)
    try:
        p = write_json(tmp_path / "a" / "x.json", {"a": 1})
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        assert _mode(p) == _mode(plain) == 0o666 & ~umask
        res = prepare_dataset(_cfg(synth_dir), tmp_path / f"p{umask:o}")
    finally:
        os.umask(old)
    files = [f for f in res.out_dir.rglob("*") if f.is_file()]
    assert files and {_mode(f) for f in files} == {0o666 & ~umask}


# --- disk full ----------------------------------------------------------------------------

def test_disk_full_keeps_the_old_file_and_names_the_new_one(tmp_path, monkeypatch):
    target = tmp_path / "probs.json"
    write_json(target, {"old": True})
    real = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artifacts.os, "fsync", full)
    with pytest.raises(InputFileError, match=r"probs\.json: no space left on device while writing this file"):
        write_json(target, {"new": True})
    monkeypatch.setattr(artifacts.os, "fsync", real)
    assert target.read_text().strip().startswith('{\n  "old": true')
    assert [p.name for p in tmp_path.iterdir()] == ["probs.json"]  # no temporary file left


def test_prepare_on_a_full_disk_then_rerun_after_freeing_space(synth_dir4, tmp_path, monkeypatch, capsys):
    """The disk fills while the third night's signals are written: one line naming that file and
    'no space left on device', nothing half-written, and after space is freed the --update
    the message suggests completes the folder."""
    import sigvision.steps.prepare as prep

    out = tmp_path / "p"
    real = prep.save_npy
    n = []

    def full(path, arr):
        n.append(path)
        if len(n) == 3:
            with open(Path(path).parent / f".{Path(path).name}.abcd1234.npy", "wb") as fh:  # what a write had begun
                fh.write(b"partial")
            raise InputFileError(path, artifacts._DISK_FULL, "x")
        return real(path, arr)

    monkeypatch.setattr(prep, "save_npy", full)
    assert main(_prep_args(synth_dir4, out)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no space left on device" in err and str(n[2]) in err
    assert "then run the same prepare with --update to resume it" in err
    monkeypatch.setattr(prep, "save_npy", real)
    assert main(_prep_args(synth_dir4, out, "--update")) == 0
    assert not list(out.rglob(".*.npy"))
    assert load_prepared(out)[0]["record"].nunique() == 4


def test_memmap_cache_space_is_reserved_before_writing(tmp_path, monkeypatch):
    """Without the reservation a full disk kills the process with SIGBUS on a page write."""
    import sigvision.steps.prepare as prep

    def no_room(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(prep.os, "posix_fallocate", no_room)
    wrote = []
    with pytest.raises(InputFileError, match="no space left on device"):
        prep._save_memmap_images(tmp_path / "c.npy", (4, 3, 8, 8), lambda mm: wrote.append(1))
    assert not wrote and not list(tmp_path.iterdir())


# --- two runs, one folder ---------------------------------------------------------------

def test_a_second_prepare_of_a_locked_folder_is_refused(synth_dir, tmp_path, capsys):
    out = tmp_path / "p"
    with folder_lock(out, "sigvision prepare"):
        assert main(_prep_args(synth_dir, out, "--overwrite")) == 2
        err = capsys.readouterr().err
        assert "another run is writing this folder (sigvision prepare, pid " in err and f"{os.getpid()}" in err
    assert main(_prep_args(synth_dir, out, "--overwrite")) == 0  # released


def test_two_prepares_started_together_one_is_refused_and_the_folder_is_whole(synth_dir4, tmp_path):
    out = tmp_path / "p"
    cmd = [sys.executable, "-m", "sigvision", *_prep_args(synth_dir4, out, "--overwrite")]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errs = [e for _, e in outs]
    if codes == [0, 0]:  # the second started after the first had finished: both complete, in turn
        pass
    else:
        assert codes == [0, 2], errs
        assert any("another run is writing this folder" in e for e in errs), errs
    idx, meta = load_prepared(out)
    assert idx["record"].nunique() == 4 and meta["summary"]["records"] == 4


def test_a_killed_holder_releases_the_lock(tmp_path):
    out = tmp_path / "p"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from sigvision.io.artifacts import folder_lock
        with folder_lock({str(out)!r}, "holder"):
            print("locked", flush=True)
            time.sleep(60)
    """)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(InputFileError, match=r"another run is writing this folder \(holder, pid"):
            with folder_lock(out, "me"):
                pass
        holder.kill()
        holder.wait(timeout=30)
        with folder_lock(out, "me"):
            pass
    finally:
        holder.kill()


def test_stale_temp_files_are_recognised_and_others_kept(tmp_path):
    (tmp_path / "sub").mkdir()
    stale = [tmp_path / ".index.csv.k2j_9abc.csv", tmp_path / "sub" / ".E1.npy.a1b2c3d4.npy",
             tmp_path / ".last.pt.zz99yy88.pt"]
    keep = [tmp_path / ".sigvision.lock", tmp_path / ".prepare-journal.jsonl", tmp_path / "index.csv",
            tmp_path / ".hidden_notes.txt"]
    for p in stale + keep:
        p.write_text("x")
    assert remove_stale_temps(tmp_path) == 3
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)


def test_train_of_a_model_folder_another_run_holds_is_refused(synth_dir4, tmp_path):
    """Two trainings of one model folder: the second is refused and writes nothing; a second
    model of the same experiment trains beside it (the lock is per model folder)."""
    from sigvision.train.checkpoints import model_dir
    from sigvision.steps.train import train

    prepared = tmp_path / "prep"
    base = {"name": "t", "seed": 3, "prepared_dir": str(prepared), "weights_dir": str(tmp_path / "w"),
            "data": {"root": str(synth_dir4)}, "render": {"height": 16, "width": 16},
            "train": {"folds": 2, "epochs": 1, "batch_size": 16, "max_steps_per_epoch": 1}}
    prepare_dataset(config_from_dict(base), prepared)
    vit = config_from_dict({**base, "model": {"name": "test_vit"}})
    eff = config_from_dict({**base, "model": {"name": "test_efficientnet"}})
    with folder_lock(model_dir(vit), "sigvision train"):
        with pytest.raises(InputFileError, match="another run is writing this folder"):
            train(vit)
        assert not list(model_dir(vit).glob("fold_*")) and not (model_dir(vit) / "config.yaml").exists()
        assert [r["epochs_run"] for r in train(eff)] == [1, 1]
    assert [r["epochs_run"] for r in train(vit)] == [1, 1]


def test_a_prepare_that_fails_before_finishing_a_recording_leaves_the_folder_as_it_was(synth_dir, tmp_path,
                                                                                      monkeypatch):
    """Nothing to resume: a fresh folder stays empty (the fixed command then runs as typed) and
    an --update of a finished folder leaves it finished."""
    import sigvision.steps.prepare as psg  # the name prepare reads recordings with

    out = tmp_path / "p"
    real = psg.load_sleep_night

    def bad(*a, **kw):
        raise InputFileError("x.edf", "a bad file", "fix it")

    monkeypatch.setattr(psg, "load_sleep_night", bad)
    with pytest.raises(InputFileError, match="a bad file"):
        prepare_dataset(_cfg(synth_dir), out)
    assert folder_state(out) == "empty"
    monkeypatch.setattr(psg, "load_sleep_night", real)
    res = prepare_dataset(_cfg(synth_dir), out)
    monkeypatch.setattr(psg, "load_sleep_night", bad)
    (res.cache_dir / "SYN_SC4001E0.npy").unlink()  # so --update reads that night again
    with pytest.raises(InputFileError, match="a bad file"):
        prepare_dataset(_cfg(synth_dir), out, update=True)
    assert folder_state(out) == "finished" and (out / "index.csv").is_file()

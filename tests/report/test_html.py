"""The evaluation HTML page: self-contained (images embedded, no network), escaped, and every
image decodes in headless Chromium (Debian's `chromium`, installed here when absent)."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sigvision.config.load import config_from_dict
from sigvision.errors import InputFileError
from sigvision.report.html import roc_png, write_html_report

_RUNS: dict = {}
_CHROMIUM: dict = {}


def trained_sleep_run(tmp_path_factory):
    """A small evaluated sleep run (shared with test_interop): 4 synthetic nights, test_vit and
    resnet1d_tiny at 32 px, 2 folds x 2 epochs, OOF -> sqrt blend -> rules -> evaluate."""
    if "sleep" in _RUNS:
        return _RUNS["sleep"]
    from sigvision.steps.infer import infer
    from sigvision.steps.blend import run_blend
    from sigvision.steps.evaluate import run_evaluate
    from sigvision.steps.postprocess import run_postprocess
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.synth.samples import write_sample_psg
    from sigvision.steps.train import train

    base = tmp_path_factory.mktemp("sleep_run")
    write_sample_psg(base / "psg", 4, seed=1, max_epochs=30)
    d = {"name": "rep", "seed": 1, "prepared_dir": str(base / "prep"), "weights_dir": str(base / "w"),
         "data": {"root": str(base / "psg")}, "render": {"height": 32, "width": 32}, "model": {"name": "test_vit"},
         "train": {"folds": 2, "epochs": 2, "batch_size": 32, "lr": 0.002, "fmix_p": 0.0, "cutout_p": 0.0,
                   "keep_every_epoch": False},
         "blend": {"models": ["test_vit", "resnet1d_tiny"]}}
    cfg = config_from_dict(d)
    prepare_dataset(cfg, cfg.prepared_path)
    for model in ("test_vit", "resnet1d_tiny"):
        c = config_from_dict({**d, "model": {"name": model}})
        train(c)
        infer(c)
    run_blend(cfg)
    run_postprocess(cfg)
    run_evaluate(cfg)
    _RUNS["sleep"] = (cfg, base)
    return _RUNS["sleep"]


def chromium_or_skip() -> str:
    """Path of a headless-capable Chromium; installs Debian's `chromium` once when absent."""
    if "path" in _CHROMIUM:
        return _CHROMIUM["path"]
    if "skip" in _CHROMIUM:
        pytest.skip(_CHROMIUM["skip"])
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    reason = ""
    if exe is None:
        apt = shutil.which("apt-get")
        if apt is None:
            reason = "chromium is not installed and apt-get is not available to install it"
        elif hasattr(os, "geteuid") and os.geteuid() != 0:
            reason = "chromium is not installed and installing it needs root (apt-get install chromium)"
        else:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            try:
                cmd = [apt, "install", "-y", "--no-install-recommends", "chromium"]
                r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
                if r.returncode != 0 and "Unable to locate package" in (r.stderr + r.stdout):
                    subprocess.run([apt, "update"], env=env, capture_output=True, timeout=180)  # empty package lists
                    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
                if r.returncode != 0:
                    tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
                    reason = f"apt-get install chromium failed (exit {r.returncode}: {tail[0][:200]})"
            except subprocess.TimeoutExpired:
                reason = "apt-get install chromium timed out"
            exe = shutil.which("chromium") or shutil.which("chromium-browser")
            if exe is None and not reason:
                reason = "apt-get install chromium finished but no chromium executable is on PATH"
    if exe is None:
        _CHROMIUM["skip"] = reason
        pytest.skip(reason)
    _CHROMIUM["path"] = exe
    return exe


def render_dom(page: Path, tmp_path: Path) -> str:
    exe = chromium_or_skip()
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                        "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def _loaded(dom: str) -> tuple[int, int]:
    body = re.search(r"<body[^>]*>", dom).group(0)
    loaded = re.search(r'data-images-loaded="(\d+)"', body)
    total = re.search(r'data-images-total="(\d+)"', body)
    assert loaded and total, f"the page script did not run: {body}"
    return int(loaded.group(1)), int(total.group(1))


def _assert_self_contained(text: str) -> None:
    srcs = re.findall(r'<img[^>]+src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', text)  # no network resources
    assert "<link" not in text
    assert "default-src 'none'" in text


def test_sleep_report_images_load_in_chromium(tmp_path_factory, tmp_path):
    cfg, _ = trained_sleep_run(tmp_path_factory)
    eval_dir = cfg.run_path / "eval"
    page = write_html_report(cfg, eval_dir)
    assert page == eval_dir / "report.html"
    for png in ("training_curves_test_vit.png", "training_curves_resnet1d_tiny.png"):
        assert (eval_dir / png).read_bytes().startswith(b"\x89PNG")  # the PNGs behind the page
    text = page.read_text(encoding="utf-8")
    _assert_self_contained(text)
    nights = pd.read_csv(eval_dir / "per_night.csv", dtype={"record": str})["record"].tolist()
    assert len(nights) == 4
    n_img = len(re.findall(r"<img ", text))
    assert n_img == 2 + 1 + len(nights)  # training curves x 2, confusion matrix, a hypnogram per night
    for needle in ("Training curves", "Confusion matrix", "Sleep statistics", "Hypnograms (4)", "kappa", "TST",
                   "prepare.json summary", "weight test_vit", "checkpoint test_vit", "resolved config (YAML)",
                   *nights):
        assert needle in text, needle
    loaded, total = _loaded(render_dom(page, tmp_path))
    assert total == n_img and loaded == total


def _fake_ecg_run(tmp_path: Path, name: str = "ecg") -> tuple:
    """An ECG run's files as run_evaluate/blend would leave them (no training needed)."""
    cfg = config_from_dict({"name": name, "weights_dir": str(tmp_path / "w"), "prepared_dir": str(tmp_path / "p"),
                            "data": {"task": "ecg", "format": "wfdb"}, "model": {"name": "resnet1d_tiny"},
                            "blend": {"models": ["resnet1d_tiny"], "method": "mean", "fit_metric": "none",
                                      "calibrate": False}})
    classes = ["426783006", "164889003", "713427006|59118001", "17338001"]
    rng = np.random.default_rng(0)
    y = (rng.random((40, 4)) < 0.4).astype(int)
    y[:, 3] = 0  # a class never present: no ROC curve for it
    p = np.clip(y * 0.5 + rng.random((40, 4)) * 0.6, 0, 1)
    run = cfg.run_path
    (run / "eval").mkdir(parents=True)
    table = pd.DataFrame({"record": [f"E{i:05d}" for i in range(40)], "epoch": 0})
    for j, c in enumerate(classes):
        table[f"prob_{c}"] = p[:, j]
    table.to_csv(run / "files_blend_mean_oof.csv", index=False)
    (run / "files_blend_mean_oof.json").write_text(json.dumps(
        {"models": ["resnet1d_tiny"], "method": "mean", "weights": {"resnet1d_tiny": 1.0}, "weights_from": "equal",
         "classes": classes, "labels": y.tolist(), "multilabel": True}))
    (run / "eval" / "metrics.json").write_text(json.dumps(
        {"overall": {"challenge_score": 0.41, "macro_f1": 0.5, "macro_auroc": 0.8, "macro_auprc": 0.6,
                     "accuracy": 0.2, "auc_skipped_classes": ["17338001"], "n_recordings": 40, "n_classes": 4},
         "n_records": 40, "source": str(run / "files_post.csv")}))
    pd.DataFrame({"class": classes, "abbreviation": ["NSR", "AF", "CRBBB|RBBB", "VPB"], "support": y.sum(0),
                  "n_predicted": [10, 12, 9, 0], "f1": [0.5, 0.6, 0.4, np.nan], "auroc": [0.8, 0.9, 0.7, np.nan],
                  "auprc": [0.6, 0.7, 0.5, np.nan], "threshold": [0.5] * 4}).to_csv(run / "eval" / "per_class.csv",
                                                                                  index=False)
    for k in (0, 1):
        f = run / "resnet1d_tiny" / f"fold_{k}" / "metrics.csv"
        f.parent.mkdir(parents=True)
        pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [0.7, 0.5, 0.4], "val_loss": [0.69, 0.6, 0.62],
                      "accuracy": [0.1, 0.2, 0.2], "macro_f1": [0.2, 0.3, 0.3], "auroc": [0.5, 0.6, 0.65],
                      "challenge": [0.1, 0.3, 0.25 + k / 10], "lr": 1e-3, "train_img_s": 100.0,
                      "seconds": 1.0}).to_csv(f, index=False)
    return cfg, y, p, classes


def test_ecg_report_per_class_table_and_roc(tmp_path):
    cfg, *_ = _fake_ecg_run(tmp_path)
    page = write_html_report(cfg)
    eval_dir = cfg.run_path / "eval"
    assert (eval_dir / "roc.png").read_bytes().startswith(b"\x89PNG")
    assert (eval_dir / "training_curves_resnet1d_tiny.png").is_file()
    text = page.read_text(encoding="utf-8")
    _assert_self_contained(text)
    assert len(re.findall(r"<img ", text)) == 2  # training curves + ROC
    for needle in ("challenge_score", "Per class", "CRBBB|RBBB", "ROC curves", "best challenge",
                   "AUROC/AUPRC skipped for classes with a single label value: 17338001"):
        assert needle in text, needle
    assert "Hypnograms" not in text
    loaded, total = _loaded(render_dom(page, tmp_path))
    assert loaded == total == 2


def test_text_is_escaped_and_missing_parts_are_noted(tmp_path):
    cfg, *_ = _fake_ecg_run(tmp_path, name="x<script>alert(1)</script>&")
    (cfg.run_path / "files_blend_mean_oof.json").unlink()
    pd.DataFrame({"class": ["<b>1</b>"], "f1": [0.5]}).to_csv(cfg.run_path / "eval" / "per_class.csv", index=False)
    text = write_html_report(cfg).read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text and "x&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in text
    assert "<b>1</b>" not in text and "&lt;b&gt;1&lt;/b&gt;" in text
    assert "files_blend_mean_oof.csv (+ .json) not found" in text
    assert text.count("<script>") == 1  # only the image-count script


def test_report_needs_an_evaluated_run(tmp_path):
    cfg = config_from_dict({"name": "none", "weights_dir": str(tmp_path)})
    with pytest.raises(InputFileError, match="metrics.json.*sigvision evaluate"):
        write_html_report(cfg)


def test_roc_png():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    p = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.6], [0.3, 0.1]])
    png = roc_png(y, p, ["a", "b"], title="t")
    assert png.startswith(b"\x89PNG")
    assert roc_png(y[:, 0], p[:, 0], ["a"]).startswith(b"\x89PNG")  # one class as 1-D arrays
    with pytest.raises(ValueError, match="same"):
        roc_png(y, p[:3], ["a", "b"])
    with pytest.raises(ValueError, match="0/1"):
        roc_png(y * 2, p, ["a", "b"])
    with pytest.raises(ValueError, match="finite"):
        roc_png(y, p * np.nan, ["a", "b"])
    with pytest.raises(ValueError, match="one per class"):
        roc_png(y, p, ["a"])
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_png(np.ones_like(y), p, ["a", "b"])


def test_report_inlines_a_bounded_number_of_hypnograms(tmp_path_factory, monkeypatch):
    """Thousands of nights must not make a page of hundreds of MB: past the cap, the report
    names the hypnogram files it leaves out instead of inlining them."""
    import sigvision.report.html as H

    cfg, _ = trained_sleep_run(tmp_path_factory)
    eval_dir = cfg.run_path / "eval"
    monkeypatch.setattr(H, "MAX_INLINE_HYPNOGRAMS", 3)
    text = write_html_report(cfg, eval_dir).read_text(encoding="utf-8")
    nights = pd.read_csv(eval_dir / "per_night.csv", dtype={"record": str})["record"].tolist()
    assert len(re.findall(r'<img [^>]*alt="hypnogram ', text)) == 3
    assert "other 1 are the files hypnogram_&lt;record&gt;.png" in text and nights[3] in text
    assert "Hypnograms (4)" in text

"""``python -m benchmarks``: the table and the last JSON line with the stable keys."""
import json
import os
import subprocess
import sys

import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.__main__ import STABLE_KEYS, build_rows, print_table  # noqa: E402


def test_table_from_results_marks_targets_and_failures(capsys):
    results = {
        "render": {"render_speedup_vs_matplotlib": 230.0, "ours_ms_per_image": 0.25, "matplotlib_ms_per_image": 57.0,
                   "image_px": 224, "night_epochs": 1000, "night_render_s": 0.25},
        "train_throughput": {"datapath_ratio": 0.9, "pipeline_img_s": 90.0, "model_only_img_s": 100.0,
                             "infer_img_s": {"vit_base_patch16_224@224": 1.6}, "train_img_s": {"vit_base_patch16_224@224": 0.4}},
        "memory": {"mem_ratio_8v1": 1.1, "prepare_time_ratio_8v1": 8.2, "nights": 8},
        "postprocess": {"postprocess_1000_nights_s": {"argmax": 0.2, "rules": 0.4, "hmm": 6.0}, "timing_nights": 1000},
        "cache": {"cache_speedup": 1.1},
    }
    rows = build_rows(results, {"night_e2e": "exit 1: boom"})
    by = {r["key"]: r for r in rows}
    assert by["render"]["pass"] is True and by["datapath"]["pass"] is False
    assert by["mem_8v1"]["pass"] is True and by["prepare_8v1"]["pass"] is True
    assert by["postprocess"]["pass"] is False  # hmm over 5 s
    assert by["cache"]["pass"] is True and by["infer_vit_base_patch16_224@224"]["figure"] == "1.6 img/s"
    assert by["night_e2e"]["pass"] is None and "boom" in by["night_e2e"]["absolute"]
    assert "realism" not in by
    print_table(rows, {"cpu": "test cpu", "cores": 2, "torch": "x", "gpu": None})
    out = capsys.readouterr().out
    assert "test cpu" in out and "NO" in out and "yes" in out


def test_preset_rows_show_the_gpu_figures_when_measured():
    t = {"datapath_ratio": 0.96, "pipeline_img_s": 96.0, "model_only_img_s": 100.0,
         "train_img_s": {"vit_base_patch16_224@224": 400.0, "tf_efficientnet_b4_ns@380": 150.0},
         "infer_img_s": {"vit_base_patch16_224@224": 1500.0, "tf_efficientnet_b4_ns@380": 600.0},
         "pipeline_train_img_s": {"vit_base_patch16_224@224": 340.0, "tf_efficientnet_b4_ns@380": 140.0},
         "datapath_ratio_presets": {"vit_base_patch16_224@224": 0.85, "tf_efficientnet_b4_ns@380": 0.93},
         "peak_gpu_mem_gib": {"vit_base_patch16_224@224": {"train": 12.5, "infer": 1.1}},
         "preset_batch": {"vit_base_patch16_224@224": {"train": 64, "infer": 128, "amp": "bf16"}}}
    by = {r["key"]: r for r in build_rows({"train_throughput": t}, {})}
    vit = by["datapath_vit_base_patch16_224@224"]
    assert vit["pass"] is False and vit["target"] == ">= 0.90" and "340 vs 400 img/s (batch 64)" in vit["absolute"]
    assert by["datapath_tf_efficientnet_b4_ns@380"]["pass"] is None  # no target for EfficientNet-B4
    assert "peak GPU memory 12.5 GiB training" in by["infer_vit_base_patch16_224@224"]["absolute"]


def test_preset_path_runs_on_cpu_with_tiny_configs():
    """The GPU preset path (the config's optimiser, AMP, channels_last, augmentation and loader;
    full pipeline beside the model; inference) runs end to end, here on CPU with the demo configs."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "benchmarks/train_throughput.py", "--size", "32", "--batch", "8", "--steps", "2",
                        "--rounds", "1", "--nights", "2", "--images", "64",
                        "--presets", "configs/sleep_demo_eff.yaml", "--preset-datapath",
                        "--preset-steps", "2"],
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    key = "test_efficientnet@96"
    assert res["preset_batch"][key]["optimizer"] == "adamp"
    for k in ("train_img_s", "infer_img_s", "pipeline_train_img_s"):
        assert res[k][key] > 0
    assert 0 < res["datapath_ratio_presets"][key] < 2 and res["peak_gpu_mem_gib"] is None  # no GPU here


@pytest.mark.slow
def test_quick_run_prints_the_table_and_stable_json(tmp_path):
    # every benchmark at small sizes except the training-throughput script (~15 s more of imports
    # and timing; its row is covered above); the figures are meaningless, the shape is checked
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--quiet", "--skip", "train_throughput",
                        "--json-out", str(tmp_path / "all.json")],
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    res = json.loads(lines[-1])
    assert set(STABLE_KEYS) <= set(res)
    for key in ("render_speedup_vs_matplotlib", "night_end_to_end_s", "mem_ratio_8v1", "prepare_time_ratio_8v1",
                "cache_speedup"):
        assert isinstance(res[key], (int, float)) and res[key] > 0, key
    assert set(res["postprocess_1000_nights_s"]) >= {"argmax", "rules", "hmm"}
    assert res["datapath_ratio"] is None and res["infer_img_s"] is None  # skipped / not --full
    assert res["errors"] == {} and res["quick"] is True
    assert any(line.startswith("machine:") for line in lines)
    assert any("4. peak RSS predicting 8 nights / 1 night" in line for line in lines)
    full = json.loads((tmp_path / "all.json").read_text())
    assert full["results"]["memory"]["nights"] == 8


def test_preset_inference_is_timed_without_the_training_state(monkeypatch, tmp_path):
    """The preset's inference phase (whose peak GPU memory is reported) runs without the
    optimiser's moments: left in place they were counted in 'peak GPU memory ... inference'
    (twice the weights for Adam/AdamP)."""
    import torch

    import sigvision.train.optim
    from benchmarks import train_throughput as tt

    opts = []
    make = sigvision.train.optim.make_optimizer
    monkeypatch.setattr(sigvision.train.optim, "make_optimizer", lambda tcfg, model: opts.append(make(tcfg, model)) or opts[-1])
    held = {}
    side = tt.side_by_side

    def spy(kinds, *a, **kw):
        held.update({k: sum(len(s) for s in opts[-1].state.values()) for k in kinds})
        return side(kinds, *a, **kw)

    monkeypatch.setattr(tt, "side_by_side", spy)
    f = tt.preset_figures("configs/sleep_demo_eff.yaml", ["render.height=32", "render.width=32"],
                          torch.device("cpu"), str(tmp_path), batch=2, infer_batch=2, steps=1, rounds=1,
                          datapath=False, workers=0)
    assert f["infer_img_s"] > 0 and held["model"] == 0 and held["infer"] == 0


def test_side_by_side_drains_a_prefetching_loader_before_timing_it():
    """A loader whose workers prefetch while the model-only steps run must not look fast: with
    ``drain`` its queue is emptied before each timed block, so a producer 8x slower than the
    model shows as a ratio near 0.15 (a batch or two arrive during the drain), not 1. The
    margins are wide: sleeps overshoot on a loaded machine (a 4x slower producer with 6 timed
    steps once gave 0.53)."""
    import queue
    import threading
    import time

    import numpy as np
    import torch

    from benchmarks.train_throughput import side_by_side

    q: queue.Queue = queue.Queue(maxsize=8)  # 8 batches prefetched, like 2 workers x prefetch 4
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            time.sleep(0.016)  # one batch every 16 ms
            try:
                q.put(1, timeout=0.05)
            except queue.Full:
                pass

    threading.Thread(target=worker, daemon=True).start()
    try:
        def model():
            time.sleep(0.002)  # the model: 2 ms a step

        def pipe():
            q.get()
            model()

        def ratio(**kw):
            while not q.full():  # the workers had the model-only time to fill their queue
                time.sleep(0.005)
            secs = side_by_side({"model": model, "pipeline": pipe}, 8, 1, torch.device("cpu"), warmup=0, **kw)
            return float(np.median(np.array(secs["model"]) / np.array(secs["pipeline"])))

        hidden = ratio(block=8)  # blocks of 8 with no drain: the timed steps take prefetched batches
        drained = ratio(drain={"pipeline": 8})
        assert drained < 0.5 < hidden, (drained, hidden)  # drained: about 16 / 100
    finally:
        stop.set()

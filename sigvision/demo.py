"""``make demo`` / ``sigvision demo``: the pipeline on the shipped sample data.

Today it runs: synthetic PSG nights (EDF+) made from real human-scored hypnograms ->
``prepare`` (EDF read, epoching, rendering, image cache) -> a contact sheet per stage.
Training, inference, blending and post-processing join as they land.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["run_demo"]


def _find_config(name: str) -> Path | None:
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        p = base / "configs" / name
        if p.is_file():
            return p
    return None


def run_demo(out_dir: str | os.PathLike = "demo_out", *, nights: int = 4, max_epochs: int | None = None,
             overwrite: bool = False, progress: bool = True) -> dict:
    """Run the demo into ``out_dir``; returns the paths it wrote."""
    from .artifacts import write_bytes
    from .cli import _tqdm_progress
    from .config import load_config
    from .prepare import check_output_dir, contact_sheet_from_prepared, prepare_dataset
    from .report import encode_png
    from .samples import write_sample_psg

    t0 = time.perf_counter()
    out = check_output_dir(out_dir, overwrite)
    psg_dir = out / "psg"
    print(f"[1/3] synthesising {nights} PSG night(s) as EDF+ from real Sleep-EDF hypnograms -> {psg_dir}")
    write_sample_psg(psg_dir, nights, seed=0, max_epochs=max_epochs)
    cfg_path = _find_config("sleep_demo.yaml")
    cfg = load_config(cfg_path, [f"data.root={psg_dir}"])
    print(f"[2/3] prepare: read EDF, epoch, render ({cfg.render.name} {cfg.render.height}x{cfg.render.width}, "
          f"context {cfg.render.context_epochs}) -> {out / 'prepared'}")
    res = prepare_dataset(cfg, out / "prepared", progress=_tqdm_progress(progress))
    sheet_path = out / "contact_sheet.png"
    print(f"[3/3] contact sheet -> {sheet_path}")
    write_bytes(sheet_path, encode_png(contact_sheet_from_prepared(out / "prepared")))
    counts = res.summary.get("stage_counts", {})
    print()
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    print(f"  synthetic EDF nights : {psg_dir}")
    print(f"  dataset index        : {res.index_csv}  ({res.n_samples} epochs: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    print(f"  image cache          : {res.cache_dir}")
    print(f"  contact sheet        : {sheet_path}")
    print("  (signals are synthetic, driven by real hypnograms; the pipeline currently stops after "
          "prepare/render: training, inference, blending and post-processing are not built yet)")
    return {"psg": psg_dir, "prepared": out / "prepared", "contact_sheet": sheet_path}

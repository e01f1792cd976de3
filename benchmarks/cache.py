"""Render cache vs rendering on the fly: one training epoch of a tiny model, side by side.

Synthetic nights are prepared once (``sigvision prepare``: µV signals + the memory-mapped
image cache, demo settings: ``traces`` at 96 px, one context epoch each side). Two datasets
then feed the *same* training step (timm ``test_vit``, Adam, cross-entropy; same batches in the
same order, batch fetched whole, no workers):

* **cache**: :class:`sigvision.train.data.ImageRowsDataset`, which reads the prepared images;
* **on the fly**: the same class reading the prepared *signals* and rendering each batch with
  ``sigvision.render.get_renderer`` + ``context_windows`` (what training would do without
  the cache). The images are checked to be identical to the cached ones first.

After a warm-up epoch, ``--rounds`` timed epochs run both sources in lockstep (batch i from the
cache, then batch i rendered on the fly, order swapped every batch, each fetch + step timed on
its own), so background load on a shared machine hits both alike; medians over rounds. ``cache_speedup`` = on-the-fly epoch seconds / cached
epoch seconds (the second and later epochs: the cache is read from the page cache, as in
training). The data path alone (batches without the model) is timed too
(``cache_data_speedup``).

    python benchmarks/cache.py [--nights 2] [--epochs 500] [--size 96] [--batch 32] [--rounds 3]

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nights", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=500, help="epochs per night (hypnogram cropped)")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--model", default="test_vit")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    import torch
    from torch import nn

    from sigvision.config import ModelConfig
    from sigvision.config.load import load_config
    from sigvision.loaders.psg import channel_type_of
    from sigvision.models.factory import build_model
    from sigvision.io.runs import load_prepared
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.render import context_windows, get_renderer
    from sigvision.synth.samples import write_sample_psg
    from sigvision.train.data import ImageRowsDataset, normalize_batch
    from sigvision.train.loaders import ShardSampler, make_loader

    class OnTheFlyDataset(ImageRowsDataset):
        """The prepared rows rendered from the prepared signals at every fetch (no image cache)."""

        def __init__(self, prepared_dir, rows, *, render_cfg, fs_hz, channel_types, **kw):
            super().__init__(prepared_dir, rows, **kw)
            self.renderer = get_renderer(render_cfg, fs_hz=fs_hz)
            self.channel_types = list(channel_types)

        def _set_source(self, meta: dict) -> None:
            self.cache_dir = self.prepared_dir / "signals"

        def images(self, idx) -> np.ndarray:
            idx = np.asarray(idx, dtype=np.int64)
            recs = self.records[idx]
            r = self.renderer
            out = np.empty((len(idx), 3, r.height, r.width), dtype=np.uint8)  # the cache's planar layout
            for rec in dict.fromkeys(recs):
                sel = np.flatnonzero(recs == rec)
                w, valid = context_windows(self._map(rec), self.epochs[idx[sel]], r.context)
                out[sel] = r.render(w, self.channel_types, valid).transpose(0, 3, 1, 2)
            return out

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory(prefix="sigvision_cache_") as tmp:
        write_sample_psg(f"{tmp}/psg", args.nights, seed=0, max_epochs=args.epochs)
        repo = Path(__file__).resolve().parent.parent
        cfg = load_config(repo / "configs" / "sleep_demo_vit.yaml",
                          [f"data.root={tmp}/psg", f"render.height={args.size}", f"render.width={args.size}"])
        prepare_dataset(cfg, f"{tmp}/prep")
        index, _ = load_prepared(f"{tmp}/prep")
        index = index[index["label"] >= 0].reset_index(drop=True)
        types = list(cfg.data.channel_types) or [channel_type_of(c) for c in cfg.data.channels]

        torch.manual_seed(0)
        model = build_model(ModelConfig(name=args.model), 5, img_size=args.size).to(device)
        import timm.data

        dcfg = timm.data.resolve_data_config({}, model=model.backbone)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        kw = {"mean": dcfg["mean"], "std": dcfg["std"]}
        sources = {"cache": ImageRowsDataset(f"{tmp}/prep", index, **kw),
                   "on_the_fly": OnTheFlyDataset(f"{tmp}/prep", index, render_cfg=cfg.render, fs_hz=cfg.data.fs_hz,
                                                 channel_types=types, **kw)}
        probe = np.arange(0, len(index), max(1, len(index) // 97))
        same = bool(np.array_equal(sources["cache"].images(probe), sources["on_the_fly"].images(probe)))
        if not same:
            raise SystemExit("on-the-fly images differ from the prepared cache; the comparison would be unfair")

        def step(x, y, ds):
            x = normalize_batch(x.to(device, non_blocking=True), ds.mean, ds.std)
            loss = loss_fn(model(x), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()

        def epoch(e: int, train_model: bool = True) -> dict:
            """One epoch from each source in lockstep (same batches): seconds per source, each batch's
            fetch + step timed on its own, so background load hits both sources alike."""
            its, secs = {}, {}
            for name, ds in sources.items():
                sampler = ShardSampler(len(ds), shuffle=True, seed=0)
                sampler.set_epoch(e)
                its[name] = iter(make_loader(ds, sampler, args.batch, 0, device, drop_last=True))
                secs[name] = 0.0
            model.train()
            order = list(sources)
            for i in range(len(index) // args.batch):
                for name in (order if i % 2 == 0 else order[::-1]):
                    t0 = time.perf_counter()
                    x, y, _ = next(its[name])
                    if train_model:
                        step(x, y, sources[name])
                    secs[name] += time.perf_counter() - t0
            return secs

        epoch(0)  # warm-up epoch (first reads, first forward passes)
        times = {n: [] for n in sources}
        data_times = {n: [] for n in sources}
        for r in range(args.rounds):
            for name, s in epoch(1 + r).items():
                times[name].append(s)
            for name, s in epoch(1 + r, train_model=False).items():
                data_times[name].append(s)
        n_img = (len(index) // args.batch) * args.batch

    t_cache, t_fly = float(np.median(times["cache"])), float(np.median(times["on_the_fly"]))
    d_cache, d_fly = float(np.median(data_times["cache"])), float(np.median(data_times["on_the_fly"]))
    res = {
        "cache_speedup": round(t_fly / t_cache, 3),
        "cache_data_speedup": round(d_fly / d_cache, 2),
        "epoch_cache_s": round(t_cache, 3), "epoch_on_the_fly_s": round(t_fly, 3),
        "epoch_cache_img_s": round(n_img / t_cache, 1), "epoch_on_the_fly_img_s": round(n_img / t_fly, 1),
        "data_only_cache_img_s": round(n_img / d_cache, 1), "data_only_on_the_fly_img_s": round(n_img / d_fly, 1),
        "images_per_epoch": n_img, "images_identical": same, "model": args.model, "image_px": args.size,
        "batch": args.batch, "rounds": args.rounds,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else
        f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)",
        "machine": platform.machine(),
    }
    print(f"{'training epoch (' + str(n_img) + ' images)':36s} {'s':>8s} {'img/s':>9s}")
    print(f"{'reading the render cache':36s} {t_cache:8.3f} {n_img / t_cache:9.1f}")
    print(f"{'rendering on the fly':36s} {t_fly:8.3f} {n_img / t_fly:9.1f}   cache speed-up {res['cache_speedup']}x")
    print(f"{'data path alone: cache':36s} {d_cache:8.3f} {n_img / d_cache:9.1f}")
    print(f"{'data path alone: on the fly':36s} {d_fly:8.3f} {n_img / d_fly:9.1f}   {res['cache_data_speedup']}x")
    print(f"({args.model}, {args.size} px, batch {args.batch}, {res['device']}; images identical: {same})")
    print(json.dumps(res))


if __name__ == "__main__":
    main()

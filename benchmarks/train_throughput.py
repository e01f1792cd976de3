"""Training data path vs model alone, measured side by side in one process.

(a) model only: the trainer's own step (:func:`sigvision.train.loop.optimizer_step`: forward,
    backward, optimiser) on a normalised batch already on the device; (b) full pipeline: the
    same model, batch size and step fed by the real data path (memory-mapped render cache of
    synthetic nights, the config's seeded Cutout/CoarseDropout, loader, normalisation on the
    device, FMix), with the trainer's own functions. Ratio = pipeline images/s / model-only
    images/s, the median of per-round ratios.

Tiny model (always): ``test_vit`` at 96 px, batch 32, the default training config
(``datapath_ratio``, target >= 0.95 on CPU); the albumentations backend (the seed write-up's
package, per image) is measured beside it (``datapath_ratio_albumentations``). Both read one
render cache of 4,800 images (130 MiB, 4x the development machine's L3 cache), so images come
from memory as they do from a real dataset of hundreds of nights: a cache that fits in the CPU
cache flatters the data path, and two caches read in turn (one per backend) lowered it by
about 0.02.

Presets (``--full``; ``--skip-large`` leaves them out): the card's configs,
``configs/sleep_vit_b16.yaml`` (ViT-B/16 at 224 px, Adam, batch 64) and
``configs/sleep_effnet_b4.yaml`` at 380 px (EfficientNet-B4, AdamP, batch 32), each with its
own optimiser, AMP, ``channels_last``, augmentation and loader workers, random init:

* on a GPU: training images/s of the model alone and of the full pipeline (the data-path
  ratio per preset; target >= 0.90 for ViT-B/16), inference images/s, and the peak GPU
  memory of training and of inference;
* on a CPU: training and inference images/s of the model alone on a few small batches (the
  full pipeline at these sizes takes about an hour here; ``--preset-datapath`` runs it).

    python benchmarks/train_throughput.py [--model test_vit --size 96 --batch 32 --steps 20]

Last line: one JSON object (``model_only_img_s``, ``pipeline_img_s``, ``datapath_ratio``,
``datapath_ratio_albumentations``, and per preset ``train_img_s``, ``infer_img_s``,
``pipeline_train_img_s``, ``datapath_ratio_presets``, ``peak_gpu_mem_gib``, ``preset_batch``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

# (config, overrides, CPU train batch, CPU inference batch): the card's presets
PRESETS = (
    ("configs/sleep_vit_b16.yaml", [], 4, 8),
    ("configs/sleep_effnet_b4.yaml", ["render.height=380", "render.width=380"], 2, 4),
)


class _Batches:
    """Endless batches from a loader: a new epoch of the sampler when one runs out."""

    def __init__(self, loader, sampler):
        self.loader, self.sampler = loader, sampler
        self.it = iter(loader)
        # batches its workers can have ready ahead of the consumer (0 without workers)
        self.depth = getattr(loader, "num_workers", 0) * (getattr(loader, "prefetch_factor", None) or 0)

    def next(self):
        try:
            return next(self.it)
        except StopIteration:
            self.sampler.set_epoch(self.sampler.epoch + 1)
            self.it = iter(self.loader)
            return next(self.it)


def side_by_side(kinds: dict, steps: int, rounds: int, device, warmup: int = 3, drain: dict | None = None,
                 block: int | None = None) -> dict:
    """Seconds per round for each kind of step, interleaved so that drifts of the machine's
    speed hit all kinds alike: on CPU step by step (in alternating order); on a GPU in blocks of
    ``steps`` ended by a synchronise, so the data path overlaps the queued GPU work as in
    training, the order of the kinds alternating between rounds.

    ``drain`` maps a kind to a number of untimed steps run before each of its timed blocks. A
    loader with workers goes on filling its prefetch queue while the other kinds run, so
    without first taking that many batches the timed steps would find them ready and hide a
    data path slower than the model. Kinds are timed in blocks whenever one has a drain.
    ``block`` sets the steps per timed block (default: as above)."""
    import time

    import torch

    drain = {k: int(v) for k, v in (drain or {}).items() if v}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if block is None:
        block = steps if device.type == "cuda" or drain else 1
    for f in kinds.values():
        for _ in range(warmup):
            f()
    sync()
    secs = {k: [] for k in kinds}
    for r in range(rounds):
        acc = dict.fromkeys(kinds, 0.0)
        for b in range(steps // block):
            for k in (list(kinds) if (r + b) % 2 == 0 else list(kinds)[::-1]):
                for _ in range(drain.get(k, 0)):
                    kinds[k]()
                sync()
                t = time.perf_counter()
                for _ in range(block):
                    kinds[k]()
                sync()
                acc[k] += time.perf_counter() - t
        for k in kinds:
            secs[k].append(acc[k])
    return secs


def _pipeline(cfg, tmp: str, tag: str, batch: int, workers: int, device, mean, std, n_images: int,
              nights: int = 2):
    """Synthetic nights prepared with ``cfg``'s render settings -> (dataset, endless batches)."""
    from sigvision.io.runs import load_prepared
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.synth.samples import write_sample_psg
    from sigvision.train.data import ImageRowsDataset, image_augment
    from sigvision.train.loaders import ShardSampler, make_loader

    cfg = replace(cfg, data=replace(cfg.data, root=f"{tmp}/psg_{tag}"))
    if not Path(f"{tmp}/prep_{tag}/prepare.json").is_file():  # pipelines of one tag read one cache
        write_sample_psg(f"{tmp}/psg_{tag}", nights, seed=0, max_epochs=max(100, n_images // nights))
        prepare_dataset(cfg, f"{tmp}/prep_{tag}")
    index, _ = load_prepared(f"{tmp}/prep_{tag}")
    index = index[index["label"] >= 0].reset_index(drop=True)
    ds = ImageRowsDataset(f"{tmp}/prep_{tag}", index, mean=mean, std=std, augment=image_augment(cfg.train))
    sampler = ShardSampler(len(ds), shuffle=True, seed=0)
    return ds, _Batches(make_loader(ds, sampler, batch, workers, device, drop_last=True), sampler)


def preset_figures(cfg_path, overrides, device, tmp: str, *, batch: int | None, infer_batch: int | None,
                   steps: int, rounds: int, datapath: bool, workers: int | None) -> dict:
    """Training (model alone and, with ``datapath``, the full pipeline) and inference images/s
    of one preset config, and the peak GPU memory of each on a GPU."""
    import timm.data
    import torch
    from torch import nn

    from sigvision.config.load import load_config
    from sigvision.models.factory import build_model
    from sigvision.runtime import autocast_context, resolve_amp
    from sigvision.train.data import batch_to_device, make_fmix, normalize_batch
    from sigvision.train.loaders import resolve_workers
    from sigvision.train.optim import make_optimizer
    from sigvision.train.loop import optimizer_step

    cfg = load_config(REPO / cfg_path, ["model.pretrained=false", *overrides])
    tcfg, size = cfg.train, int(cfg.render.height)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model(cfg.model, 5, img_size=size).to(device)
    if tcfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(tcfg, model)
    amp = resolve_amp(tcfg.amp, device)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=tcfg.label_smoothing)
    fmix = make_fmix(tcfg)
    rng = np.random.default_rng(0)
    dcfg = timm.data.resolve_data_config({}, model=model.backbone)
    bt = batch or tcfg.batch_size
    xr = normalize_batch(torch.randint(0, 256, (bt, 3, size, size), dtype=torch.uint8, device=device),
                         dcfg["mean"], dcfg["std"], channels_last=tcfg.channels_last)
    yr = torch.randint(0, 5, (bt,), device=device)
    step_kw = {"amp": amp, "scaler": scaler, "grad_clip_norm": tcfg.grad_clip_norm}
    kinds = {"model": lambda: optimizer_step(model, xr, yr, None, opt, loss_fn, **step_kw)}
    n_workers = resolve_workers(tcfg.num_workers if workers is None else workers)
    if datapath:
        ds, batches = _pipeline(cfg, tmp, f"{cfg.model.name}_{size}", bt, n_workers, device, dcfg["mean"],
                                dcfg["std"], bt * (steps + 4))

        def pipe_step():
            x, y, meta, mix = batch_to_device(batches.next(), ds, device, channels_last=tcfg.channels_last,
                                              fmix=fmix, rng=rng)
            optimizer_step(model, x, y, meta, opt, loss_fn, mix=mix, **step_kw)

        kinds["pipeline"] = pipe_step
    model.train()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    secs = side_by_side(kinds, steps, rounds, device, warmup=1 if not cuda else 3,
                        drain={"pipeline": batches.depth} if datapath else None)
    n_img = steps * bt
    key = f"{cfg.model.name}@{size}"
    out = {"preset": key, "config": cfg_path, "batch": bt, "amp": amp or "off", "channels_last": tcfg.channels_last,
           "optimizer": tcfg.optimizer, "train_img_s": round(n_img / float(np.median(secs["model"])), 2)}
    if cuda:
        out["peak_gpu_mem_train_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    if datapath:
        out["pipeline_train_img_s"] = round(n_img / float(np.median(secs["pipeline"])), 2)
        out["datapath_ratio"] = round(float(np.median(np.array(secs["model"]) / np.array(secs["pipeline"]))), 3)
        out["workers"] = n_workers
    # inference: the config's batch and autocast, inference mode, without the training state
    # (gradients, optimiser moments, training batch): the peak GPU memory of inference must not
    # count what an inference process does not hold
    model.eval()
    opt.zero_grad(set_to_none=True)
    opt.state.clear()
    del xr, yr
    bi = infer_batch or cfg.infer.batch_size
    iamp = resolve_amp(cfg.infer.amp, device, "infer.amp")
    xi = normalize_batch(torch.randint(0, 256, (bi, 3, size, size), dtype=torch.uint8, device=device),
                         dcfg["mean"], dcfg["std"], channels_last=tcfg.channels_last)

    def istep():
        with torch.inference_mode(), autocast_context(iamp, device):
            model(xi, None)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    isecs = side_by_side({"infer": istep}, steps, rounds, device, warmup=1 if not cuda else 3)["infer"]
    out["infer_batch"] = bi
    out["infer_img_s"] = round(steps * bi / float(np.median(isecs)), 2)
    if cuda:
        out["peak_gpu_mem_infer_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del model, opt, xi
    if cuda:
        torch.cuda.empty_cache()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="test_vit")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=9, help="rounds of interleaved steps; ratios are their median")
    ap.add_argument("--nights", type=int, default=6, help="synthetic nights in the tiny model's render cache")
    ap.add_argument("--images", type=int, default=4800,
                    help="images in that cache (default 4800: 130 MiB at 96 px, 4x the L3 cache of the "
                         "development machine, so images are read from memory as from a real dataset of "
                         "hundreds of nights, not from the CPU cache)")
    ap.add_argument("--workers", type=int, default=None,
                    help="loader workers of the tiny model's pipeline (default: 0 on <= 2 cores, where a worker "
                         "competes with the model's threads; else one per 2 cores, max 8)")
    ap.add_argument("--skip-large", action="store_true", help="leave out the presets (ViT-B/16, EfficientNet-B4)")
    ap.add_argument("--presets", default=None,
                    help="comma-separated config files to time instead of the card's presets (e.g. a tiny config "
                         "to try this script's preset path on CPU)")
    ap.add_argument("--preset-datapath", action="store_true",
                    help="also time the full pipeline of each preset on CPU (always done on a GPU)")
    ap.add_argument("--preset-steps", type=int, default=None, help="steps per round (default: 20 on GPU, 2 on CPU)")
    ap.add_argument("--preset-rounds", type=int, default=None, help="rounds (default: 5 on GPU, 1 on CPU)")
    ap.add_argument("--preset-batch", type=int, default=None,
                    help="training batch of the presets (default: the config's on GPU, 2-4 on CPU)")
    ap.add_argument("--preset-workers", type=int, default=None, help="loader workers (default: the config's)")
    args = ap.parse_args()

    import torch

    from sigvision.config import ModelConfig
    from sigvision.config.load import config_from_dict
    from sigvision.models.factory import build_model
    from sigvision.train.data import batch_to_device, image_augment, make_fmix, normalize_batch
    from sigvision.train.loop import optimizer_step

    import timm.data
    from torch import nn

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ncpu = os.cpu_count() or 2
    workers = args.workers if args.workers is not None else (0 if ncpu <= 2 else min(8, ncpu // 2))
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=args.model), 5, img_size=args.size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    dcfg = timm.data.resolve_data_config({}, model=model.backbone)
    xr = normalize_batch(torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8,
                                       device=device), dcfg["mean"], dcfg["std"])
    yr = torch.randint(0, 5, (args.batch,), device=device)
    model.train()

    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_from_dict({"data": {"root": f"{tmp}/psg"}, "render": {"height": args.size, "width": args.size}})
        tcfg = cfg.train  # the defaults: cutout p 0.5, 8 holes of 0.1 side, numpy backend; FMix p 0.5
        fmix = make_fmix(tcfg)
        rng = np.random.default_rng(0)
        pipes = {}
        for backend in ("default", "albumentations"):
            c = cfg if backend == "default" else replace(cfg, train=replace(tcfg, cutout_backend="albumentations"))
            assert backend != "default" or image_augment(c.train) is not None
            pipes[backend] = _pipeline(c, tmp, "tiny", args.batch, workers, device, dcfg["mean"], dcfg["std"],
                                       max(args.images, args.batch * 2), nights=args.nights)

        def pipe_step(backend):
            ds, batches = pipes[backend]
            x, y, meta, mix = batch_to_device(batches.next(), ds, device, fmix=fmix, rng=rng)  # as in training
            optimizer_step(model, x, y, meta, opt, loss_fn, mix=mix)

        kinds = {"model": lambda: optimizer_step(model, xr, yr, None, opt, loss_fn),
                 "default": lambda: pipe_step("default"), "albumentations": lambda: pipe_step("albumentations")}
        secs = side_by_side(kinds, args.steps, args.rounds, device,
                            drain={k: p[1].depth for k, p in pipes.items()})
        n_img = args.steps * args.batch
        model_img_s = n_img / float(np.median(secs["model"]))
        pipe_img_s = n_img / float(np.median(secs["default"]))
        pipe_alb_img_s = n_img / float(np.median(secs["albumentations"]))
        ratio = float(np.median(np.array(secs["model"]) / np.array(secs["default"])))
        ratio_alb = float(np.median(np.array(secs["model"]) / np.array(secs["albumentations"])))
        del pipes, model, opt

        res.update({"model": args.model, "image_px": args.size, "batch": args.batch, "workers": workers,
                    "model_only_img_s": round(model_img_s, 1), "pipeline_img_s": round(pipe_img_s, 1),
                    "datapath_ratio": round(ratio, 3),
                    "pipeline_albumentations_img_s": round(pipe_alb_img_s, 1),
                    "datapath_ratio_albumentations": round(ratio_alb, 3), "rounds": args.rounds,
                    "device": torch.cuda.get_device_name(0) if device.type == "cuda" else
                    f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)",
                    "machine": platform.machine()})
        print(f"{'path':28s} {'img/s':>8s}")
        print(f"{'model only (random tensors)':28s} {model_img_s:8.1f}")
        print(f"{'data path, default (numpy)':28s} {pipe_img_s:8.1f}   ratio {res['datapath_ratio']:.3f}")
        print(f"{'data path, albumentations':28s} {pipe_alb_img_s:8.1f}   ratio {res['datapath_ratio_albumentations']:.3f}")
        print(f"({args.model}, {args.size}px, batch {args.batch}, {workers} worker(s), {res['device']})")

        if not args.skip_large:
            cuda = device.type == "cuda"
            presets = ([(p.strip(), [], 2, 4) for p in args.presets.split(",")] if args.presets else PRESETS)
            for k in ("train_img_s", "infer_img_s", "pipeline_train_img_s", "datapath_ratio_presets",
                      "peak_gpu_mem_gib", "preset_batch"):
                res[k] = {}
            for cfg_path, overrides, cpu_bt, cpu_bi in presets:
                f = preset_figures(cfg_path, overrides, device, tmp,
                                   batch=args.preset_batch or (None if cuda else cpu_bt),
                                   infer_batch=None if cuda else cpu_bi,
                                   steps=args.preset_steps or (20 if cuda else 2),
                                   rounds=args.preset_rounds or (5 if cuda else 1),
                                   datapath=cuda or args.preset_datapath, workers=args.preset_workers)
                key = f["preset"]
                res["train_img_s"][key] = f["train_img_s"]
                res["infer_img_s"][key] = f["infer_img_s"]
                res["preset_batch"][key] = {"train": f["batch"], "infer": f["infer_batch"], "amp": f["amp"],
                                            "channels_last": f["channels_last"], "optimizer": f["optimizer"]}
                line = (f"{key}: train {f['train_img_s']:.2f} img/s (batch {f['batch']}, {f['optimizer']}, "
                        f"amp {f['amp']}), infer {f['infer_img_s']:.2f} img/s (batch {f['infer_batch']})")
                if "datapath_ratio" in f:
                    res["pipeline_train_img_s"][key] = f["pipeline_train_img_s"]
                    res["datapath_ratio_presets"][key] = f["datapath_ratio"]
                    line += (f"; full pipeline {f['pipeline_train_img_s']:.2f} img/s, data-path ratio "
                             f"{f['datapath_ratio']:.3f} ({f['workers']} workers)")
                if "peak_gpu_mem_train_gib" in f:
                    res["peak_gpu_mem_gib"][key] = {"train": f["peak_gpu_mem_train_gib"],
                                                    "infer": f["peak_gpu_mem_infer_gib"]}
                    line += f"; peak GPU memory train {f['peak_gpu_mem_train_gib']} GiB, infer {f['peak_gpu_mem_infer_gib']} GiB"
                print(line)
            for k in ("pipeline_train_img_s", "datapath_ratio_presets", "peak_gpu_mem_gib"):
                if not res[k]:
                    res[k] = None
    print(json.dumps(res))


if __name__ == "__main__":
    main()

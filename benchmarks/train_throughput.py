"""Training data path vs model alone, measured side by side in one process.

(a) model only: the training step (forward, backward, optimiser) on random tensors already
    in memory; (b) full pipeline: the same model, batch size and step fed by the real data
    path (memory-mapped render cache of synthetic nights, the default config's seeded cutout,
    normalisation, DataLoader batches, FMix), with the training loop's own functions.
    Ratio = pipeline images/s / model-only images/s. ``datapath_ratio`` is the default
    configuration (``train.cutout_backend: numpy``); the albumentations backend (the seed
    write-up's package, per image) is measured beside it (``datapath_ratio_albumentations``).

Also times the card's presets (ViT-B/16 at 224 px, EfficientNet-B4 at 380 px) for training
and inference images/s on this machine (a few steps each; ``--skip-large`` to omit).

    python benchmarks/train_throughput.py [--model test_vit --size 96 --batch 32 --steps 30]

Last line: one JSON object (``model_only_img_s``, ``pipeline_img_s``, ``datapath_ratio``, ``datapath_ratio_albumentations``,
``train_img_s``/``infer_img_s`` per preset).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace

import numpy as np


def _bench_steps(step, n_steps, warmup=3):
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(n_steps):
        step()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="test_vit")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=9, help="rounds of interleaved steps; ratios are their median")
    ap.add_argument("--workers", type=int, default=None,
                    help="DataLoader workers (default: 0 on <= 2 cores, where a worker competes with the "
                         "model's threads; else one per 2 cores, max 8)")
    ap.add_argument("--skip-large", action="store_true", help="do not time ViT-B/16 and EfficientNet-B4")
    args = ap.parse_args()

    import torch
    from torch import nn

    from sigvision.augment import FMix, mixed_loss
    from sigvision.config import ModelConfig, config_from_dict
    from sigvision.models import build_model
    from sigvision.prepare import load_prepared, prepare_dataset
    from sigvision.samples import write_sample_psg
    from sigvision.train import ImageRowsDataset, ShardSampler, _loader, _prepare_input, image_augment

    import timm.data

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ncpu = os.cpu_count() or 2
    workers = args.workers if args.workers is not None else (0 if ncpu <= 2 else min(8, ncpu // 2))
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=args.model), 5, img_size=args.size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def train_step(x, y, perm=None, lam=1.0):
        logits = model(x)
        loss = mixed_loss(loss_fn, logits, y, perm, lam) if perm is not None else loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    xr = torch.randn(args.batch, 3, args.size, args.size, device=device)
    yr = torch.randint(0, 5, (args.batch,), device=device)
    model.train()

    with tempfile.TemporaryDirectory() as tmp:
        write_sample_psg(f"{tmp}/psg", 2, seed=0, max_epochs=max(200, args.batch * (args.steps + 4) // 2))
        cfg = config_from_dict({"data": {"root": f"{tmp}/psg"}, "render": {"height": args.size, "width": args.size}})
        prepare_dataset(cfg, f"{tmp}/prep")
        index, _ = load_prepared(f"{tmp}/prep")
        dcfg = timm.data.resolve_data_config({}, model=model.backbone)
        tcfg = cfg.train  # the defaults: cutout p 0.5, 8 holes of 0.1 side, numpy backend; FMix p 0.5
        augs = {"default": image_augment(tcfg),
                "albumentations": image_augment(replace(tcfg, cutout_backend="albumentations"))}
        fmix = FMix(alpha=tcfg.fmix_alpha, decay_power=tcfg.fmix_decay_power, max_soft=tcfg.fmix_max_soft,
                    p=tcfg.fmix_p)
        rng = np.random.default_rng(0)
        pipes = {}
        for backend, aug in augs.items():
            ds = ImageRowsDataset(f"{tmp}/prep", index, mean=dcfg["mean"], std=dcfg["std"], augment=aug)
            sampler = ShardSampler(len(ds), shuffle=True, seed=0)
            loader = _loader(ds, sampler, args.batch, workers, device, drop_last=True)
            pipes[backend] = [ds, sampler, loader, iter(loader)]

        def pipe_step(backend):
            p = pipes[backend]
            try:
                x, y, _ = next(p[3])
            except StopIteration:
                p[1].set_epoch(p[1].epoch + 1)
                p[3] = iter(p[2])
                x, y, _ = next(p[3])
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            x = _prepare_input(x, p[0])  # as in training: normalised, contiguous NCHW
            x, perm, lam = fmix(x, rng)
            train_step(x, y, perm, lam)

        # Model only and each pipeline are interleaved: on CPU step by step (in alternating
        # order), so drifts of the shared machine's speed hit all of them alike; on a GPU in
        # blocks of --steps ended by a synchronise, so the data path can overlap the queued
        # GPU work as in training. Per round: seconds per kind; ratios are medians of rounds.
        kinds = {"model": lambda: train_step(xr, yr), "default": lambda: pipe_step("default"),
                 "albumentations": lambda: pipe_step("albumentations")}
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        block = args.steps if device.type == "cuda" else 1
        for f in kinds.values():
            for _ in range(3):
                f()
        sync()
        secs = {k: [] for k in kinds}
        for _ in range(args.rounds):
            acc = dict.fromkeys(kinds, 0.0)
            for b in range(args.steps // block):
                for k in (list(kinds) if b % 2 == 0 else list(kinds)[::-1]):
                    t = time.perf_counter()
                    for _ in range(block):
                        kinds[k]()
                    sync()
                    acc[k] += time.perf_counter() - t
            for k in kinds:
                secs[k].append(acc[k])
        n_img = (args.steps // block) * block * args.batch
        model_img_s = n_img / float(np.median(secs["model"]))
        pipe_img_s = n_img / float(np.median(secs["default"]))
        pipe_alb_img_s = n_img / float(np.median(secs["albumentations"]))
        ratio = float(np.median(np.array(secs["model"]) / np.array(secs["default"])))
        ratio_alb = float(np.median(np.array(secs["model"]) / np.array(secs["albumentations"])))
        del pipes

    res = {"model": args.model, "image_px": args.size, "batch": args.batch, "workers": workers,
           "model_only_img_s": round(model_img_s, 1), "pipeline_img_s": round(pipe_img_s, 1),
           "datapath_ratio": round(ratio, 3),
           "pipeline_albumentations_img_s": round(pipe_alb_img_s, 1),
           "datapath_ratio_albumentations": round(ratio_alb, 3), "rounds": args.rounds,
           "device": torch.cuda.get_device_name(0) if device.type == "cuda" else
           f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)",
           "machine": platform.machine()}
    print(f"{'path':28s} {'img/s':>8s}")
    print(f"{'model only (random tensors)':28s} {model_img_s:8.1f}")
    print(f"{'data path, default (numpy)':28s} {pipe_img_s:8.1f}   ratio {res['datapath_ratio']:.3f}")
    print(f"{'data path, albumentations':28s} {pipe_alb_img_s:8.1f}   ratio {res['datapath_ratio_albumentations']:.3f}")
    print(f"({args.model}, {args.size}px, batch {args.batch}, {workers} worker(s), {res['device']})")

    if not args.skip_large:
        res["train_img_s"], res["infer_img_s"] = {}, {}
        for name, size, bt, bi, steps in (("vit_base_patch16_224", 224, 4, 8, 2), ("tf_efficientnet_b4_ns", 380, 2, 4, 2)):
            torch.manual_seed(0)
            m = build_model(ModelConfig(name=name), 5, img_size=size).to(device)
            o = torch.optim.Adam(m.parameters(), lr=1e-4)
            x = torch.randn(bt, 3, size, size, device=device)
            y = torch.randint(0, 5, (bt,), device=device)

            def step():
                loss = loss_fn(m(x), y)
                o.zero_grad(set_to_none=True)
                loss.backward()
                o.step()

            m.train()
            tt = _bench_steps(step, steps, warmup=1)
            xi = torch.randn(bi, 3, size, size, device=device)
            m.eval()

            def istep():
                with torch.inference_mode():
                    m(xi)

            ti = _bench_steps(istep, steps, warmup=1)
            res["train_img_s"][f"{name}@{size}"] = round(steps * bt / tt, 2)
            res["infer_img_s"][f"{name}@{size}"] = round(steps * bi / ti, 2)
            print(f"{name} at {size}px: train {steps * bt / tt:.2f} img/s, infer {steps * bi / ti:.2f} img/s")
            del m, o
    print(json.dumps(res))


if __name__ == "__main__":
    main()

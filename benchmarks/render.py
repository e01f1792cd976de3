"""Render speed: our vectorised ``traces`` renderer vs matplotlib drawing the same picture.

Both draw 4 stacked channels (2 EEG, EOG, EMG) of a 90-s window (the epoch plus one
neighbour on each side, 100 Hz) into a 224x224 RGB array with the same amplitude limits.
matplotlib is timed the way the seed solutions used it (a new figure per image) and, for
fairness, also with one figure reused (only the line data changes).

Signals come from the synthetic PSG generator driven by a real Sleep-EDF hypnogram, so the
traces have realistic density. Single-threaded (one core). Last line: one JSON object.

    python benchmarks/render.py [--epochs 1000] [--mpl-images 30]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--mpl-images", type=int, default=30)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()

    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sigvision.config import RenderConfig
    from sigvision.synth.generator import synthesize_night
    from sigvision.render import context_windows, get_renderer, render_night
    from sigvision.synth.samples import crop_hypnogram, load_sample_hypnogram

    cv2.setNumThreads(1)
    hyp = crop_hypnogram(load_sample_hypnogram("SC4001E0"), args.epochs)
    hyp = np.resize(hyp, args.epochs)  # repeat if the night is shorter
    night = synthesize_night(hyp, seed=0)
    fs = night.fs_hz
    n_per = int(30 * fs)
    epochs = night.signals[:, : args.epochs * n_per].reshape(4, args.epochs, n_per).transpose(1, 0, 2).copy()
    types = list(night.channel_types)
    cfg = RenderConfig(height=args.size, width=args.size, context_epochs=1)
    r = get_renderer(cfg, fs)
    scales = r.scales(types)

    out = np.empty((args.epochs, args.size, args.size, 3), np.uint8)
    render_night(r, epochs[:64], types, out=out[:64])  # warm-up
    # median of 5 whole nights: one 0.2-s timing is at the mercy of a stall of the shared machine
    nights = []
    for _ in range(5):
        t = time.perf_counter()
        render_night(r, epochs, types, out=out)
        nights.append(time.perf_counter() - t)
    night_s = float(np.median(nights))
    ours_per_img = night_s / args.epochs

    idx = np.linspace(0, args.epochs - 1, args.mpl_images).astype(int)
    wins, _ = context_windows(epochs, idx, 1)
    dpi = 100

    def mpl_new_figure(w):
        fig = plt.figure(figsize=(args.size / dpi, args.size / dpi), dpi=dpi)
        axs = fig.subplots(4, 1, sharex=True)
        fig.subplots_adjust(0, 0, 1, 1, 0, 0)
        for a, s, sc in zip(axs, w, scales):
            a.plot(s, lw=1, color="k")
            a.set_ylim(-sc, sc)
            a.set_xlim(0, len(s))
            a.axis("off")
        fig.canvas.draw()
        arr = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        plt.close(fig)
        return arr

    mpl_new_figure(wins[0])
    t = time.perf_counter()
    for w in wins:
        img = mpl_new_figure(w)
    mpl_new_s = (time.perf_counter() - t) / len(wins)
    assert img.shape == (args.size, args.size, 3)

    fig = plt.figure(figsize=(args.size / dpi, args.size / dpi), dpi=dpi)
    axs = fig.subplots(4, 1, sharex=True)
    fig.subplots_adjust(0, 0, 1, 1, 0, 0)
    lines = []
    for a, s, sc in zip(axs, wins[0], scales):
        lines.append(a.plot(s, lw=1, color="k")[0])
        a.set_ylim(-sc, sc)
        a.set_xlim(0, len(s))
        a.axis("off")
    fig.canvas.draw()
    t = time.perf_counter()
    for w in wins:
        for ln, s in zip(lines, w):
            ln.set_ydata(s)
        fig.canvas.draw()
        img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    mpl_reuse_s = (time.perf_counter() - t) / len(wins)
    plt.close(fig)

    res = {
        "render_speedup_vs_matplotlib": round(mpl_new_s / ours_per_img, 1),
        "render_speedup_vs_matplotlib_reused_figure": round(mpl_reuse_s / ours_per_img, 1),
        "night_render_s": round(night_s, 3),
        "night_epochs": args.epochs,
        "ours_ms_per_image": round(ours_per_img * 1e3, 3),
        "matplotlib_ms_per_image": round(mpl_new_s * 1e3, 2),
        "matplotlib_reused_ms_per_image": round(mpl_reuse_s * 1e3, 2),
        "image_px": args.size,
        "channels": 4,
        "context_epochs": 1,
        "threads": 1,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpu".strip(),
    }
    print(f"{'renderer':32s} {'ms/image':>10s}")
    print(f"{'sigvision traces':32s} {res['ours_ms_per_image']:10.3f}")
    print(f"{'matplotlib, figure per image':32s} {res['matplotlib_ms_per_image']:10.2f}")
    print(f"{'matplotlib, figure reused':32s} {res['matplotlib_reused_ms_per_image']:10.2f}")
    print(f"full night: {args.epochs} epochs x 4 channels at {args.size} px in {night_s:.2f} s "
          f"(one thread, median of 5)")
    print(f"speed-up vs matplotlib: {res['render_speedup_vs_matplotlib']}x "
          f"(reused figure: {res['render_speedup_vs_matplotlib_reused_figure']}x)")
    print(json.dumps(res))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Blend the models' probability arrays, as the MAIC 2021 solution's blend.py did: a weighted
mean of square-rooted probabilities -> files_blend_sqrt_<split>.csv (before post-processing).
A thin wrapper over ``sigvision blend``.

    python blend.py                                   # the ViT-B/16 + EfficientNet-B4 experiment
    python blend.py -c configs/sleep_demo.yaml        # the CPU demo's experiment
"""
import sys

from sigvision.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a in ("-c", "--config") or a.startswith("--config=") for a in args):
        args = ["--config", "configs/sleep_vit_b16.yaml", *args]
    raise SystemExit(main(["blend", *args]))

#!/usr/bin/env python
"""Train the ViT family, as the MAIC 2021 solution's mainViT.py did (k folds, weights per
fold and epoch). A thin wrapper over ``sigvision train``.

    python mainViT.py                                   # ViT-B/16 preset (GPU)
    python mainViT.py -c configs/sleep_demo_vit.yaml    # tiny ViT on CPU
    torchrun --nproc_per_node 4 mainViT.py              # 4 GPUs
"""
import sys

from sigvision.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a in ("-c", "--config") or a.startswith("--config=") for a in args):
        args = ["--config", "configs/sleep_vit_b16.yaml", *args]
    raise SystemExit(main(["train", *args]))

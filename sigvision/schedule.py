"""Learning-rate schedules, stepped once per optimiser step with the fractional epoch.

``train.scheduler`` picks the decay and ``train.warmup_epochs`` an optional linear warmup in
front of it (the AIWIN write-up's "Warmup + Decay"):

* ``cosine_warm_restarts``: SGDR (Loshchilov & Hutter 2017), the MAIC write-up's schedule:
  cosine from ``lr`` to ``min_lr`` over ``t0_epochs``, restarting, each cycle ``t_mult``
  times longer than the last;
* ``cosine``: one cosine from ``lr`` to ``min_lr`` over the epochs after the warmup;
* ``poly``: ``min_lr + (lr - min_lr) (1 - t / T) ** poly_power`` over the same span;
* ``none``: constant ``lr`` (after the warmup, if any).

The warmup raises the rate linearly over its first ``round(warmup_epochs x steps per epoch)``
steps, step ``k`` (from 0) taking ``(k + 1) / W`` of the decay's starting rate; the decay
starts where the warmup ends, so ``cosine_warm_restarts`` cycles are counted from there.

The rate is a pure function of the fractional epoch, so a resumed run (which stores that
epoch) continues on the same curve.
"""
from __future__ import annotations

import math

SCHEDULERS = ("cosine_warm_restarts", "cosine", "poly", "none")


class EpochSchedule:
    """Sets every parameter group's ``lr`` from the fractional epoch passed to :meth:`step`.

    Each group's own starting rate (its ``lr`` when the schedule is built) is the peak; all
    groups share ``min_lr``. Built at epoch 0, so the first optimiser step already runs at
    the schedule's first rate.
    """

    def __init__(self, opt, kind: str, *, epochs: float, steps_per_epoch: int, min_lr: float = 0.0,
                 t0_epochs: int = 10, t_mult: int = 1, warmup_epochs: float = 0.0, poly_power: float = 0.9):
        if kind not in SCHEDULERS:
            raise ValueError(f"scheduler {kind!r}; accepted: {', '.join(SCHEDULERS)}")
        self.opt, self.kind = opt, kind
        self.epochs, self.spe = float(epochs), max(int(steps_per_epoch), 1)
        self.min_lr, self.t0, self.t_mult = float(min_lr), int(t0_epochs), int(t_mult)
        self.warmup_epochs, self.poly_power = float(warmup_epochs), float(poly_power)
        self.warmup_steps = int(round(self.warmup_epochs * self.spe)) if self.warmup_epochs > 0 else 0
        if self.warmup_epochs > 0:
            self.warmup_steps = max(self.warmup_steps, 1)
        self.base = [float(g.setdefault("initial_lr", g["lr"])) for g in opt.param_groups]
        self.epoch = 0.0
        self._apply()

    def _decay(self, base: float, t: float) -> float:
        """The decay's rate ``t`` epochs after the warmup."""
        lo = self.min_lr
        if self.kind == "none":
            return base
        if self.kind == "cosine_warm_restarts":
            t_i, t_cur = self.t0, t
            if t >= self.t0:
                if self.t_mult == 1:
                    t_cur = t % self.t0
                else:  # cycle n spans t0 (t_mult^n - 1) / (t_mult - 1) .. that + t0 t_mult^n
                    n = int(math.log(t / self.t0 * (self.t_mult - 1) + 1, self.t_mult))
                    t_cur = t - self.t0 * (self.t_mult ** n - 1) / (self.t_mult - 1)
                    t_i = self.t0 * self.t_mult ** n
            return lo + (base - lo) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
        span = max(self.epochs - self.warmup_epochs, 1e-12)
        frac = min(max(t, 0.0) / span, 1.0)
        if self.kind == "cosine":
            return lo + (base - lo) * (1 + math.cos(math.pi * frac)) / 2
        return lo + (base - lo) * (1.0 - frac) ** self.poly_power  # poly

    def lr_at(self, epoch: float) -> list[float]:
        """Each group's rate at fractional ``epoch`` (steps done / steps per epoch)."""
        epoch = float(epoch)
        k = int(round(epoch * self.spe))  # the optimiser step about to run
        if k < self.warmup_steps:
            return [b * (k + 1) / self.warmup_steps for b in self.base]
        t = max(epoch - self.warmup_epochs, 0.0)
        return [self._decay(b, t) for b in self.base]

    def _apply(self) -> None:
        for g, lr in zip(self.opt.param_groups, self.lr_at(self.epoch)):
            g["lr"] = lr

    def step(self, epoch: float) -> None:
        self.epoch = float(epoch)
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.opt.param_groups]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "kind": self.kind}

    def load_state_dict(self, state: dict) -> None:
        # checkpoints of earlier versions hold torch's CosineAnnealingWarmRestarts state: its
        # last_epoch is the epoch the run had reached
        self.epoch = float(state.get("epoch", state.get("last_epoch", 0)))
        self._apply()

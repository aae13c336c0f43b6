"""torch.optim.lr_scheduler's classes, mirrored on one param-group dict.

Each class follows torch 2.13's ``__init__``, ``step``, ``get_lr`` and
``_get_closed_form_lr`` operation for operation (the chainable forms whose
rounding accumulates, SequentialLR's construction and milestones); ``run``
records and steps, as torch's training loop does (0.2-0.6 us per step).  Used by
:mod:`optbench.optimizers.schedulers`, which checks the arguments first.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter


class _Sim:
    """LRScheduler with last_epoch=-1: sets initial_lr (setdefault), records base_lr, steps once."""

    closed_form = False  # whether torch's class has _get_closed_form_lr (used by _update_lr(epoch))

    def __init__(self, group: dict):
        self.group = group
        group.setdefault("initial_lr", group["lr"])
        self.base_lr = group["initial_lr"]
        self.last_epoch = -1
        self._is_initial = False
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def step(self) -> None:
        self._step_count += 1
        self._update_lr(None)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            lr = self.get_lr()
        else:
            self.last_epoch = epoch
            lr = self.get_closed_form_lr() if self.closed_form else self.get_lr()
        self.group["lr"] = lr

    def get_lr(self) -> float:
        raise NotImplementedError

    def get_closed_form_lr(self) -> float:
        raise NotImplementedError

    def run(self, n: int, lrs: list, moms: list | None, key: str | None) -> None:
        """``n`` times: record the group's lr (and momentum), then ``step()``, as torch's loop does."""
        g = self.group
        for _ in range(n):
            lrs.append(g["lr"])
            if moms is not None:
                moms.append(g[key])
            self.step()


class _StepLR(_Sim):
    closed_form = True

    def __init__(self, group, step_size, gamma=0.1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(group)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.group["lr"]
        return self.group["lr"] * self.gamma

    def get_closed_form_lr(self):
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class _MultiStepLR(_Sim):
    closed_form = True

    def __init__(self, group, milestones, gamma=0.1):
        self.milestones, self.gamma = Counter(milestones), gamma
        super().__init__(group)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self.group["lr"]
        return self.group["lr"] * self.gamma ** self.milestones[self.last_epoch]

    def get_closed_form_lr(self):
        return self.base_lr * self.gamma ** bisect_right(sorted(self.milestones.elements()), self.last_epoch)


class _ConstantLR(_Sim):
    closed_form = True

    def __init__(self, group, factor=1.0 / 3, total_iters=5):
        self.factor, self.total_iters = factor, total_iters
        super().__init__(group)

    def get_lr(self):
        if self.last_epoch == 0:
            return self.group["lr"] * self.factor
        if self.last_epoch != self.total_iters:
            return self.group["lr"]
        return self.group["lr"] * (1.0 / self.factor)

    def get_closed_form_lr(self):
        return self.base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))


class _LinearLR(_Sim):
    closed_form = True

    def __init__(self, group, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(group)

    def get_lr(self):
        lr, e, s, f, total = self.group["lr"], self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if e == 0:
            return lr * s
        if self._is_initial or e > total:
            return lr
        return lr * (1.0 + (f - s) / (total * s + (e - 1) * (f - s)))

    def get_closed_form_lr(self):
        s, f, total = self.start_factor, self.end_factor, self.total_iters
        return self.base_lr * (s + (f - s) * min(total, self.last_epoch) / total)


class _ExponentialLR(_Sim):
    closed_form = True

    def __init__(self, group, gamma):
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self):
        if self._is_initial:
            return self.group["lr"]
        return self.group["lr"] * self.gamma

    def get_closed_form_lr(self):
        return self.base_lr * self.gamma ** self.last_epoch


class _PolynomialLR(_Sim):
    closed_form = True

    def __init__(self, group, total_iters=5, power=1.0):
        self.total_iters, self.power = total_iters, power
        super().__init__(group)

    def get_lr(self):
        e, total = self.last_epoch, self.total_iters
        if self._is_initial or e > total:
            return self.group["lr"]
        decay = ((1.0 - e / total) / (1.0 - (e - 1) / total)) ** self.power
        return self.group["lr"] * decay

    def get_closed_form_lr(self):
        return self.base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power


class _CosineAnnealingLR(_Sim):
    closed_form = True

    def __init__(self, group, T_max, eta_min=0.0):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(group)

    def get_lr(self):
        lr, e, T, eta, base = self.group["lr"], self.last_epoch, self.T_max, self.eta_min, self.base_lr
        if self._is_initial:
            return lr
        if self._step_count == 1 and e > 0:
            return eta + (base - eta) * (1 + math.cos(e * math.pi / T)) / 2
        if (e - 1 - T) % (2 * T) == 0:
            return lr + (base - eta) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - eta) + eta

    def get_closed_form_lr(self):
        eta = self.eta_min
        return eta + (self.base_lr - eta) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2


class _CosineAnnealingWarmRestarts(_Sim):
    def __init__(self, group, T_0, T_mult=1, eta_min=0.0):
        self.T_0 = self.T_i = T_0
        self.T_mult, self.eta_min = T_mult, eta_min
        self.T_cur = -1
        super().__init__(group)

    def get_lr(self):
        eta = self.eta_min
        return eta + (self.base_lr - eta) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2

    def step(self):  # torch's own step(epoch=None): no _step_count, T_cur wraps at T_i
        if self.last_epoch < 0:  # torch: epoch = 0, which is below T_0: T_i = T_0, T_cur = epoch
            epoch = 0
            self.T_i = self.T_0
            self.T_cur = epoch
        else:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        self.last_epoch = math.floor(epoch)
        self.group["lr"] = self.get_lr()


class _OneCycleLR(_Sim):
    def __init__(self, group, key, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", cycle_momentum=True,
                 base_momentum=0.85, max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
        self.total_steps = total_steps
        pct = pct_start
        self.phases = (  # (end_step, start_lr key, end_lr key, start_momentum key, end_momentum key)
            [(float(pct * total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
             (float(2 * pct * total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
             (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")] if three_phase else
            [(float(pct * total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
             (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")])
        self.cos = anneal_strategy == "cos"
        group["initial_lr"] = max_lr / div_factor
        group["max_lr"] = max_lr
        group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        self.key = key
        if cycle_momentum:
            group[key] = max_momentum
            group["max_momentum"] = max_momentum
            group["base_momentum"] = base_momentum
        super().__init__(group)

    def _anneal(self, start, end, pct):
        if self.cos:
            cos_out = math.cos(math.pi * pct) + 1
            return end + (start - end) / 2.0 * cos_out
        return (end - start) * pct + start

    def get_lr(self):
        step_num, g = self.last_epoch, self.group
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified number of total steps is "
                             f"{self.total_steps}")
        start_step = 0.0
        for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
            if step_num <= end_step or i == len(self.phases) - 1:
                pct = (step_num - start_step) / (end_step - start_step)
                lr = self._anneal(g[lr0], g[lr1], pct)
                if self.cycle_momentum:
                    g[self.key] = self._anneal(g[m0], g[m1], pct)
                return lr
            start_step = end_step
        raise AssertionError


class _SequentialLR(_Sim):
    def __init__(self, group, schedulers: list[_Sim], milestones):
        self.group, self.scheds, self.milestones = group, schedulers, list(milestones)
        self.last_epoch = 0
        group["lr"] = group["initial_lr"]  # reset the lr to initial values
        for s in schedulers:  # "undo" the step performed by the sub-schedulers' constructions
            s.last_epoch -= 1
        self.scheds[bisect_right(self.milestones, 0)]._initial_step()  # the scheduler meant to run at step 0

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self.milestones, self.last_epoch)
        if idx > 0 and self.milestones[idx - 1] == self.last_epoch:
            self.scheds[idx]._update_lr(0)
        else:
            self.scheds[idx].step()

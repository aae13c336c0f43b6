"""torch.optim.lr_scheduler's classes, mirrored on one param-group dict.

Each class follows torch 2.13's ``__init__``, ``step``, ``get_lr`` and
``_get_closed_form_lr`` operation for operation (the chainable forms whose
rounding accumulates, SequentialLR's construction and milestones), plus a
``run`` loop with the same arithmetic inlined for speed.  Used by
:mod:`optbench.optimizers.schedulers`, which checks the arguments first.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter


class _Sim:
    """LRScheduler with last_epoch=-1: sets initial_lr (setdefault), records base_lr, steps once."""

    closed_form = False  # whether torch's class has _get_closed_form_lr (used by _update_lr(epoch))
    moves_momentum = False

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
        self.run_slow(n, lrs, moms, key)

    def run_slow(self, n: int, lrs: list, moms: list | None, key: str | None) -> None:
        g = self.group
        for _ in range(n):
            lrs.append(g["lr"])
            if moms is not None:
                moms.append(g[key])
            self.step()

    def _done(self, n: int, e: int, lr: float) -> None:
        """State after a fast run of ``n`` plain steps."""
        self._step_count += n
        self.last_epoch = e
        self.group["lr"] = lr

    def _fill_moms(self, n: int, moms: list | None, key: str | None) -> None:
        if moms is not None:
            moms.extend([self.group[key]] * n)


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

    def run(self, n, lrs, moms, key):
        self._fill_moms(n, moms, key)
        lr, e, size, gamma, append = self.group["lr"], self.last_epoch, self.step_size, self.gamma, lrs.append
        for _ in range(n):
            append(lr)
            e += 1
            if not (e == 0 or e % size != 0):
                lr = lr * gamma
        self._done(n, e, lr)


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

    def run(self, n, lrs, moms, key):
        self._fill_moms(n, moms, key)
        lr, e, ms, gamma, append = self.group["lr"], self.last_epoch, self.milestones, self.gamma, lrs.append
        for _ in range(n):
            append(lr)
            e += 1
            if e in ms:
                lr = lr * gamma ** ms[e]
        self._done(n, e, lr)


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

    def run(self, n, lrs, moms, key):
        self._fill_moms(n, moms, key)
        lr, e, factor, total, append = self.group["lr"], self.last_epoch, self.factor, self.total_iters, lrs.append
        for _ in range(n):
            append(lr)
            e += 1
            if e == 0:
                lr = lr * factor
            elif e == total:
                lr = lr * (1.0 / factor)
        self._done(n, e, lr)


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

    def run(self, n, lrs, moms, key):
        self._fill_moms(n, moms, key)
        lr, e, s, f, total = self.group["lr"], self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        append = lrs.append
        for _ in range(n):
            append(lr)
            e += 1
            if e == 0:
                lr = lr * s
            elif e <= total:
                lr = lr * (1.0 + (f - s) / (total * s + (e - 1) * (f - s)))
        self._done(n, e, lr)


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

    def run(self, n, lrs, moms, key):
        self._fill_moms(n, moms, key)
        lr, gamma, append = self.group["lr"], self.gamma, lrs.append
        for _ in range(n):
            append(lr)
            lr = lr * gamma
        self._done(n, self.last_epoch + n, lr)


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

    def run(self, n, lrs, moms, key):
        self._fill_moms(n, moms, key)
        lr, e, total, power, append = self.group["lr"], self.last_epoch, self.total_iters, self.power, lrs.append
        for _ in range(n):
            append(lr)
            e += 1
            if e <= total:
                lr = lr * ((1.0 - e / total) / (1.0 - (e - 1) / total)) ** power
        self._done(n, e, lr)


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

    def run(self, n, lrs, moms, key):
        self._fill_moms(n, moms, key)
        lr, e, T, eta, base = self.group["lr"], self.last_epoch, self.T_max, self.eta_min, self.base_lr
        count, pi, cos, append = self._step_count, math.pi, math.cos, lrs.append
        bump = (base - eta) * (1 - cos(pi / T)) / 2  # the increment of the branch past each trough
        prev = 1 + cos(pi * e / T)  # the next step's 1 + cos(pi (last_epoch - 1) / T_max), the same expression
        for _ in range(n):
            append(lr)
            e += 1
            count += 1
            now = 1 + cos(pi * e / T)
            if count == 1 and e > 0:
                lr = eta + (base - eta) * (1 + cos(e * pi / T)) / 2
            elif (e - 1 - T) % (2 * T) == 0:
                lr = lr + bump
            else:
                lr = now / prev * (lr - eta) + eta
            prev = now
        self._step_count, self.last_epoch = count, e
        self.group["lr"] = lr


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

    def run(self, n, lrs, moms, key):
        if n and self.last_epoch < 0:
            self.run_slow(1, lrs, moms, key)
            n -= 1
        self._fill_moms(n, moms, key)
        lr, e, t_cur, t_i, mult = self.group["lr"], self.last_epoch, self.T_cur, self.T_i, self.T_mult
        eta, base, pi, cos, append = self.eta_min, self.base_lr, math.pi, math.cos, lrs.append
        for _ in range(n):
            append(lr)
            e += 1
            t_cur = t_cur + 1
            if t_cur >= t_i:
                t_cur = t_cur % t_i
                t_i = t_i * mult
            lr = eta + (base - eta) * (1 + cos(pi * t_cur / t_i)) / 2
        self.T_cur, self.T_i, self.last_epoch = t_cur, t_i, e
        self.group["lr"] = lr


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
        self.cycle_momentum = self.moves_momentum = cycle_momentum
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

    def run(self, n, lrs, moms, key):
        g, e, last = self.group, self.last_epoch, len(self.phases) - 1
        if e + n > self.total_steps:
            raise ValueError(f"Tried to step {e + n} times. The specified number of total steps is "
                             f"{self.total_steps}")
        # the phases with the group's values, read once: nothing else writes them while this one steps
        phases = [(end, g[lr0], g[lr1], g[m0] if self.cycle_momentum else 0.0, g[m1] if self.cycle_momentum else 0.0)
                  for end, lr0, lr1, m0, m1 in self.phases]
        lr, mom, cycle, use_cos, pi, cos = g["lr"], g.get(key), self.cycle_momentum, self.cos, math.pi, math.cos
        for _ in range(n):
            lrs.append(lr)
            if moms is not None:
                moms.append(mom)
            e += 1
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
                if e <= end_step or i == last:
                    pct = (e - start_step) / (end_step - start_step)
                    if use_cos:
                        cos_out = cos(pi * pct) + 1
                        lr = lr1 + (lr0 - lr1) / 2.0 * cos_out
                        if cycle:
                            mom = m1 + (m0 - m1) / 2.0 * cos_out
                    else:
                        lr = (lr1 - lr0) * pct + lr0
                        if cycle:
                            mom = (m1 - m0) * pct + m0
                    break
                start_step = end_step
        self._step_count += n
        self.last_epoch = e
        g["lr"] = lr
        if cycle:
            g[self.key] = mom


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

    def run(self, n, lrs, moms, key):
        ms = self.milestones
        while n > 0:
            e = self.last_epoch + 1
            idx = bisect_right(ms, e)
            if idx > 0 and ms[idx - 1] == e:  # a milestone: one step of torch's own path
                self.run_slow(1, lrs, moms, key)
                n -= 1
                continue
            k = n if idx == len(ms) else min(n, ms[idx] - e)  # plain steps of scheduler idx until the next milestone
            sub = self.scheds[idx]
            if moms is not None and not sub.moves_momentum:
                moms.extend([self.group[key]] * k)
                sub.run(k, lrs, None, key)
            else:
                sub.run(k, lrs, moms, key)
            self.last_epoch += k
            n -= k

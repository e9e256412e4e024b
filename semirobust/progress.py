"""Progress lines of long runs, on stderr: what starts, what finished, and an estimate of the time left.

A Table 1 cell trains two networks per seed and then runs its trials; executed by papermill, these lines
are the only sign of life in the terminal. They go to stderr: ``papermill --log-output`` shows the
kernel's output as it comes (``--stderr-file /dev/stderr`` shows stderr alone, unprefixed), and the book's
pages never show stderr. Nothing here touches what is computed.
"""
from __future__ import annotations

import sys
from time import perf_counter

from semirobust.cost import FIXED_ATTACK_STEPS, training_grad_evals

__all__ = ["announce", "duration_text", "Countdown", "network_unit", "trial_unit", "scores_unit", "autoattack_unit",
           "algorithm1_countdown"]


def announce(message: str) -> None:
    """One progress line on stderr, prefixed ``[semirobust]`` and flushed at once."""
    print(f"[semirobust] {message}", file=sys.stderr, flush=True)


def duration_text(seconds: float) -> str:
    """``42 s``, ``7 min``, ``2.5 h``: a duration as a reader estimates one."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Countdown:
    """Units of one run, each with a kind ("network", "trial") and a relative cost (e.g. epochs times
    gradient evaluations per image).

    :meth:`start` announces a unit with the time left: the cost not yet done times the seconds per unit of
    cost measured on the computed units of the same kind (a kind not timed yet borrows the rate of the
    others, and the estimate says it is rough). :meth:`finish` records a unit (one read from a cache costs
    no time and does not enter the rates); :meth:`timed` does both around a call. Units read from the
    results store are never started, and trials may stop early: the estimate is then too high.
    """

    def __init__(self, title: str, units: dict[str, tuple[str, float]]):
        if any(cost < 0 for _, cost in units.values()):
            raise ValueError("unit costs must not be negative.")
        self.title, self.units = title, dict(units)
        self.done: set[str] = set()
        self.timing: dict[str, list[float]] = {}  # kind -> [seconds, cost] of its computed units
        self._started: dict[str, float] = {}

    def left_text(self) -> str:
        """The time left in words, or why there is no estimate yet."""
        if not self.timing:
            return "time left: estimated once the first unit has been computed"
        overall = sum(s for s, _ in self.timing.values()) / max(sum(c for _, c in self.timing.values()), 1e-12)
        left, rough = 0.0, set()
        for unit, (kind, cost) in self.units.items():
            if unit in self.done:
                continue
            if kind in self.timing and self.timing[kind][1] > 0:
                left += cost * self.timing[kind][0] / self.timing[kind][1]
            else:
                left += cost * overall
                rough.add(kind)
        named = [("an " if kind[0] in "aeiou" else "a ") + kind for kind in sorted(rough)]
        note = f" (rough until {' and '.join(named)} has been timed)" if rough else ""
        return f"about {duration_text(left)} left{note}"

    def start(self, unit: str) -> None:
        """Announce ``unit`` as starting, with its position and the time left."""
        position = list(self.units).index(unit) + 1
        self._started[unit] = perf_counter()
        announce(f"{self.title}: ({position}/{len(self.units)}) {unit}; {self.left_text()}")

    def finish(self, unit: str, computed: bool = True) -> None:
        """Record ``unit`` as done; a computed one is announced with its time and enters the rates."""
        now = perf_counter()
        seconds = now - self._started.pop(unit, now)
        self.done.add(unit)
        if computed:
            kind, cost = self.units[unit]
            timing = self.timing.setdefault(kind, [0.0, 0.0])
            timing[0] += seconds
            timing[1] += cost
            announce(f"{self.title}: {unit} done in {duration_text(seconds)}")

    def timed(self, unit: str, call, cached=lambda result: False):
        """``call()`` announced as ``unit``: started, then finished (computed unless ``cached(result)``)."""
        self.start(unit)
        result = call()
        self.finish(unit, computed=not cached(result))
        return result


def network_unit(seed: int, which: str) -> str:
    """The progress unit of a seed's ``which`` ("regular" or "robust") full network."""
    return f"seed {seed}: {which} network"


def trial_unit(seed: int, trial: int, trials: int, arm: str = "algorithm1") -> str:
    """The progress unit of trial ``trial`` (0-based) of a seed's ``trials`` in ``arm`` (named unless Algorithm 1's)."""
    return f"seed {seed}: {'' if arm == 'algorithm1' else arm + ' '}trial {trial + 1} of {trials}"


def scores_unit(seed: int, which: str) -> str:
    """The progress unit of a seed's scores: ``which`` "reference" (the regular network, Acc* and Acc_sr) or "arms"
    (each arm's selected network)."""
    return f"seed {seed}: {which} scores"


def autoattack_unit(seed: int) -> str:
    """The progress unit of a seed's final full AutoAttack."""
    return f"seed {seed}: final AutoAttack"


#: the share of scored images an attack still works on after the first ones broke (a rough mean over networks)
_STILL_ROBUST = 0.75


def algorithm1_countdown(config, seeds, arms: dict | None = None, autoattack_seeds=None) -> Countdown:
    """The progress units of one Table 1 cell (a ``RunConfig``) over ``seeds``, costed in gradient evaluations
    per training image: the regular network (1 per step) and the robust one (PGD steps + 1), kind "network";
    each trial of each arm (``arms``: name -> True when it trains adversarially; None: Algorithm 1 alone) at
    PGD steps + 1 per step (1 without an attack), at most E epochs; its evaluations after every epoch make
    its rate its own, kind "trial"; then the scores (kind "scoring": the regular network's and Acc*'s before the
    trials, Acc_sr's and the arms' after them) and the final full AutoAttack of the ``autoattack_seeds`` (None: every seed; kind
    "autoattack"), costed by their attacks' gradient evaluations per training image, so that the time left counts
    everything a seed does."""
    profile = config.resolved_profile
    adversarial = training_grad_evals(profile.train_attack_steps)
    arms = {"algorithm1": True} if arms is None else arms
    train_images = max(1.0, (profile.train_subset or 50000) * (1 - profile.val_fraction))
    per_score = ((profile.test_scored or profile.eval_subset or 1000) * (profile.score_apgd_iters or 100)
                 * len(profile.score_attacks) * _STILL_ROBUST / train_images)
    aa_images = profile.final_autoattack_images
    aa_networks = 2 + (len(arms) - 1 if profile.final_autoattack_arms is None else len(
        [a for a in arms if a in profile.final_autoattack_arms]))
    per_autoattack = 0.0 if not aa_images else (aa_images * FIXED_ATTACK_STEPS["autoattack"] * _STILL_ROBUST
                                                / train_images)
    units = {}
    for seed in seeds:
        units[network_unit(seed, "regular")] = ("network", (profile.standard_epochs or profile.epochs)
                                                 * training_grad_evals(0))
        units[network_unit(seed, "robust")] = ("network", profile.epochs * adversarial)
        for arm, attacked in arms.items():
            for t in range(config.resolved_trials):
                units[trial_unit(seed, t, config.resolved_trials, arm)] = (
                    "trial", config.resolved_epochs * (adversarial if attacked else training_grad_evals(0)))
        units[scores_unit(seed, "reference")] = ("scoring", 2 * per_score)
        units[scores_unit(seed, "arms")] = ("scoring", (1 + len(arms)) * per_score)
        if per_autoattack and (autoattack_seeds is None or seed in autoattack_seeds):
            units[autoattack_unit(seed)] = ("autoattack", aa_networks * per_autoattack)
    title = (f"Table 1 cell {config.arch}, f_b = {config.fb_layers}, {config.dataset}, profile {profile.name}, "
             f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
    return Countdown(title, units)

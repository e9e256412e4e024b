"""The plot of "does rho predict success?": each trial's shortfall against the primary measure and the cross-check
at the junction pair (:mod:`semirobust.experiments.rho.rho_success` holds the analysis)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from semirobust.experiments.report.style import BOOK_RC, book_figure
from semirobust.experiments.rho.rho_success import CROSS_CHECK, FAIL_MARGIN, PRIMARY, cluster_description, junction

__all__ = ["LABELS", "plot_success", "success_caption"]

#: axis labels of the measures' excess columns
LABELS = {PRIMARY: r"$\rho_{a+1}$ $-$ null mean (bits)", "ksg_excess": "KSG $-$ null mean (junction, bits)",
          CROSS_CHECK: "CKA $-$ null mean (junction)"}
#: the measures' excess columns in a caption
_CAPTION_NAMES = {PRIMARY: "rho_{a+1} (EDGE, bits) minus the mean of its within-class permutation null",
                  "ksg_excess": "KSG on PCA at the junction pair (bits) minus the mean of its within-class "
                                "permutation null",
                  CROSS_CHECK: "linear CKA at the junction pair minus its null mean"}


def plot_success(frame: pd.DataFrame, measures=(PRIMARY, CROSS_CHECK), margin: float = FAIL_MARGIN):
    """The shortfall against the primary measure (left) and the cross-check (right) at the junction pair, one
    colour per arm; hollow: not above the permutation null. Caption: :func:`success_caption`."""
    part = junction(frame)
    measures = [m for m in measures if m in part and part[m].notna().any()]
    with plt.rc_context(BOOK_RC):
        fig, axes = book_figure(max(len(measures), 1), height=3.0)
        arms = list(dict.fromkeys(part.arm))
        palette = dict(zip(arms, sns.color_palette("colorblind")))
        for ax, measure in zip(axes[0], measures):
            flag = f"{measure.split('_')[0]}_above_null"
            for arm, group in part.groupby("arm", sort=False):
                above = group[flag].fillna(False).astype(bool)
                ax.plot(group[measure][above], group.shortfall[above], "o", color=palette[arm], label=arm)
                ax.plot(group[measure][~above], group.shortfall[~above], "o", mfc="white", color=palette[arm],
                        label=None if above.any() else arm)
            ax.axvline(0, color="0.5", ls="--", lw=1)
            ax.axhline(margin, color="0.5", ls=":", lw=1)
            ax.set_xlabel(LABELS.get(measure, measure))
            ax.set_ylabel(r"Acc$^*_{eval}$ $-$ trial accuracy")
        if measures:
            handles, names = axes[0][0].get_legend_handles_labels()
            seen = dict(zip(names, handles))
            fig.legend(list(seen.values()), list(seen), title="Arm", loc="outside upper center",
                       ncols=min(len(seen), 3))
    return fig


def success_caption(frame: pd.DataFrame, measures=(PRIMARY, CROSS_CHECK), margin: float = FAIL_MARGIN) -> str:
    """The caption of :func:`plot_success`: what each point is, the marks, n and the clusters."""
    part = junction(frame)
    shown = [m for m in measures if m in part and part[m].notna().any()]
    panels = "; ".join(f"{side}, {'the primary measure' if i == 0 else 'the cross-check'}, "
                       f"{_CAPTION_NAMES.get(m, m)}" for i, (side, m) in enumerate(zip(("left", "right"), shown)))
    return (f"Each point is one trial of one arm ({len(part)} trials; clusters: {cluster_description(frame)}): "
            f"{panels}; against the shortfall, Acc*_eval minus the trial's best accuracy under attack on the "
            "per-epoch test images, in points. Filled: above the permutation null; hollow: not. Dashed: no excess "
            f"(the null's mean); dotted: the failure margin of {margin:g} points.")

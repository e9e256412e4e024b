"""The MI estimator page's checks as readers see them: the frames, sentences, glued numbers and plots of an
``mi_estimator`` record (:func:`semirobust.experiments.rho.mi_checks.run_mi_checks`). Nothing here estimates."""
from __future__ import annotations

import pandas as pd

from semirobust import mi
from semirobust.experiments.report.markup import as_sentence
from semirobust.experiments.report.style import book_figure, book_style
from semirobust.mi import true_mi

__all__ = ["frames", "stamp", "correlation_sentences", "sample_size_sentences", "sample_size_summary",
           "dimension_line", "invariance_frame", "invariance_line", "timing_line", "glue_values",
           "plot_correlation", "plot_sample_size", "plot_dimension", "plot_timing"]


def frames(record: dict) -> dict[str, pd.DataFrame]:
    """The record's tables: ``by_correlation``, ``by_sample_size``, ``by_dimension`` and ``timing``."""
    metrics = record["metrics"]
    return {key: pd.DataFrame(metrics[key]) for key in ("by_correlation", "by_sample_size", "by_dimension", "timing")}


def stamp(record: dict) -> str:
    """Where and at what size the checks ran."""
    config = record["config"]
    return (f"Computed at profile={config['profile']} (seed {config['seed']}, {record['extra']['device']}) on synthetic "
            f"data: {config['sizes']['n']} samples per closed-form check")


def correlation_sentences(record: dict) -> list[str]:
    """The closed-form check of one pair (both presets against the tolerance) and each preset's ranking."""
    m = record["metrics"]
    return [f"One pair, r <= 0.95: max |EDGE - truth| = {m['max_abs_error_one_pair_authors']:.3f} bits at the authors "
            f"preset (the one rho uses) and {m['max_abs_error_one_pair']:.3f} at noshad (tolerance {m['tolerance']}, "
            "tested at noshad)."] + [as_sentence(text) for text in m["ranking"].values()]


def sample_size_sentences(record: dict) -> list[str]:
    """The largest estimate on independent inputs against its bound, and each preset's bias with N."""
    m = record["metrics"]
    return [f"Independent inputs (2 dims per side, N >= 1000, noshad): largest estimate {m['independent_max']:.4f} bits "
            f"(documented bound {m['independent_bound']})."] + [as_sentence(text) for text in m["bias"].values()]


def sample_size_summary(record: dict) -> pd.DataFrame:
    """Mean, sd, min and max of the estimate per preset, r and N over the seeds."""
    return frames(record)["by_sample_size"].groupby(["preset", "r", "N"]).edge.agg(["mean", "std", "min", "max"])


def dimension_line(record: dict) -> str:
    by_dim = frames(record)["by_dimension"]
    return (f"independent inputs with {by_dim.dim.iloc[-1]} dimensions per side: EDGE = "
            f"{record['metrics']['independent_top_dim']:.2f} bits (truth 0)")


def invariance_frame(record: dict) -> pd.DataFrame:
    """EDGE under each invariance (one column)."""
    return pd.Series(record["metrics"]["invariances"], name="EDGE (bits)").to_frame()


def invariance_line(record: dict) -> str:
    return f"largest change under the invariances: {record['metrics']['invariance_gap']:.2e} bits"


def timing_line(record: dict) -> str:
    m, times = record["metrics"], frames(record)["timing"]
    return (f"d = {record['config']['sizes']['timing_dim']}: {m['time_largest_n_s']:.3f} s at N = {times.N.iloc[-1]}, "
            f"growth exponent {m['time_growth_exponent']:.2f}")


def glue_values(record: dict) -> dict:
    """The numbers and sentences the page's text cites, under their glue names."""
    m = record["metrics"]
    return {"mi_stamp": stamp(record), "mi_max_abs_error": m["max_abs_error_one_pair"],
            "mi_max_abs_error_authors": m["max_abs_error_one_pair_authors"], "mi_tolerance": m["tolerance"],
            "mi_ranking_authors": as_sentence(m["ranking"]["authors"]), "mi_independent_max": m["independent_max"],
            "mi_bias_authors": as_sentence(m["bias"]["authors"]), "mi_bias_noshad": as_sentence(m["bias"]["noshad"]),
            "mi_independent_top_dim": m["independent_top_dim"],
            "mi_top_dim": int(frames(record)["by_dimension"].dim.iloc[-1]),
            "mi_invariance_gap": m["invariance_gap"], "mi_time_largest_n": m["time_largest_n_s"],
            "mi_time_growth": m["time_growth_exponent"]}


def _where(record: dict) -> str:
    return f"profile {record['config']['profile']}"


@book_style
def plot_correlation(record: dict):
    """EDGE against the true MI of Gaussian pairs, one line per preset and dimension, the truth dashed."""
    by_r = frames(record)["by_correlation"]
    fig, axes = book_figure(1, height=3.6)
    ax = axes[0, 0]
    for (preset, dim), g in by_r.groupby(["preset", "dim"]):
        ax.plot(g.true, g.edge, "o-" if preset == "authors" else "s:", label=f"{preset}, {dim} pair(s)")
    top = by_r[["true", "edge"]].to_numpy().max()
    ax.plot([0, top], [0, top], "k--", lw=1, label="truth")
    ax.set(xlabel="true MI (bits)", ylabel="EDGE estimate (bits)",
           title=f"Gaussian pairs, N = {record['config']['sizes']['n']} ({_where(record)})")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


@book_style
def plot_sample_size(record: dict):
    """The estimate's mean and sd over the seeds against N, per preset and r, the truths dashed."""
    by_n, ns = frames(record)["by_sample_size"], record["config"]["sizes"]["ns"]
    fig, axes = book_figure(1, height=3.6)
    ax = axes[0, 0]
    for (preset, r), g in by_n.groupby(["preset", "r"]):
        stats = g.groupby("N").edge.agg(["mean", "std"])
        label = f"{preset}, independent\n(2 dims per side)" if r == 0 else f"{preset}, one pair, r = {r}"
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o" if preset == "authors" else "s",
                    capsize=3, label=label)
    for r in sorted(set(by_n.r)):
        ax.axhline(true_mi(r), ls="--", lw=1, color="k")
    ax.set(xscale="log", xlabel="N (samples)", ylabel="MI (bits)", title=f"Estimate vs sample size ({_where(record)})")
    ax.set_xticks(ns, [str(n) for n in ns], minor=False)
    ax.minorticks_off()
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


@book_style
def plot_dimension(record: dict):
    """EDGE on correlated and independent inputs against the number of coordinate pairs, with the clip U."""
    by_dim, dims = frames(record)["by_dimension"], record["config"]["sizes"]["dims"]
    fig, axes = book_figure(1, height=3.4)
    ax = axes[0, 0]
    ax.plot(by_dim.dim, by_dim.true, "k--", label="truth (r = 0.8)")
    ax.plot(by_dim.dim, by_dim.edge, "o-", label="EDGE, r = 0.8")
    ax.plot(by_dim.dim, by_dim.edge_independent, "s-", label="EDGE, independent")
    ax.axhline(mi.DEFAULT_UPPER, color="grey", lw=1, ls=":", label="clip U")
    ax.set(xscale="log", xlabel="coordinate pairs d", ylabel="MI (bits)", ylim=(0, 12),
           title=f"Estimate vs dimension, N = {record['config']['sizes']['n']} ({_where(record)})")
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.minorticks_off()
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


@book_style
def plot_timing(record: dict):
    """The time of one estimate against N on log axes, with a line linear in N for reference."""
    times, dim = frames(record)["timing"], record["config"]["sizes"]["timing_dim"]
    fig, axes = book_figure(1, height=3.4)
    ax = axes[0, 0]
    ax.plot(times.N, times.seconds, "o-", label=f"edge_mi, d = {dim}\n({record['extra']['device']})")
    ax.plot(times.N, times.seconds.iloc[0] * times.N / times.N.iloc[0], "k--", lw=1, label="linear in N")
    ax.set(xscale="log", yscale="log", xlabel="N (samples)", ylabel="seconds", title=f"Time vs N ({_where(record)})")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig

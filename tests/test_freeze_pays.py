"""benchmarks/bench_freeze_pays.py at its quick size (the JSON's keys; no timing asserted), the efficiency page's
reading of it (semirobust.experiments.supplementary.freeze_pays: a verdict per f_b size, the figure, the glued values)
on synthetic reports, the cost model's ratios the benchmark records, and the offline units' glued values."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import matplotlib
import pytest

matplotlib.use("Agg")

from semirobust.experiments.report.style import legibility_problems  # noqa: E402
from semirobust.experiments.report.verdicts import claim_values  # noqa: E402
from semirobust.experiments.supplementary import freeze_pays, offline_units  # noqa: E402
from semirobust.inference import mean_and_half  # noqa: E402
from semirobust.models import build_model  # noqa: E402
from semirobust.utils import REPO_ROOT  # noqa: E402

SCRIPT = REPO_ROOT / "benchmarks" / "bench_freeze_pays.py"
BLOCK_KEYS = {"arch", "fb_layers", "attack", "attack_steps", "full_s", "frozen_s", "full_cpu_s", "frozen_cpu_s",
              "ratios", "ratio_mean", "ratio_half", "ratio_low", "ratio_high", "cpu_ratio_mean", "cost_model_ratio",
              "fa_params", "saved_state_mb", "memory"}


def _bench():
    spec = importlib.util.spec_from_file_location("bench_freeze_pays", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _block(arch, fb, attack, ratios, cost=0.9):
    mean, half = mean_and_half(ratios)
    full = [0.1] * len(ratios)
    return {"arch": arch, "fb_layers": fb, "attack": attack, "attack_steps": 5 if attack == "pgd5" else 0,
            "full_s": full, "frozen_s": [r * f for r, f in zip(ratios, full)], "ratios": ratios, "ratio_mean": mean,
            "ratio_half": half, "ratio_low": None if half is None else mean - half,
            "ratio_high": None if half is None else mean + half, "cost_model_ratio": cost, "fa_params": 1000,
            "saved_state_mb": 0.01, "memory": {"full_mb": 50.0, "frozen_mb": 40.0}}


def _report(results):
    networks = {"vgg16": {"width": 0.125, "layers": 16, "fb_sizes": [1, 4, 12], "params": 1,
                          "full_step_cost": {"pgd5": 4.3, "none": 1.0}},
                "resnet50": {"width": 0.0625, "layers": 54, "fb_sizes": [4, 54], "params": 1,
                             "full_step_cost": {"pgd5": 4.3, "none": 1.0}}}
    return {"benchmark": "bench_freeze_pays", "date": "2026-12-07T12:00:00+00:00",
            "machine": {"cpu": "test CPU", "arch": "x86_64", "logical_cpus": 2, "load_average_before": 0.1,
                        "load_average_after": 0.2},
            "torch": "2", "threads": 2, "repeats": 3, "steps_per_repeat": 2, "warmup_steps": 1, "batch": 64,
            "image_shape": [3, 32, 32], "dataset": "fashion-mnist", "quick": False, "networks": networks,
            "attacks": {"pgd5": "PGD-5", "none": "no attack"}, "memory_kind": "peak RSS growth", "results": results}


@pytest.fixture
def synthetic():
    """VGG16 under PGD-5: f_b = 1 below 1 (faster), 4 covering 1 (undecided), 12 above 1 (slower); no attack
    everywhere faster; ResNet50 one f_b of each kind."""
    return _report([
        _block("vgg16", 1, "pgd5", [0.80, 0.82, 0.81]), _block("vgg16", 4, "pgd5", [0.8, 1.2, 1.0]),
        _block("vgg16", 12, "pgd5", [1.10, 1.12, 1.11]), _block("vgg16", 1, "none", [0.30, 0.31, 0.32]),
        _block("vgg16", 4, "none", [0.40, 0.41, 0.42]), _block("vgg16", 12, "none", [0.70, 0.72, 0.71]),
        _block("resnet50", 4, "pgd5", [0.85, 0.86, 0.87]), _block("resnet50", 54, "pgd5", [0.9, 1.1, 1.0], 1.0),
        _block("resnet50", 4, "none", [0.3, 0.31, 0.32]), _block("resnet50", 54, "none", [0.9, 1.1, 1.0], 1.0)])


@pytest.mark.slow
def test_quick_run_writes_the_expected_keys(tmp_path):
    out = tmp_path / "bench_freeze_pays.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--archs", "vgg16", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {"date", "machine", "torch", "threads", "repeats", "batch", "networks", "results", "memory_kind",
            "saved_state_kind", "train_attack"} <= set(report)
    assert report["machine"]["cpu"] and report["quick"] and report["repeats"] == 1 and report["batch"] == 4
    assert report["train_attack"]["steps"] == 5 and report["networks"]["vgg16"]["layers"] == 16
    assert [(b["fb_layers"], b["attack"]) for b in report["results"]] == [(12, "pgd5"), (12, "none")]
    for block in report["results"]:
        assert BLOCK_KEYS <= set(block) and len(block["ratios"]) == 1 and block["ratio_low"] is None
        assert set(block["memory"]) == {"full_mb", "frozen_mb"} and block["memory"]["full_mb"] is not None
    # the page reads a one-round report: no interval, so undecided
    assert set(freeze_pays.fb_verdicts(report).values()) == {"undecided"}
    assert "no interval" in freeze_pays.freeze_table(report)["95% interval"].tolist()
    result, status, reading = freeze_pays.freeze_claim(report, "vgg16", 12)
    assert status == "undecided" and "one timing round" in reading


def test_the_verdict_per_fb_reads_the_interval(synthetic):
    verdicts = freeze_pays.fb_verdicts(synthetic, "pgd5")
    assert verdicts[("vgg16", 1)] == "faster" and verdicts[("vgg16", 4)] == "undecided"
    assert verdicts[("vgg16", 12)] == "slower" and verdicts[("resnet50", 54)] == "undecided"
    assert set(freeze_pays.fb_verdicts(synthetic, "none").values()) - {"undecided"} == {"faster"}
    assert [freeze_pays.fb_verdict(lo, hi) for lo, hi in ((0.5, 0.9), (0.9, 1.1), (1.01, 1.2), (None, None))] == \
        ["faster", "undecided", "slower", "undecided"]
    table = freeze_pays.freeze_table(synthetic)
    assert list(table.columns) == list(freeze_pays.TABLE_HEADERS.values()) and len(table) == 10
    assert table["frozen step"].tolist()[:3] == ["faster", "undecided", "slower"]
    text = freeze_pays.freeze_pays_fb(synthetic)
    assert "PGD-5: VGG16 at f_b = 1 (0.810" in text and "ResNet50 at f_b = 4" in text
    assert "No attack: VGG16 at f_b = 1 (0.310" in text and ", 12 (0.710" in text
    result, status, reading = freeze_pays.freeze_claim(synthetic, "vgg16", 12)
    assert status == "not confirmed" and "VGG16 with f_b = 12: time ratio 1.110" in result
    assert freeze_pays.freeze_claim(synthetic, "vgg16", 1)[1] == "confirmed"
    with pytest.raises(ValueError, match="vgg16/1/pgd5"):
        freeze_pays.block(synthetic, "vgg16", 8)


def test_the_quoted_values_read_the_main_fb_and_the_full_steps(synthetic):
    values = freeze_pays.book_values(synthetic, "vgg16", 12, 4)
    assert values["freeze_ratio"] == 1.11 and values["freeze_ratio_other"] == 1.0
    assert values["freeze_memory_ratio"] == 0.8 and values["freeze_model_ratio"] == 0.9
    assert values["full_pgd_multiple"] == 1.0 and values["full_pgd_multiple_model"] == 4.3
    lines = freeze_pays.settings_lines(synthetic, None)
    assert "test CPU" in lines[0] and "not measured yet" in lines[1] and len(lines) == 2


def test_every_glue_name_the_pages_read_is_glued(synthetic):
    """The efficiency page's Markdown and the theory pages read only names the notebook glues."""
    values = freeze_pays.book_values(synthetic, "vgg16", 12, 4)
    glued = {*values, "efficiency_result", "efficiency_reading", "efficiency_profile", "freeze_pays_fb",
             "freeze_ratio_fig", "freeze_ratio_fig_caption", *offline_units.unit_values(None),
             *claim_values("cheaper_step", "claim", "undecided", "evidence")}
    notebook = json.loads((REPO_ROOT / "notebooks" / "efficiency.ipynb").read_text())
    markdown = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    used = set(re.findall(r"\{glue:(?:text|figure)\}`?\s*([A-Za-z0-9_]+)", markdown))
    assert used and used <= glued, f"glued by nobody: {used - glued}"
    other_pages = {name for page in (REPO_ROOT / "book").rglob("*.md") if "_build" not in page.parts
                   for name in re.findall(r"efficiency\.ipynb::(\w+)", page.read_text(encoding="utf-8"))}
    assert other_pages <= glued, f"the book's pages read {other_pages - glued} from the efficiency page"


def test_the_figure_passes_the_legibility_check(synthetic):
    fig = freeze_pays.freeze_ratio_figure(synthetic)
    try:
        assert not legibility_problems(fig)
        assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    finally:
        matplotlib.pyplot.close(fig)
    caption = freeze_pays.freeze_ratio_caption(synthetic)
    assert "3 interleaved rounds" in caption and "test CPU" in caption


@pytest.mark.parametrize("arch, width, sizes", [("vgg16", 0.125, (1, 4, 8, 12, 16)),
                                                ("resnet50", 0.0625, (4, 8, 16, 32, 54))])
def test_the_cost_model_ratio_is_one_for_the_whole_network_and_falls_with_fb(arch, width, sizes):
    bench = _bench()
    model = build_model(arch, "fashion-mnist", width)
    for attack in bench.ATTACKS:
        ratios = [bench.cost_ratio(model, attack, fb) for fb in sizes]
        assert ratios[-1] == pytest.approx(1.0)
        assert all(a < b for a, b in zip(ratios, ratios[1:])), (attack, ratios)
    adversarial = [bench.cost_ratio(model, "pgd5", fb) for fb in sizes]
    assert min(adversarial) > 11 / 13 - 0.02  # PGD's input-gradient passes through f_a stay: at least ~(2K+1)/(2K+3)


def test_offline_units_glue_not_measured_without_the_file_and_ratios_with_it(tmp_path):
    absent = offline_units.unit_values(offline_units.load_units(tmp_path))
    assert {k: v for k, v in absent.items() if k != "unit_sentence"} == {
        "unit_speedup_train_epoch": "not measured", "unit_speedup_trial_epoch": "not measured",
        "unit_speedup_scoring": "not measured", "unit_peak_fraction": "not measured"}
    assert "not committed" in absent["unit_sentence"]
    units = {"train_epoch": {"ratio": 1.234, "peak_fraction": 0.05}, "trial_epoch": {"ratio": 1.5, "peak_fraction": 0.081},
             "scoring": {"ratio": 2.0, "peak_fraction": None}, "after_trials": {"ratio": 1.1, "peak_fraction": None}}
    (tmp_path / offline_units.RESULT_FILE).write_text(json.dumps(
        {"units": units, "peak_gflops": 100.0, "date": "2026-12-07T10:00:00+00:00", "cpu": "test CPU", "threads": 2}))
    values = offline_units.unit_values(offline_units.load_units(tmp_path))
    assert (values["unit_speedup_train_epoch"], values["unit_speedup_trial_epoch"], values["unit_speedup_scoring"]) == \
        (1.23, 1.5, 2.0)
    assert values["unit_peak_fraction"] == "8.1%"
    assert "test CPU" in values["unit_sentence"] and "2026-12-07" in values["unit_sentence"]

"""benchmarks/gpu_check.py --tiny on the CPU (schema and correctness checks; no timing asserted),
and the cost model and readers of semirobust.experiments.supplementary.efficiency."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semirobust.experiments.report.markup import plain_markdown
from semirobust.experiments.supplementary import efficiency
from semirobust.models import build_model

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _run(tmp_path, *extra):
    out = tmp_path / "gpu_check_cpu.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600)
    return done, out


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    done, out = _run(tmp_path_factory.mktemp("gpu_check"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_tiny_run_schema_and_correctness(tiny_report):
    r = tiny_report
    assert r["benchmark"] == "gpu_check" and r["device_type"] == "cpu" and r["tiny"] and r["passed"]
    assert [c["arch"] for c in r["correctness"]] == ["vgg16", "resnet50"]
    for check in r["correctness"]:
        assert check["fa_bit_identical"] and check["loss_falls"] and check["steps"] == 20 and check["fa_tensors"] > 0
    (case,) = r["cases"]
    assert (case["shape"], case["arch"]) == ("cifar10", "vgg16")
    got = {(m["variant"], m["fb_layers"]) for m in case["measurements"]}
    assert got == {("plain", None), ("full", None), ("frozen", 4), ("authors", 4), ("frozen", 12), ("authors", 12)}
    for m in case["measurements"]:
        assert m["images_per_s"] > 0 and m["step_s"] > 0 and m["step_basis"] == "process CPU time" and "memory_mb" in m and m["memory_kind"]
        assert m["multiple_of_plain"] > 0 and m["ideal_multiple"] == 11 and m["repeats"] == 1
    assert {r_["fb_layers"] for r_ in case["ratios"]} == {4, 12}
    assert set(case["analytic"]) == {"4", "12"}
    for key, target in r["targets"].items():
        assert set(target) == {"measured", "target", "met"}, key
    assert any(k.endswith("throughput_frozen_over_full") for k in r["targets"])
    assert r["attacks"]["apgd_ce"]["seconds_per_image"] > 0
    assert r["mi"]["cpu"]["seconds"] >= 0 and r["mi"]["n"] == 200


@pytest.mark.slow
def test_summary_reads_the_report(tiny_report):
    s = efficiency.summary(tiny_report, "cifar10", "vgg16", 12)
    assert {"throughput_frozen_over_full", "full_multiple", "analytic_throughput_ratio", "memory_saved_mb"} <= set(s)
    assert len(efficiency.step_rows(tiny_report)) == 6 and len(efficiency.ratio_rows(tiny_report)) == 2


@pytest.mark.slow
def test_broken_freeze_is_detected(tmp_path):
    done, out = _run(tmp_path, "--break-freeze", "--skip-mi")
    assert done.returncode == 1, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert not report["passed"] and report["correctness"][0]["fa_tensors_changed"]


def test_analytic_costs_vgg16():
    model = build_model("vgg16", "cifar10", width=0.125)
    macs = efficiency.layer_macs(model, (3, 32, 32))
    assert len(macs) == 16 and all(m > 0 for _, m in macs)
    a12, a4 = (efficiency.analytic_costs(model, (3, 32, 32), fb) for fb in (12, 4))
    assert a12["full_step_F"] == 23 and a12["plain_step_F"] == 3 and a12["ideal_multiple"] == 11
    # a smaller f_b back-propagates through less of the network in the training pass
    assert 1 < a12["throughput_frozen_over_full"] < a4["throughput_frozen_over_full"] < 23 / 21
    assert a4["fa_params"] > a12["fa_params"] > 0  # f_b = 4 leaves more layers in f_a
    assert a12["fp32_state_saved_mb"] == pytest.approx(2 * a12["fa_params"] * 4 / 2**20)


def test_algorithm1_cost():
    c = efficiency.algorithm1_cost(0.9, 0.1, epochs=120, trials=5, sub_epochs=10)
    assert c["algorithm1_total"] == pytest.approx(12 + 120 + 45)
    assert c["algorithm1_over_full_at"] > 1
    assert c["subnetwork_route_over_full_at"] == pytest.approx((12 + 45) / 120)


@pytest.mark.slow
def test_book_values(tiny_report):
    values = efficiency.book_values(tiny_report)
    assert values["frozen_over_full"] > 0 and "alg1_over_full_at" not in values  # end to end: the pays page
    assert "autoattack_ms_per_image" not in values  # skipped under --tiny
    assert "width 0.0625" in efficiency.settings_text(tiny_report)


def test_the_efficiency_page_lines_read_the_committed_cpu_report():
    """The efficiency page's sentences come from the library: settings, attack cost, targets, profile, quoted table."""
    cpu = efficiency.load_check("cpu")
    lines = efficiency.settings_lines(cpu, None)
    assert lines[0] == "**CPU figures:** " + plain_markdown(efficiency.settings_text(cpu)) + "."
    assert lines[1].startswith("**GPU figures:** not measured yet")
    assert efficiency.settings_lines(cpu, cpu)[1] == "**GPU figures:** " + plain_markdown(efficiency.settings_text(cpu)) + "."
    cost = efficiency.attack_cost_lines({"CPU": cpu, "GPU": None})
    assert len(cost) == 1 and cost[0].startswith("**CPU, attack cost** on 64 CIFAR-shaped images")
    met = sum(t["met"] is True for t in cpu["targets"].values())
    missed = [k for k, t in cpu["targets"].items() if t["met"] is False]
    sentences = efficiency.gpu_target_sentences(cpu)
    assert sentences[0] == f"GPU targets: {met} met, {len(missed)} missed" and len(sentences) == 1 + len(missed)
    assert efficiency.profile_sentence(cpu, "CPU") == f"no scale profile: a timing benchmark on CPU, {efficiency.settings_text(cpu)}"
    values = efficiency.book_values(cpu)
    quoted = efficiency.quoted_frame(values)
    assert list(quoted.columns) == ["quantity", "value"] and len(quoted) == len(values)
    assert quoted["value"].iloc[0] == round(next(iter(values.values())), 3)

"""Where the offline build's time goes on a CPU, and what the memory layout and thread settings change.

Prints, side by side in one run, for each network at its offline width: milliseconds per image of a standard
training step (batch 64), of one attack iteration (a forward and an input-gradient backward in eval mode, the
unit of every PGD and APGD step; batch 256 and 512) and of a clean forward under ``torch.inference_mode``
against ``torch.no_grad``, with the weights contiguous (NCHW) and channels-last, at 1 and 2 threads. The ratio
column is contiguous over channels-last (above 1: channels-last is faster). ``semirobust.config.ArchSpec``'s
``cpu_channels_last`` records the choice this benchmark measured.

    python benchmarks/bench_cpu_formats.py [--threads 1 2] [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from semirobust.models import build_model
from semirobust.training import training_step

WIDTHS = {"vgg16": 0.125, "alexnet": 0.25, "resnet50": 0.0625}


def _best_ms_per_image(run, images: int, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times) / images


def measure(arch: str, channels_last: bool, repeats: int) -> dict:
    torch.manual_seed(0)
    model = build_model(arch, "fashion-mnist", width=WIDTHS[arch], channels_last=channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.rand(512, 3, 32, 32), torch.randint(0, 10, (512,))
    out = {"train": _best_ms_per_image(lambda: training_step(model, x[:64], y[:64], optimizer), 64, repeats)}
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)

    def attack_iteration(batch):
        xx = x[:batch].clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xx), y[:batch]), xx)

    for batch in (256, 512):
        out[f"attack_{batch}"] = _best_ms_per_image(lambda b=batch: attack_iteration(b), batch, repeats)

    def forward(context):
        with context():
            model(x[:256])

    out["forward_no_grad"] = _best_ms_per_image(lambda: forward(torch.no_grad), 256, repeats)
    out["forward_inference_mode"] = _best_ms_per_image(lambda: forward(torch.inference_mode), 256, repeats)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--archs", nargs="+", default=list(WIDTHS))
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}; ms per image (best of {args.repeats}); ratio = contiguous / channels-last")
    print(f"{'network':<18}{'threads':>8}  {'measure':<24}{'contiguous':>11}{'ch.-last':>10}{'ratio':>8}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for arch in args.archs:
            plain, last = measure(arch, False, args.repeats), measure(arch, True, args.repeats)
            for key in plain:
                print(f"{arch + ' w' + str(WIDTHS[arch]):<18}{threads:>8}  {key:<24}{plain[key]:>11.3f}{last[key]:>10.3f}"
                      f"{plain[key] / last[key]:>8.2f}", flush=True)


if __name__ == "__main__":
    main()

"""Quantizer speed on the ladder's largest model (issue 13: "AWQ takes seconds on the GPU").

    PYTHONPATH=src python benchmarks/bench_quant.py              # the GPU if there is one
    PYTHONPATH=src python benchmarks/bench_quant.py --device cpu

Builds the largest model of ``data/ladder/gpu-ladder.toml`` (d_model 384, 8 layers, 14.2M
non-embedding parameters, context 512) with its initial weights (the work of every step below
does not depend on the weights' values) and times, after one warm-up pass of each:

* the calibration statistics AWQ reads (one forward pass over 16 x 512 tokens and the Gram
  matrix of every layer's inputs),
* each weight quantizer on all 32 linear layers (RTN, and AWQ's 21-point search with the
  statistics collected once),
* the validation loss the ladder computes under each quantizer (256 windows of 512 bytes, as
  the ladder's non-final evaluation), for scale.

Prints one JSON object: device, torch version and seconds per step (median of ``--repeats``).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

from scalinglab.ladder.model import GPT
from scalinglab.ladder.sizing import ModelShape
from scalinglab.quant.apply import quantizable_linears, quantize_weights_
from scalinglab.quant.awq import collect_activation_stats

CONFIGS = ("w4_rtn", "w4g32_rtn", "w4_awq", "w4g32_awq", "w3g32_awq")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    shape = ModelShape(d_model=384, n_layers=8, n_heads=6, seq_len=512)
    model = GPT(shape).to(device)
    calibration = torch.randint(0, 256, (16, 512), device=device)
    validation = torch.randint(0, 256, (256, 513), device=device)
    layers = quantizable_linears(model)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    @torch.no_grad()
    def val_loss(m) -> float:
        total = 0.0
        for i in range(0, validation.shape[0], 64):
            x, y = validation[i : i + 64, :-1], validation[i : i + 64, 1:]
            with autocast:
                total += float(m(x, y)) * x.shape[0]
        return total / validation.shape[0]

    stats = collect_activation_stats(model, calibration, layers)
    seconds = {
        "calibration_stats": timed(
            lambda: collect_activation_stats(model, calibration, layers), device, args.repeats
        ),
        "val_loss_256x512": timed(lambda: val_loss(model), device, args.repeats),
    }
    for name in CONFIGS:
        seconds[name] = timed(
            lambda name=name: quantize_weights_(copy.deepcopy(model), name, stats=stats),
            device, args.repeats,
        )  # fmt: skip
    print(json.dumps({
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "params_non_embedding": sum(layer.weight.numel() for layer in layers.values()),
        "linear_layers": len(layers),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()

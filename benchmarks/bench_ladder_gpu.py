"""GPU throughput of the ladder's trainer against a plain reference GPT, measured in one run.

For each size (non-embedding params 3.2M, 25M, 85M, 202M; vocab 256, T=1024, bf16 autocast,
torch.compile, fused AdamW) it measures:

* ``reference``: a plain nanoGPT-style GPT written below (pre-LN with biases, learned
  positions, SDPA, tied embeddings, GELU MLP), trained on random tokens generated on the GPU,
  timed with CUDA events over ``--steps`` steps after warm-up;
* ``ladder``: :func:`scalinglab.ladder.train.train_run` itself (the code every ladder run
  goes through: schedule, data sampling, clipping, loss bookkeeping), on a token file, its
  tokens/s as the trainer reports it (compile steps excluded).

MFU = (6 N + 12 L d T) tokens/s / 989 TFLOP/s (dense bf16 peak of an H100/H200 SXM).

    python benchmarks/bench_ladder_gpu.py [--sizes 3.2M,25M,85M,202M] [--steps 120] [--batch B]
        [--json F]
    python benchmarks/bench_ladder_gpu.py --spec data/ladder/gpu-ladder.toml \
        --spec-shapes 96x4,384x8 --steps 400   # a ladder's shapes alone, as it trains them
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scalinglab.ladder.config import RunConfig  # noqa: E402
from scalinglab.ladder.sizing import ModelShape, flops_per_token, non_embedding_params  # noqa: E402
from scalinglab.ladder.sweep import GPU_PEAK_FLOPS  # noqa: E402
from scalinglab.ladder.train import train_run  # noqa: E402

SIZES = {  # name: (d_model, n_layers, batch): the issue's reference shapes, head dim 64
    "3.2M": (256, 4, 128),
    "25M": (512, 8, 64),
    "85M": (768, 12, 32),
    "202M": (1024, 16, 16),
}
# The issue's reference numbers (H100 80GB): tokens/s of a plain compiled GPT per size.
ISSUE_REFERENCE = {"3.2M": 7.15e6, "25M": 1.71e6, "85M": 649e3, "202M": 305e3}


# --------------------------------------------------------------------------------------------
# The plain reference GPT (nanoGPT's model.py, trimmed)
# --------------------------------------------------------------------------------------------
class RefBlock(nn.Module):
    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    def __init__(self, d: int, n_layers: int, t: int, vocab: int = 256) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(t, d)
        self.blocks = nn.ModuleList(RefBlock(d, d // 64) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))


def bench_reference(d: int, n_layers: int, batch: int, t: int, steps: int) -> float:
    torch.manual_seed(0)
    model = RefGPT(d, n_layers, t).cuda()
    opt = torch.optim.AdamW(
        model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=True
    )
    cmodel = torch.compile(model)
    data = torch.randint(0, 256, (steps + 20, batch, t + 1), device="cuda")

    def step(i):
        x, y = data[i, :, :-1], data[i, :, 1:]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = cmodel(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for i in range(10):  # compile and warm up
        step(i)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for i in range(steps):
        step(10 + i)
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3
    return steps * batch * t / seconds  # the model and data are freed on return


def bench_ladder(
    d: int,
    n_layers: int,
    batch: int,
    t: int,
    steps: int,
    corpus: str,
    positions: str,
    n_heads: int | None = None,
) -> dict:
    """The trainer's own result of a run of ``steps`` timed steps (``tokens_per_s`` etc.)."""
    shape = ModelShape(
        d_model=d, n_layers=n_layers, n_heads=n_heads or d // 64, seq_len=t, positions=positions
    )
    cfg = RunConfig(
        family="bench",
        shape=shape,
        tokens=(steps + 50) * batch * t,
        batch_size=batch,
        lr=1e-3,
        eval_every=10**9,
        eval_tokens=batch * t,
        final_eval_tokens=batch * t,
        ckpt_every=10**9,
        corpus=corpus,
        compile="yes",
        val_fraction=0.01,
    )
    with tempfile.TemporaryDirectory() as run_dir:
        result = train_run(cfg, run_dir)
    torch.cuda.empty_cache()
    return {**result, "steps": cfg.steps}


def bench_spec_shapes(spec_file: str, shapes: str, steps: int, corpus: str) -> list[dict]:
    """Each named shape of a ladder spec trained alone for ``steps`` steps, as the spec would
    (its context and batch, compiled): the rates ``ladder plan`` estimates from."""
    from scalinglab.ladder.spec import load_spec

    sweep = load_spec(spec_file)
    by_name = {f"{c.shape.d_model}x{c.shape.n_layers}": c for c in sweep.runs}
    rows = []
    for name in shapes.split(","):
        cfg = by_name[name]
        s = cfg.shape
        t0 = time.perf_counter()
        info = bench_ladder(
            s.d_model, s.n_layers, cfg.batch_size, s.seq_len, steps, corpus, s.positions,
            n_heads=s.n_heads,
        )  # fmt: skip
        tok_s = float(info["tokens_per_s"])
        fpt = flops_per_token(s)
        rows.append(
            {
                "shape": name,
                "params": non_embedding_params(s),
                "batch": cfg.batch_size,
                "seq_len": s.seq_len,
                "steps": info["steps"],
                "tokens_per_s": tok_s,
                "step_ms": 1e3 * cfg.batch_size * s.seq_len / tok_s,
                "mfu": tok_s * fpt / GPU_PEAK_FLOPS,
                "run_s": info["elapsed_s"],
                "wall_s": time.perf_counter() - t0,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=None, help="sequences per step for every size")
    ap.add_argument("--positions", default="rope", help="ladder model: rope, learned or both")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--spec", default=None, help="instead: time shapes of this ladder spec alone")
    ap.add_argument("--spec-shapes", default="96x4,384x8", help="with --spec: DxL,DxL,...")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_ladder_gpu.py needs a CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = True
    device = torch.cuda.get_device_name(0)
    t = args.seq_len
    tokens = np.random.default_rng(0).integers(0, 256, 64_000_000, dtype=np.uint8)
    corpus = os.path.join(tempfile.mkdtemp(), "bench_tokens.npy")
    np.save(corpus, tokens)
    if args.spec:
        rows = bench_spec_shapes(args.spec, args.spec_shapes, args.steps, corpus)
        if args.json:
            doc = {"device": device, "torch": torch.__version__, "spec": args.spec, "runs": rows}
            Path(args.json).write_text(json.dumps(doc, indent=1))
        return
    positions = ["rope", "learned"] if args.positions == "both" else [args.positions]
    results = []
    print(f"device: {device}; torch {torch.__version__}; T={t}; bf16 autocast; compiled")
    for name in args.sizes.split(","):
        d, n_layers, batch = SIZES[name]
        batch = args.batch or batch
        shape = ModelShape(d_model=d, n_layers=n_layers, n_heads=d // 64, seq_len=t)
        fpt = flops_per_token(shape)
        t0 = time.perf_counter()
        ref = bench_reference(d, n_layers, batch, t, args.steps)
        row = {
            "size": name,
            "params": non_embedding_params(shape),
            "d_model": d,
            "n_layers": n_layers,
            "batch": batch,
            "seq_len": t,
            "reference_tok_s": ref,
            "reference_mfu": ref * fpt / GPU_PEAK_FLOPS,
            "issue_reference_tok_s": ISSUE_REFERENCE.get(name),
        }
        for pos in positions:
            lad = float(
                bench_ladder(d, n_layers, batch, t, args.steps, corpus, pos)["tokens_per_s"]
            )
            row[f"ladder_{pos}_tok_s"] = lad
            row[f"ladder_{pos}_mfu"] = lad * fpt / GPU_PEAK_FLOPS
            row[f"ladder_{pos}_vs_reference"] = lad / ref
            if ISSUE_REFERENCE.get(name):
                row[f"ladder_{pos}_vs_issue"] = lad / ISSUE_REFERENCE[name]
        row["seconds"] = time.perf_counter() - t0
        results.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\n{'size':>6} {'params':>11} {'reference tok/s':>16} {'MFU':>5} "
        + " ".join(
            f"{'ladder-' + p + ' tok/s':>20} {'MFU':>5} {'x ref':>6} {'x issue':>7}"
            for p in positions
        )
    )
    for r in results:
        line = (
            f"{r['size']:>6} {r['params']:>11,} {r['reference_tok_s']:>16,.0f} "
            f"{r['reference_mfu']:>5.1%}"
        )
        for p in positions:
            vs_issue = r.get(f"ladder_{p}_vs_issue", math.nan)
            line += (
                f" {r[f'ladder_{p}_tok_s']:>20,.0f} {r[f'ladder_{p}_mfu']:>5.1%}"
                f" {r[f'ladder_{p}_vs_reference']:>6.2f} {vs_issue:>7.2f}"
            )
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"device": device, "torch": torch.__version__, "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()

"""Named sweep specs shipped with the package (``scalinglab ladder run --preset NAME``).

* ``cpu-tiny``: five sizes spanning 32x in non-embedding parameters (12K to 394K), three
  token budgets (0.3M, 0.6M, 1.2M), and one size under cosine / WSD / constant; about 5
  minutes on 2 idle CPU cores.
* ``gpu-ladder``: the spec of the bundled GPU ladder in ``data/ladder/`` (see its README):
  six sizes spanning 32x (0.45M to 14.2M), budgets of 50M / 100M / 200M tokens in one fixed
  batch of 64 x 512, and the 1.8M size at 100M tokens under cosine, WSD and constant
  schedules.
* ``gpu-ladder-replicates``: seeds 1-3 of the smallest, a middle and a large size of
  ``gpu-ladder`` at 50M and 100M tokens, and two initialisations of the smallest under one
  batch order, with the largest logits measured along training (``data/ladder/replicates/``).
"""

from __future__ import annotations

from ..errors import InputError
from .spec import Sweep, parse_spec

CPU_TINY = """\
name = "cpu-tiny"
description = "A small ladder for a 2-core CPU: 5 sizes (12K-394K params) x 3 budgets."

[model]
seq_len = 128
positions = "rope"
tied_embeddings = true
sizes = [
  {d_model = 32, n_layers = 1},
  {d_model = 48, n_layers = 2},
  {d_model = 64, n_layers = 2},
  {d_model = 96, n_layers = 2},
  {d_model = 128, n_layers = 2},
]

[budget]
tokens = [3e5, 6e5, 1.2e6]

[train]
batch_size = 16
lr = "3e-3 * (64 / d_model)**0.5"
schedule = "cosine"
warmup = 0.05
seeds = [0]
eval_every = 100
eval_tokens = 32768
final_eval_tokens = 262144
ckpt_every = 100

[corpus]
source = "python"
val_fraction = 0.01

[[schedule_variants]]
size = {d_model = 64, n_layers = 2}
tokens = 1.2e6
schedules = ["cosine", "wsd", "constant"]
"""

#: The bundled GPU ladder's model, training and corpus, shared by its presets.
_GPU_MODEL = """\
[model]
seq_len = 512
positions = "rope"
tied_embeddings = true
sizes = [
  {d_model = 96, n_layers = 4},
  {d_model = 128, n_layers = 4},
  {d_model = 192, n_layers = 4},
  {d_model = 256, n_layers = 5},
  {d_model = 320, n_layers = 6},
  {d_model = 384, n_layers = 8},
]

"""
_GPU_TRAIN = """\
[train]
batch_size = 64
lr = "24.4 * params**-0.575"  # fitted by `lr-sweep` on the 50M-token sweep (lr-sweep-50m/)
schedule = "cosine"
warmup = 0.05
min_lr_ratio = 0.1
seeds = [0]
eval_every = 250
eval_tokens = 131072
final_eval_tokens = 4194304
log_every = 8
ckpt_every = 1000
compile = "yes"

[corpus]
source = "python"
val_fraction = 0.01

"""

GPU_LADDER = (
    """\
name = "gpu-ladder"
description = "Bundled demo ladder: 6 sizes (0.44M-14.2M non-embedding params, 32x) x 3 budgets."

"""
    + _GPU_MODEL
    + """\
[budget]
tokens = [5.0e7, 1.0e8, 2.0e8]  # 1525, 3051, 6103 steps of 64 x 512 tokens

"""
    + _GPU_TRAIN
    + """\
[[schedule_variants]]
size = {d_model = 192, n_layers = 4}
tokens = 1.0e8
schedules = ["cosine", "wsd", "constant"]
"""
)

GPU_LADDER_REPLICATES = (
    """\
name = "gpu-ladder"
description = "Replicates of the bundled ladder: seeds 1-3 of three sizes at 50M and 100M tokens, and two seeds of the smallest with one order of batches."

"""
    + _GPU_MODEL
    + _GPU_TRAIN
    + """\
[[replicates]]  # seeds 1-3 of a small, a middle and a large size (issue 17)
sizes = [{d_model = 96, n_layers = 4}, {d_model = 192, n_layers = 4}, {d_model = 320, n_layers = 6}]
tokens = [5.0e7, 1.0e8]
seeds = [1, 2, 3]

[[replicates]]  # the smallest size's initialisation noise alone: one order of batches
sizes = [{d_model = 96, n_layers = 4}]
tokens = [5.0e7]
seeds = [4, 5]
data_seed = 0

[evaluate]  # the logits that precede divergence, along training
metrics = ["probes"]
at = [0.25, 0.5, 0.75, 1.0]
"""
)

PRESETS = {
    "cpu-tiny": CPU_TINY,
    "gpu-ladder": GPU_LADDER,
    "gpu-ladder-replicates": GPU_LADDER_REPLICATES,
}


def preset(name: str) -> Sweep:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return parse_spec(PRESETS[name], source=f"preset:{name}")

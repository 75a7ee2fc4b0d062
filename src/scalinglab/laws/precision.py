"""Precision as a scaling axis: the quantization-induced degradation law of Ouyang et al. 2024.

``QiD(N, D, P) = k * D**beta / (N**alpha * P**gamma)``: the loss a model of N parameters trained
on D tokens loses when its weights are rounded to P bits after training grows with the tokens
it was trained on and shrinks with its size and the bit width (Ouyang et al. 2024, *Low-Bit
Quantization Favors Undertrained LLMs: Scaling Laws for Quantized LLMs with 100T Training
Tokens*, arXiv:2411.17691, ACL 2025: their unified law, fitted on over 1500 quantized
checkpoints of open model suites at many training levels). The intuition: a model trained
longer stores more in the low-order bits of its weights, and rounding erases it.

Published exponents: alpha ~ 0.2261, beta ~ 0.5251, gamma ~ 5.4967, as the project's literature
notes (LITERATURE.md, sec. 4) quote the paper's unified fit; the abstract (arXiv, ACL
Anthology) confirms the form, the table itself was not re-read here. ``k`` depends on the units of N and D and
on the quantizer, so it is not borrowed. The variables are the run table's ``params``, ``tokens``
and a numeric column ``bits``; :func:`scalinglab.quant.qid_runs` makes that column from the
ladder's ``qid_w<bits>...`` metrics. The questions it answers with a loss law (how long to train
for a served precision, N and D for a budget served at P bits) are in
:mod:`scalinglab.planning.precision`.

Example:
    >>> v = {"k": 0.01, "alpha": 0.2261, "beta": 0.5251, "gamma": 5.4967}
    >>> round(float(QID.evaluate({"params": 1e9, "tokens": 1e12, "bits": 4}, v)), 4)
    0.0906
"""

from __future__ import annotations

from .base import Law

#: Ouyang et al. 2024's unified fit (exponents only; k carries their units and quantizer).
QID_PUBLISHED = {"alpha": 0.2261, "beta": 0.5251, "gamma": 5.4967}

QID = Law.from_formula(
    "k*tokens**beta*params**-alpha*bits**-gamma",
    name="qid",
    variables=["params", "tokens", "bits"],
    bounds={"alpha": (0.0, 3.0), "beta": (0.0, 3.0), "gamma": (0.0, 20.0)},
    grids={
        "alpha": (0.05, 0.15, 0.25, 0.4, 0.7),
        "beta": (0.15, 0.3, 0.5, 0.75, 1.1),
        "gamma": (1.0, 2.5, 4.0, 5.5, 7.5, 10.0),
    },
    published=QID_PUBLISHED,
    reference=(
        "Ouyang et al. 2024, Low-Bit Quantization Favors Undertrained LLMs (arXiv:2411.17691): "
        "QiD(N, D, P) = k*D^beta/(N^alpha*P^gamma), published alpha~0.2261, beta~0.5251, "
        "gamma~5.4967"
    ),
    description=(
        "Quantization-induced degradation (quantized minus full-precision loss) vs parameters, "
        "training tokens and bit width (column bits): grows with tokens, shrinks with size and "
        "bits. Build its rows with scalinglab.quant.qid_runs; fit with --y qid."
    ),
)

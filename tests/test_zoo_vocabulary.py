"""The vocabulary law (Tao et al. 2024, arXiv:2407.13623) and its question, the compute-optimal
vocabulary: the formula against eq. 8 with the published constants of section 4.3, recovery of
planted parameters, Table 1's Approach-3 column, Tables 2-3, the abstract's headline (Llama2-70B
should have ~216K, not 32K), and the CLI's one-line errors."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalinglab as sl
from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.laws import get_law
from scalinglab.laws.vocabulary import (
    VOCABULARY_PUBLISHED,
    approach1_flops,
    paper_width,
    tokens_per_character,
    with_vocab_params,
)
from scalinglab.planning.vocabulary import optimal_vocabulary
from scalinglab.synthetic import simulate

#: Tao et al. section 4.3: A1 = 1.831, A2 = 0.196, B = 2.124, E = 5.533, alpha1 = beta = 0.447,
#: alpha2 = 0.671 (N_nv and N_v in millions, D in billions of tokens, as their code fits them).
PUBLISHED = {"E": 5.533, "A1": 1.831, "alpha1": 0.447, "A2": 0.196, "alpha2": 0.671,
             "B": 2.124, "beta": 0.447}  # fmt: skip

#: Tao et al. Table 1 (compute-optimal allocation): N_nv, Dim. (d), V_opt by Approach 3.
TABLE1_APPROACH3 = [
    (3e9, 3200, 37e3), (7e9, 4096, 60e3), (13e9, 5120, 81e3), (30e9, 6048, 142e3),
    (70e9, 8192, 218e3), (130e9, 12288, 248e3), (300e9, 16384, 383e3),
]  # fmt: skip


def test_vocabulary_is_eq8_negated_with_the_published_constants():
    law = get_law("vocabulary")
    assert law.variables == ("params", "vocab_params", "tokens")
    assert [p.name for p in law.parameters if p.linear] == ["E", "A1", "A2", "B"]
    assert law.published == PUBLISHED == VOCABULARY_PUBLISHED
    assert "Tao et al. 2024" in law.reference and "2407.13623" in law.reference
    n_nv, n_v, d = 3e8, 2.6e7, 6e9
    loss_u = -5.533 + 1.831 / 300**0.447 + 0.196 / 26**0.671 + 2.124 / 6**0.447  # eq. 8
    value = float(law.evaluate({"params": n_nv, "vocab_params": n_v, "tokens": d}, PUBLISHED))
    assert value == pytest.approx(-loss_u, rel=1e-12)


def test_vocab_params_is_made_from_vocab_size_and_d_model():
    df = pd.DataFrame({"vocab_size": [32000, 64000], "d_model": [512, 768]})
    assert with_vocab_params(df)["vocab_params"].tolist() == [32000 * 512, 64000 * 768]
    given = pd.DataFrame({"vocab_params": [1.0, None], "vocab_size": [10, 10], "d_model": [5, 5]})
    assert with_vocab_params(given)["vocab_params"].tolist() == [1.0, 50.0]


def test_tokens_per_character_matches_the_tokens_and_characters_of_tables_2_and_3():
    # Tao et al. eq. 3 against D/H of their Tables 2-3 (N_nv = 2.87B): V = 32K (67.3B tokens,
    # 266.6B characters), 35K (67.1B, 268.2B), 24K (15.8B, 60.8B), 43K (127.0B, 517.5B).
    for vocab, tokens, chars in [(32e3, 67.3, 266.6), (35e3, 67.1, 268.2), (24e3, 15.8, 60.8),
                                 (43e3, 127.0, 517.5)]:  # fmt: skip
        assert tokens_per_character(vocab) == pytest.approx(tokens / chars, rel=0.01)
    assert tokens_per_character(1e7) == tokens_per_character(3e5)  # held past the vertex


def test_table1_budgets_and_widths_are_the_papers():
    budgets = ["1.3e+21", "7.1e+21", "2.4e+22", "1.3e+23", "7.1e+23", "2.4e+24", "1.3e+25"]
    assert [f"{approach1_flops(n):.2g}" for n, _, _ in TABLE1_APPROACH3] == budgets
    assert [paper_width(n) for n, _, _ in TABLE1_APPROACH3] == [d for _, d, _ in TABLE1_APPROACH3]


def test_published_constants_reproduce_table1_approach3_column():
    # Tao et al. Table 1, V_opt-App3, at the budgets of their Approach 1 and their widths.
    for params, d_model, published in TABLE1_APPROACH3:
        answer = optimal_vocabulary(params=params, d_model=d_model)
        assert answer.vocab.value == pytest.approx(published, rel=0.02), params


def test_headline_llama2_70b_should_have_about_216k_not_32k():
    # Abstract: "the optimal vocabulary size of Llama2-70B should have been at least 216K,
    # 7 times larger than its vocabulary of 32K"; Table 1 (N_nv = 70B, d = 8192, 7.1e23 FLOPs):
    # 218K by Approach 3.
    answer = optimal_vocabulary(params=70e9, flops=7.1e23, d_model=8192, vocab=32000)
    assert answer.vocab.value == pytest.approx(216e3, rel=0.10)
    assert answer.vocab.value == pytest.approx(218e3, rel=0.01)
    assert answer.to_json()["vocab_ratio"] == pytest.approx(7, rel=0.05)
    assert answer.current_loss_u.value > answer.loss_u.value  # 32K is worse at the same budget


def test_published_constants_reproduce_tables_2_and_3():
    # Tables 2-3: N_nv = 2.87B (d = 3200) trained with 2.8e20 (undertrained), 1.2e21
    # (compute-optimal) and 2.3e21 FLOPs (overtrained): V_opt = 24K, 35K, 43K.
    for flops, published in [(2.8e20, 24e3), (1.2e21, 35e3), (2.3e21, 43e3)]:
        answer = optimal_vocabulary(params=2.87e9, flops=flops)
        assert answer.d_model == 3200
        assert answer.vocab.value == pytest.approx(published, rel=0.03), flops


def test_a_budget_alone_takes_the_params_of_approach1():
    answer = optimal_vocabulary(flops=7.1e23)
    assert answer.params == pytest.approx(70e9, rel=0.01)
    assert any("Approach 1" in note for note in answer.notes)


# -- recovery of planted parameters ----------------------------------------------------------


def paper_design() -> pd.DataFrame:
    """Tao et al.'s grid: their seven N_nv (33M-2.87B) at their widths, vocabularies of 4K-96K,
    each at 5, 20 and 80 tokens per non-vocabulary parameter."""
    rows = []
    for n in (33e6, 85e6, 151e6, 302e6, 631e6, 1130e6, 2870e6):
        for vocab in (4096, 8192, 16384, 32768, 65536, 98304):
            for tokens_per_param in (5, 20, 80):
                n_v, d = vocab * paper_width(n), tokens_per_param * n
                rows.append({"params": n, "vocab_params": n_v, "tokens": d,
                             "flops": 6 * (n + n_v) * d})  # fmt: skip
    return pd.DataFrame(rows)


def synthetic_fit(seed: int, bootstrap: int):
    """A fit of the law to -L_u drawn from the published constants with 1% noise."""
    runs = simulate("vocabulary", PUBLISHED, paper_design(), noise=0.01, seed=seed,
                    metric="neg_loss_u")  # fmt: skip
    return sl.fit(runs, "vocabulary", bootstrap=bootstrap, seed=seed, influence=False)


def covered(seed: int, bootstrap: int) -> dict[str, bool]:
    ci = synthetic_fit(seed, bootstrap).conf_int()
    return {p: bool(ci.loc[p, "lo"] <= v <= ci.loc[p, "hi"]) for p, v in PUBLISHED.items()}


def test_fit_recovers_planted_parameters_within_bootstrap_intervals():
    results = [covered(seed, bootstrap=100) for seed in range(10)]
    for p in PUBLISHED:
        assert np.mean([r[p] for r in results]) >= 0.9, p


@pytest.mark.slow
def test_interval_coverage_of_planted_parameters_over_many_seeds():
    results = [covered(seed, bootstrap=200) for seed in range(100, 140)]
    for p in PUBLISHED:
        assert np.mean([r[p] for r in results]) >= 0.9, p


def test_optimal_vocabulary_of_a_fit_has_an_interval_around_the_truths_answer():
    fit = synthetic_fit(0, bootstrap=100)
    answer = optimal_vocabulary(fit, params=3e9, interval=0.95)
    truth = optimal_vocabulary(params=3e9).vocab.value  # the planted constants' own answer
    assert answer.vocab.lo < truth < answer.vocab.hi
    assert answer.source == "vocabulary fit of neg_loss_u"
    far = optimal_vocabulary(fit, params=70e9)
    assert any("extrapolating" in w and "params" in w for w in far.warnings)


def test_a_fit_of_another_law_is_refused():
    runs = simulate("chinchilla", {"E": 1.7, "A": 400, "alpha": 0.34, "B": 410, "beta": 0.28},
                    pd.DataFrame({"params": np.geomspace(1e7, 1e9, 8), "tokens": 2e10}))  # fmt: skip
    fit = sl.fit(runs, "chinchilla", bootstrap=0, fix={"beta": 0.28, "B": 410})
    with pytest.raises(InputError, match="law 'chinchilla' is a function of params, tokens"):
        optimal_vocabulary(fit, params=1e9)


def test_no_minimum_inside_the_vocabularies_searched_is_refused():
    # Without a vocabulary term (A2 = 0) a larger vocabulary only costs tokens.
    values = {**PUBLISHED, "A2": 0.0}
    with pytest.raises(InputError, match="the smallest is best"):
        optimal_vocabulary(values, params=7e9)


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_vocab_answers_the_headline_in_json():
    result = CliRunner().invoke(app, ["vocab", "--params", "70B", "--vocab", "32K", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["vocab"] == pytest.approx(218e3, rel=0.01)
    assert doc["d_model"] == 8192 and doc["source"] == "Tao et al. 2024 (published)"
    assert doc["current_vocab"] == 32000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--params", "0"], "--params '0': expected a positive number"),
        (["--params", "7B", "--vocab", "1e10"],
         "--vocab 1e+10 is a vocabulary larger than the model (7e+09 non-vocabulary --params)"),
        (["--params", "70B", "--flops", "1e9"],
         "--flops 1e+09 cannot train 7e+10 non-vocabulary parameters on one token "
         "(6 x --params = 4.2e+11)"),
        (["--params", "7B", "--d-model", "-1"], "--d-model '-1': expected a positive number"),
        ([], "give --flops (a training budget), --params (a model's non-vocabulary parameters) "
             "or both"),
    ],
)  # fmt: skip
def test_cli_vocab_bad_parameters_exit_2_with_one_line(args, message):
    result = CliRunner().invoke(app, ["vocab", *args])
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"

"""Knowledge capacity as a reference line (Allen-Zhu & Li 2024, Physics of Language Models Part
3.3, arXiv:2404.05405): the published ratios, the inverse question, and the CLI."""

import json

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.errors import InputError
from scalinglab.planning.knowledge import knowledge_capacity


def test_a_7b_model_stores_14b_bits():
    # Remark 1.1: "a sufficiently trained 7B language model can store 14B bits of knowledge".
    answer = knowledge_capacity(7e9)
    assert answer.knowledge_bits == 14e9
    assert answer.bits_per_param == 2.0 and answer.exposures == 1000
    assert "Results 1-3" in answer.source


def test_published_ratios_by_training_and_precision():
    # Result 4: 100 exposures -> 1 bit/param; Result 8: int8 keeps 2 bits/param, int4 0.7.
    ratio = {
        (1000, 16): 2.0, (1000, 32): 2.0, (1000, 8): 2.0, (1000, 4): 0.7, (100, 16): 1.0,
    }  # fmt: skip
    for (exposures, weight_bits), expected in ratio.items():
        answer = knowledge_capacity(1e9, exposures=exposures, weight_bits=weight_bits)
        assert answer.bits_per_param == expected
        assert answer.knowledge_bits == pytest.approx(expected * 1e9)


def test_parameters_needed_for_a_number_of_bits():
    assert knowledge_capacity(knowledge_bits=14e9).params == 7e9
    assert knowledge_capacity(knowledge_bits=7e9, weight_bits=4).params == pytest.approx(10e9)


def test_answer_cites_the_paper_and_its_caveats():
    doc = knowledge_capacity(1e9).to_json()
    assert doc["reference"].startswith("Allen-Zhu & Li 2024") and "2404.05405" in doc["reference"]
    assert any("synthetic biographies" in note for note in doc["notes"])
    assert knowledge_capacity(1e9).to_frame()["knowledge_bits"].tolist() == [2e9]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give exactly one of params "),
        ({"params": 1e9, "knowledge_bits": 1e9}, "give exactly one of params "),
        ({"params": 1e9, "exposures": 300}, "exposures must be 1000"),
        ({"params": 1e9, "exposures": 100, "weight_bits": 8}, "no published ratio"),
        ({"params": 1e9, "weight_bits": 2}, "weight_bits must be 16"),
        ({"params": -1.0}, "params must be a positive number, got -1"),
    ],
)
def test_settings_the_paper_did_not_measure_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        knowledge_capacity(**kwargs)


def test_cli_knowledge_json():
    result = CliRunner().invoke(app, ["knowledge", "--params", "7B", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["knowledge_bits"] == 14e9 and doc["bits_per_param"] == 2.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --params (the bits a model stores) and --knowledge-bits "
             "(the parameters they need)"),
        (["--params", "0"], "--params '0': expected a positive number"),
        (["--params", "7B", "--exposures", "500"],
         "--exposures must be 1000 (sufficient training: 2 bits/param) or 100 (1 bit/param), "
         "the settings Allen-Zhu & Li measured; got 500"),
        (["--params", "7B", "--exposures", "100", "--weight-bits", "4"],
         "--weight-bits 4 has no published ratio at 100 exposures: Allen-Zhu & Li quantized "
         "only sufficiently trained models (1000 exposures)"),
        (["--params", "7B", "--weight-bits", "3"],
         "--weight-bits must be 16 (as trained; 32 the same), 8 or 4, got 3"),
    ],
)  # fmt: skip
def test_cli_knowledge_bad_parameters_exit_2_with_one_line(args, message):
    result = CliRunner().invoke(app, ["knowledge", *args])
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"

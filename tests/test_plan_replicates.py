"""The warning every planning question gives when some bootstrap replicates have no answer."""

import numpy as np

from scalinglab.planning.replicates import failed_replicates_warning


def test_the_share_of_replicates_without_an_answer_is_said_once():
    ok = np.array([True, True, False, True, False])  # row 0 is the estimate
    assert failed_replicates_warning(ok, "the target is out of reach") == [
        "in 50% of bootstrap replicates the target is out of reach; intervals are over the others"
    ]


def test_nothing_is_said_when_every_replicate_answers_or_there_are_none():
    assert failed_replicates_warning(np.array([True, True, True]), "x") == []
    assert failed_replicates_warning(np.array([True]), "x") == []
    # the estimate itself failing is an error of its question, not this warning's business
    assert failed_replicates_warning(np.array([False, True]), "x") == []

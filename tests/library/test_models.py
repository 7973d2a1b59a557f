"""Model builders (the library's and the experiments'): parameter counts as their docstrings
state them, logits out."""

import re

import pytest

from kd_experiments import johnkorn, pratt2762, tsitsimis
from kd_utils import models

# (builder, kwargs, the text in its docstring that precedes the count)
CASES = [
    (models.hinton_teacher, {}, "Parameters: "),
    (models.mlp, dict(hidden=[800, 800]), "784-800-800-10: "),
    (models.mlp, dict(hidden=[400]), "784-400-10: "),
    (models.mlp, dict(hidden=[30, 30]), "784-30-30-10: "),
    (models.mlp, dict(hidden=[10]), "784-10-10: "),
    (models.mlp, dict(hidden=[512], num_classes=26), "784-512-26: "),
    (models.mlp, dict(hidden=[128, 128], input_shape=(2,), num_classes=2), "2-128-128-2: "),
    (models.mnist_cnn, {}, "Parameters: "),
    # The experiments' own models, registered by their modules
    (tsitsimis.conv_dense_teacher, {}, "Parameters: "),
    (johnkorn.emnist_cnn, {}, "Parameters: "),
    (johnkorn.emnist_student, {}, "Parameters: "),
    (pratt2762.cifar_student, {}, "Parameters: "),
    (pratt2762.cifar_student, dict(input_shape=(28, 28, 1)), "; "),
    (pratt2762.alexnet_teacher, {}, "Parameters: "),
    (pratt2762.alexnet_teacher_small, {}, "Parameters: "),
    (tsitsimis.moons_mlp, {}, "Parameters: "),
]


def documented_count(builder, prefix):
    match = re.search(re.escape(prefix) + r"([\d,]+)", builder.__doc__)
    assert match, f"{builder.__name__}'s docstring has no count after {prefix!r}"
    return int(match.group(1).replace(",", ""))


@pytest.mark.parametrize("builder,kwargs,prefix", CASES,
                         ids=[f"{b.__name__}-{i}" for i, (b, _, _) in enumerate(CASES)])
def test_parameter_count_matches_docstring(builder, kwargs, prefix):
    model = builder(**kwargs)
    assert model.count_params() == documented_count(builder, prefix)
    assert not models.outputs_probabilities(model)


def test_the_paper_and_issue_counts():
    assert models.mlp([10]).count_params() == 7_960
    assert models.mnist_cnn().count_params() == 64_570
    assert johnkorn.emnist_cnn().count_params() == 3_378_970


def test_an_mlp_names_its_hidden_layers():
    plain = models.mlp([30, 30])
    assert [layer.name for layer in plain.layers if "hidden" in layer.name] == ["hidden_1",
                                                                                "hidden_2"]

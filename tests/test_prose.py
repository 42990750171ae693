"""The glue helper: numbers reach the prose through myst-nb, or are printed where it is missing."""

import sys

import numpy as np
import pytest
import torch

from crossmodal_lib.prose import glue


def test_glue_returns_the_value_and_records_it_for_myst_nb(capsys):
    assert glue("p6b_test_value", 0.25) == 0.25
    assert glue("p6b_numpy_value", np.float64(1.5)) == 1.5
    assert capsys.readouterr().out == ""  # myst-nb is installed: glued, not printed


def test_without_myst_nb_the_value_is_printed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb now raises ImportError
    assert glue("accuracy", 0.9) == 0.9
    assert capsys.readouterr().out == "accuracy = 0.9\n"


@pytest.mark.parametrize("value, error, match", [
    (float("nan"), ValueError, "not a finite number"),
    (float("inf"), ValueError, "not a finite number"),
    (True, TypeError, "got bool"),
    (torch.tensor(1.0), TypeError, "got Tensor"),
    ("0.5", TypeError, "got str"),
])
def test_glue_refuses_what_is_not_a_finite_number(value, error, match):
    with pytest.raises(error, match=match):
        glue("x", value)

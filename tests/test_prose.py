"""The glue helper: numbers reach the prose through myst-nb, or are printed where it is missing."""

import sys

import numpy as np
import pytest
import torch

from crossmodal_lib.prose import glue


def test_glue_hands_the_value_to_myst_nb(monkeypatch, capsys):
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: calls.append((name, value, display)))
    assert glue("p6b_test_value", 0.25) is None  # nothing for a cell to display
    glue("p6b_numpy_value", np.float64(1.5))
    glue("p6b_numpy_int", np.int64(3))
    assert calls == [("p6b_test_value", 0.25, False), ("p6b_numpy_value", 1.5, False), ("p6b_numpy_int", 3, False)]
    # plain Python numbers: myst-nb formats the text form, and "np.float64(1.5)" is not a number to it
    assert [type(value) for _, value, _ in calls] == [float, float, int]
    assert capsys.readouterr().out == ""


def test_without_myst_nb_the_value_is_printed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb now raises ImportError
    glue("accuracy", 0.9)
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

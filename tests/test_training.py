import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from crossmodal_lib import training
from crossmodal_lib.encoders import MLP


def test_set_seed_makes_torch_numpy_and_python_repeat():
    import random

    import numpy as np

    training.set_seed(123)
    a = (torch.rand(3), np.random.rand(3), random.random())
    training.set_seed(123)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]
    with pytest.raises(TypeError):
        training.set_seed(1.5)


def test_get_device_prefers_available_hardware(monkeypatch):
    monkeypatch.delenv("CROSSMODAL_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert training.get_device().type == expected
    assert training.get_device("cpu").type == "cpu"
    monkeypatch.setenv("CROSSMODAL_DEVICE", "cpu")
    assert training.get_device().type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is missing")
def test_get_device_refuses_missing_cuda():
    with pytest.raises(RuntimeError, match="cuda"):
        training.get_device("cuda")


def _regression_loader(n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen)
    w_true = torch.tensor([[1.5], [-2.0], [0.5]])
    y = x @ w_true + 0.3
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=gen), w_true


def test_fit_recovers_a_linear_map():
    training.set_seed(0)
    loader, w_true = _regression_loader()
    model = nn.Linear(3, 1)
    history = training.fit(model, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), loader,
                           epochs=60, lr=0.05, progress=False, device=torch.device("cpu"))
    assert len(history["loss"]) == 60
    assert history["loss"][-1] < 1e-4 < history["loss"][0]
    assert torch.allclose(model.weight.data.T, w_true, atol=1e-2)
    assert model.bias.item() == pytest.approx(0.3, abs=1e-2)
    assert not model.training  # left in eval mode


def test_nan_guard_names_the_step():
    loader, _ = _regression_loader()
    calls = {"n": 0}

    def step(batch):
        calls["n"] += 1
        return {"loss": torch.tensor(float("nan")) if calls["n"] == 3 else torch.tensor(1.0)}

    with pytest.raises(training.NonFiniteLossError, match=r"loss became nan at epoch 1, step 3"):
        training.train(step, loader, epochs=2, progress=False, device=torch.device("cpu"))
    assert calls["n"] == 3  # stopped at once


def test_divergent_learning_rate_stops_with_a_message():
    """Plain gradient descent with a step size far above 2/L diverges; the guard must catch it."""
    training.set_seed(0)
    loader, _ = _regression_loader()
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=5.0)

    def step(batch):
        loss = nn.functional.mse_loss(model(batch[0]), batch[1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss}

    with pytest.raises(training.NonFiniteLossError, match=r"loss became (inf|nan) at epoch \d+, step \d+"):
        training.train(step, loader, epochs=100, progress=False, device=torch.device("cpu"))


def test_train_rejects_empty_loader_and_zero_epochs():
    with pytest.raises(ValueError, match="no batches"):
        training.train(lambda b: {"loss": 0.0}, [], epochs=1, progress=False, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="epochs"):
        training.train(lambda b: {"loss": 0.0}, [1], epochs=0, progress=False)


def test_history_averages_each_metric_per_epoch():
    values = iter([1.0, 3.0, 10.0, 20.0])
    history = training.train(lambda b: {"loss": next(values), "acc": 0.5}, [0, 1], epochs=2, progress=False,
                             device=torch.device("cpu"))
    assert history == {"loss": [2.0, 15.0], "acc": [0.5, 0.5]}


def test_checkpoint_round_trip_is_lossless(tmp_path):
    training.set_seed(0)
    model = MLP(64, 10, hidden=(32, 16))
    path = training.save_checkpoint(tmp_path / "model.safetensors", model, {"epochs": 3, "note": "test"})
    clone = MLP(64, 10, hidden=(32, 16))
    meta = training.load_checkpoint(path, clone)
    assert meta == {"epochs": 3, "note": "test"}
    for (k, a), (_, b) in zip(model.state_dict().items(), clone.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(model(x), clone(x))


def test_checkpoint_is_plain_safetensors_not_pickle(tmp_path):
    path = training.save_checkpoint(tmp_path / "m.safetensors", nn.Linear(2, 2))
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    assert set(header) == {"weight", "bias", "__metadata__"}
    assert b"\x80\x04" not in raw[:2]  # not a pickle stream


def test_checkpoint_into_wrong_architecture_fails_loudly(tmp_path):
    path = training.save_checkpoint(tmp_path / "m.safetensors", MLP(64, 10))
    with pytest.raises(RuntimeError, match="size mismatch|Missing key|Unexpected key"):
        training.load_checkpoint(path, MLP(64, 10, hidden=(32, 32)))
    with pytest.raises(FileNotFoundError):
        training.load_checkpoint(tmp_path / "none.safetensors", MLP(64, 10))


def test_mlp_shape_contract():
    model = MLP(64, 10)
    assert model(torch.rand(7, 1, 8, 8)).shape == (7, 10)
    with pytest.raises(ValueError, match="64 features"):
        model(torch.rand(7, 32))
    assert math.prod(model(torch.rand(1, 64)).shape) == 10

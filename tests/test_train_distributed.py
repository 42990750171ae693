"""Part 6b: the torchrun trainer. Two processes with a per-rank batch of B train the same model as
one process with a batch of 2B (float64, so that rounding cannot hide a real difference)."""

import os

import pytest
import torch
from safetensors.torch import load_file

from crossmodal_lib.tools import train_distributed as td
from crossmodal_lib.training import set_seed

CONFIG = td.DistributedConfig(epochs=2, batch_per_rank=32, dtype="float64")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("torchrun")
    two = td.launch(2, td.DistributedConfig(**{**CONFIG.__dict__, "out": str(out / "two.safetensors")}))
    one = td.launch(1, td.DistributedConfig(**{**CONFIG.__dict__, "batch_per_rank": 64, "out": str(out / "one.safetensors")}))
    return one, two


def test_two_ranks_train_the_model_of_one_rank_with_the_global_batch(runs):
    one, two = runs
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["global_batch"] == two["global_batch"] == 64
    # 1437 training pairs: 1436 dealt out (drop_last), 22 whole batches of 64 either way
    assert one["steps_per_epoch"] == two["steps_per_epoch"] == 1437 // 64
    a, b = load_file(one["out"]), load_file(two["out"])
    assert a.keys() == b.keys() and all(t.dtype == torch.float64 for t in a.values())
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-9
    set_seed(CONFIG.seed)
    start = td.build_model(CONFIG).state_dict()  # the initial weights of both runs
    assert max((a[k] - start[k].double()).abs().max().item() for k in a) > 1e-2


def test_rank_zero_checkpoint_loads_with_its_run(runs):
    _, two = runs
    model = td.load_trained(two["out"])
    assert model.run["world_size"] == 2 and model.run["config"]["batch_per_rank"] == 32
    assert len(model.run["history"]["loss"]) == CONFIG.epochs
    assert model.run["history"]["loss"][-1] == pytest.approx(two["final_loss"], abs=1e-4)
    assert model.run["history"]["loss"][-1] < model.run["history"]["loss"][0] - 0.5
    emb = model.encode_texts(["a thin seven"])
    assert emb.shape == (1, CONFIG.dim) and torch.allclose(emb.norm(dim=1), torch.ones(1, dtype=emb.dtype))


def test_command_line_round_trip_and_errors(monkeypatch):
    config = td.DistributedConfig(batch_per_rank=16, lr=1e-3, out="x.safetensors")
    cmd = td.command(4, config)
    assert cmd[:5] == ["torchrun", "--standalone", "--nproc_per_node=4", "-m", "crossmodal_lib.tools.train_distributed"]
    assert cmd[5:] == ["--batch-per-rank", "16", "--lr", "0.001", "--out", "x.safetensors"]
    assert td.parse_args(cmd[5:]) == config
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(SystemExit, match="launch with torchrun"):
        td.main([])
    assert "RANK" not in os.environ


def test_a_failed_launch_names_the_command_and_shows_the_log():
    with pytest.raises(RuntimeError, match=r"(?s)train_distributed.*dtype must be one of 'float32', 'float64'; got 'float16'"):
        td.launch(1, td.DistributedConfig(epochs=1, dtype="float16"), attempts=1)


def test_the_ranks_batches_together_are_the_single_process_batch():
    """Step k of 2 ranks x B covers the same pairs as step k of 1 process x 2B (the reason the runs agree)."""
    model = td.build_model(CONFIG)
    one = td.data_loader(model, td.DistributedConfig(batch_per_rank=64), 0, 1)
    ranks = [td.data_loader(model, td.DistributedConfig(batch_per_rank=32), r, 2) for r in range(2)]
    for epoch in range(2):  # every epoch its own order, the same for both
        for k, (whole, part0, part1) in enumerate(zip(one, *ranks)):
            key = lambda x: sorted(map(tuple, x.flatten(1).tolist()))  # noqa: E731 -- order within a batch is free
            assert key(whole[0]) == key(torch.cat([part0[0], part1[0]]))
        assert k + 1 == len(one) == len(ranks[0]) == 1437 // 64


def test_a_global_batch_larger_than_the_data_is_refused():
    model = td.build_model(CONFIG)
    with pytest.raises(ValueError, match="1437 training pairs cannot fill one global batch of 8 ranks x 256 = 2048"):
        td.data_loader(model, td.DistributedConfig(batch_per_rank=256), 0, 8)

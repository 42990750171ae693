"""Part 6: InfoNCE across processes equals InfoNCE on the global batch (2 gloo processes on the CPU)."""

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

import distributed_worker  # tests/ is on sys.path under pytest; spawned workers must be importable
from crossmodal_lib import embedding
from crossmodal_lib.tools import distributed


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    for attempt in range(3):  # gloo's start-up/teardown on a loaded 2-core machine can abort a worker
        try:
            mp.spawn(distributed_worker.worker, args=(2, str(out / f"init-{attempt}"), str(out)), nprocs=2, join=True)
            break
        except mp.ProcessExitedException:
            if attempt == 2:
                raise
    return torch.load(out / "results.pt", weights_only=True)


def _single_process_reference(groups=None):
    image_tower, text_tower, x, t = distributed_worker.towers_and_batch()
    u, v = F.normalize(image_tower(x), dim=1), F.normalize(text_tower(t), dim=1)
    positives = None if groups is None else embedding.positive_mask(len(groups), groups=groups)
    loss = embedding.info_nce(u, v, distributed_worker.SCALE, positives)
    loss.backward()
    return loss.detach(), [p.grad for p in list(image_tower.parameters()) + list(text_tower.parameters())]


def test_two_ranks_give_the_global_loss_and_gradients(two_process_results):
    loss, grads = _single_process_reference()
    got = two_process_results["gather"]
    assert abs(got["loss"].item() - loss.item()) <= 1e-5
    for a, b in zip(got["grads"], grads):
        assert (a - b).abs().max().item() <= 1e-5


def test_the_plain_all_gather_gives_the_same_loss_but_wrong_gradients(two_process_results):
    loss, grads = _single_process_reference()
    got = two_process_results["naive"]
    assert abs(got["loss"].item() - loss.item()) <= 1e-5
    assert max((a - b).abs().max().item() for a, b in zip(got["grads"], grads)) > 1e-3


def test_caption_groups_are_positives_across_ranks(two_process_results):
    """Pairs 0 and 7 share a caption but sit on different ranks: still not negatives of each other."""
    loss, grads = _single_process_reference(distributed_worker.GROUPS)
    plain, _ = _single_process_reference()
    got = two_process_results["groups"]
    assert abs(got["loss"].item() - loss.item()) <= 1e-5 and abs(loss.item() - plain.item()) > 1e-2
    for a, b in zip(got["grads"], grads):
        assert (a - b).abs().max().item() <= 1e-5


def test_without_a_process_group_the_error_says_what_to_do():
    u = F.normalize(torch.randn(4, 3), dim=1)
    with pytest.raises(RuntimeError, match="initialised torch.distributed process group"):
        distributed.distributed_info_nce(u, u, 1.0)

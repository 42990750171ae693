import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from crossmodal_lib import data, plotting  # noqa: E402


def test_show_images_grid_and_captions():
    fig = plotting.show_images(torch.rand(7, 1, 8, 8), [f"caption {i}" for i in range(7)], ncols=3)
    axes = fig.axes
    assert len(axes) == 9  # 3 x 3 grid, two left empty
    assert [ax.get_title() for ax in axes[:7]] == [f"caption {i}" for i in range(7)]
    assert sum(bool(ax.images) for ax in axes) == 7
    plt.close(fig)


def test_show_images_rejects_mismatched_pairs_and_empty():
    with pytest.raises(ValueError, match="mismatched pairs: 2 images but 3 captions"):
        plotting.show_images(torch.rand(2, 8, 8), ["a", "b", "c"])
    with pytest.raises(ValueError, match="non-empty"):
        plotting.show_images(torch.rand(0, 8, 8))


def test_timeline_has_one_point_per_milestone_and_white_background():
    plotting.use_book_style()
    milestones = data.load_milestones()
    fig = plotting.plot_timeline(milestones)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(milestones)
    assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)
    plt.close(fig)


def test_scatter_images_places_every_thumbnail():
    fig = plotting.scatter_images([0, 1, 2], [0, 1, 0], torch.rand(3, 1, 8, 8))
    assert len(fig.axes[0].artists) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="mismatched"):
        plotting.scatter_images([0, 1], [0, 1], torch.rand(3, 1, 8, 8))

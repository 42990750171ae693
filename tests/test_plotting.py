import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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


def test_block_diagram_draws_every_box_and_arrow_and_rejects_unknown_names():
    boxes = {"x": (0.1, 0.5, "input"), "f": (0.5, 0.5, "model"), "l": (0.9, 0.5, "loss: y")}
    fig = plotting.block_diagram(boxes, [("x", "f", "features"), ("f", "l", "")])
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert {"input", "model", "loss: y", "features"} <= set(texts)
    boxes_drawn = {t.get_text(): t.get_bbox_patch().get_facecolor() for t in ax.texts if t.get_bbox_patch()}
    assert boxes_drawn["loss: y"] != boxes_drawn["model"]  # the objective is tinted
    assert sum(1 for c in ax.get_children() if type(c).__name__ == "Annotation") == 2
    with pytest.raises(ValueError, match=r"unknown boxes: \['y'\]"):
        plotting.block_diagram(boxes, [("x", "y", "")])
    plt.close("all")


def test_arrows_leave_a_box_at_its_edge():
    from crossmodal_lib.plotting import _edge_point
    box = np.array([[0.0, 0.0], [2.0, 1.0]])  # centre (1, 0.5)
    assert _edge_point(box, (10.0, 0.5)) == pytest.approx((2.0, 0.5))   # straight right
    assert _edge_point(box, (1.0, -5.0)) == pytest.approx((1.0, 0.0))   # straight down
    assert _edge_point(box, (3.0, 2.5)) == pytest.approx((1.5, 1.0))    # up and right: leaves through the top
    assert _edge_point(box, (1.0, 0.5)) == (1.0, 0.5)


def test_plot_curves_draws_means_and_one_standard_error_bars():
    summary = {"a": {50: (0.7, 0.05), 20: (0.5, 0.1)}, "b": {20: (0.6, 0.0), 50: (0.9, 0.02)}}
    fig = plotting.plot_curves(summary, ylabel="accuracy")
    ax = fig.axes[0]
    lines = [c for c in ax.containers]
    assert len(lines) == 2
    x, y = lines[0].lines[0].get_data()
    assert list(x) == [20, 50] and list(y) == [0.5, 0.7]                  # sorted by size
    (bars,) = lines[0].lines[2]
    segments = bars.get_segments()
    assert [tuple(seg[:, 1].round(6)) for seg in segments] == [(0.4, 0.6), (0.65, 0.75)]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one method"):
        plotting.plot_curves({"a": {}})

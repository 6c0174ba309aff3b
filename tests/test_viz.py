"""Behaviour of the plotting helpers in ddpm_from_scratch.viz."""

import matplotlib

matplotlib.use("Agg")

import io
import types
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from ddpm_from_scratch import viz


def draw(fig):
    """Render a figure fully (layout, text, images), as the book build would."""
    fig.savefig(io.BytesIO(), format="png")


def constant_images(values, channels=1, size=3):
    """A batch with image i filled with values[i]."""
    values = torch.tensor(values, dtype=torch.float32)
    return values.view(-1, 1, 1, 1).expand(-1, channels, size, size).clone()


def reverse_trajectory(num_steps=20, batch=3, points=False):
    """timesteps [T-1, ..., 0, -1]; state s is filled with the value s / S (distinct per state)."""
    timesteps = list(range(num_steps - 1, -1, -1)) + [-1]
    shape = (batch, 2) if points else (batch, 1, 4, 4)
    states = torch.stack([torch.full(shape, s / len(timesteps)) for s in range(len(timesteps))])
    return types.SimpleNamespace(timesteps=timesteps, states=states)


# -- image_grid --------------------------------------------------------------------


def test_image_grid_puts_each_constant_image_in_its_own_tile_with_white_padding():
    grid = viz.image_grid(constant_images([-1.0, -0.5, 0.5, 1.0]), nrow=2, padding=1)
    assert grid.shape == (7, 7)  # 2 tiles of 3 pixels + 1 pixel of padding
    # [-1, 1] -> [0, 1] is (v + 1) / 2
    np.testing.assert_allclose(grid[0:3, 0:3], 0.0)
    np.testing.assert_allclose(grid[0:3, 4:7], 0.25)
    np.testing.assert_allclose(grid[4:7, 0:3], 0.75)
    np.testing.assert_allclose(grid[4:7, 4:7], 1.0)
    np.testing.assert_allclose(grid[3, :], 1.0)
    np.testing.assert_allclose(grid[:, 3], 1.0)


def test_image_grid_maps_value_range_to_unit_interval_and_clamps():
    grid = viz.image_grid(constant_images([-1.0, 1.0, -5.0, 3.0]), nrow=4, padding=0)
    np.testing.assert_allclose(grid[0, [0, 3, 6, 9]], [0.0, 1.0, 0.0, 1.0])

    grid = viz.image_grid(constant_images([0.0, 0.5, 1.0]), nrow=3, padding=0, value_range=(0, 1))
    np.testing.assert_allclose(grid[0, [0, 3, 6]], [0.0, 0.5, 1.0])


def test_image_grid_is_2d_for_grey_and_3d_for_rgb_and_accepts_numpy():
    grey = torch.zeros(5, 1, 4, 6)
    rgb = np.zeros((5, 3, 4, 6), dtype=np.float32)
    # 3 per row -> 2 rows: height 2*4 + 1, width 3*6 + 2
    assert viz.image_grid(grey, nrow=3).shape == (9, 20)
    assert viz.image_grid(rgb, nrow=3).shape == (9, 20, 3)
    # the unused sixth tile is background
    np.testing.assert_allclose(viz.image_grid(grey, nrow=3)[5:, 14:], 1.0)


def test_image_grid_keeps_rgb_channel_order():
    image = torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1)
    np.testing.assert_allclose(viz.image_grid(image)[0, 0], [1.0, 0.0, 0.5])


def test_image_grid_explains_a_missing_channel_dimension():
    with pytest.raises(ValueError, match="unsqueeze"):
        viz.image_grid(torch.zeros(2, 28, 28))


# -- single figures ----------------------------------------------------------------


def test_show_images_draws_a_grey_grid_without_ticks():
    fig = viz.show_images(constant_images([-1.0, 1.0]), title="two")
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert ax.get_title() == "two"
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    assert ax.images[0].get_cmap().name == "gray"
    draw(fig)


def test_show_images_and_show_points_draw_on_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    try:
        assert viz.show_images(torch.zeros(4, 3, 5, 5), ax=left) is fig
        assert viz.show_points(torch.randn(50, 2), ax=right, lim=3) is fig
        assert right.get_xlim() == (-3, 3) and right.get_aspect() == 1.0
        np.testing.assert_array_equal(left.images[0].get_array().shape, (11, 11, 3))
    finally:
        plt.close(fig)


def test_plot_loss_shows_raw_values_and_their_moving_average():
    losses = torch.arange(1.0, 11.0)  # 1..10
    ax = viz.plot_loss(losses, smooth=3).axes[0]
    raw, average = ax.lines
    np.testing.assert_allclose(raw.get_ydata(), np.arange(1, 11))
    np.testing.assert_allclose(average.get_xdata(), np.arange(2, 10))
    np.testing.assert_allclose(average.get_ydata(), np.arange(2, 10))  # mean of k-1, k, k+1
    assert ax.get_yscale() == "log"
    # a loss that can be zero or negative is drawn on a linear axis, without a warning
    assert viz.plot_loss([0.0, -1.0, 2.0]).axes[0].get_yscale() == "linear"


def test_plot_schedules_draws_one_labelled_alpha_bar_curve_per_schedule():
    linear = types.SimpleNamespace(alpha_bars=torch.linspace(1, 0, 10))
    cosine = types.SimpleNamespace(alpha_bars=torch.cos(torch.linspace(0, 1.5, 10)) ** 2)
    ax = viz.plot_schedules({"linear": linear, "cosine": cosine}).axes[0]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["linear", "cosine"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), cosine.alpha_bars.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(10))


# -- processes ---------------------------------------------------------------------


def test_reverse_strip_starts_at_the_first_state_and_ends_clean():
    trajectory = reverse_trajectory(num_steps=20)  # 21 states: t = 19 .. 0, then -1
    fig = viz.reverse_process_strip(trajectory, num_columns=5, num_rows=2, title="sampling")
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5
    assert titles[0] == "t = 19" and titles[-1] == "clean"
    assert fig.get_suptitle() == "sampling"
    # each column stacks the first num_rows samples of its state, vertically
    first, last = fig.axes[0].images[0].get_array(), fig.axes[-1].images[0].get_array()
    assert first.shape == (2 * 4 + 1, 4)
    np.testing.assert_allclose(first[:4], (0 / 21 + 1) / 2)  # state 0, mapped to [0, 1]
    np.testing.assert_allclose(last[:4], (20 / 21 + 1) / 2)  # state 20, the clean one
    draw(fig)


def test_reverse_strip_of_points_has_one_scatter_per_column():
    trajectory = reverse_trajectory(num_steps=9, batch=7, points=True)
    fig = viz.reverse_process_strip(trajectory, num_columns=3)
    assert [ax.get_title() for ax in fig.axes] == ["t = 8", "t = 4", "clean"]
    offsets = fig.axes[1].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, trajectory.states[4].numpy())  # t = 4 is state 4
    draw(fig)


def test_forward_strip_shows_every_given_state_in_order():
    states = [torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4), -torch.ones(2, 3, 4, 4)]
    fig = viz.forward_process_strip(states, timesteps=[-1, 0, 999])
    assert [ax.get_title() for ax in fig.axes] == ["clean", "t = 0", "t = 999"]
    np.testing.assert_allclose(fig.axes[2].images[0].get_array()[:4], 0.0)
    with pytest.raises(ValueError, match="3 states but 2 timesteps"):
        viz.forward_process_strip(states, timesteps=[-1, 0])


@pytest.mark.parametrize("points", [False, True])
def test_animate_process_embeds_one_javascript_frame_per_requested_state(points):
    trajectory = reverse_trajectory(num_steps=30, batch=4, points=points)
    html = viz.animate_process(trajectory, num_frames=6).data
    assert "<script" in html
    assert "new Array(6)" in html
    assert html.count('data:image/png;base64') == 6


# -- code and warnings -------------------------------------------------------------


def test_show_source_is_fenced_python_markdown_of_the_real_code():
    def add_one(x):
        return x + 1  # a comment that must survive

    markdown = viz.show_source(add_one)
    text = markdown._repr_markdown_()
    assert text.startswith("```python\n") and text.endswith("\n```")
    assert "def add_one(x):\n    return x + 1  # a comment that must survive" in text


def test_no_helper_warns_or_leaves_pyplot_figures_open():
    open_before = plt.get_fignums()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(25):  # more than pyplot's 20-figure warning threshold
            viz.show_images(torch.rand(16, 1, 8, 8) * 2 - 1)
        figures = [
            viz.show_images(torch.rand(3, 3, 8, 8) * 2 - 1, nrow=3, title="rgb"),
            viz.show_points(torch.randn(100, 2), title="points"),
            viz.plot_loss(torch.rand(500) + 0.1),
            viz.plot_loss([1.0]),
            viz.plot_schedules({"linear": types.SimpleNamespace(alpha_bars=torch.linspace(1, 0, 50))}),
            viz.reverse_process_strip(reverse_trajectory(num_steps=50)),
            viz.reverse_process_strip(reverse_trajectory(num_steps=50, points=True)),
        ]
        for fig in figures:
            draw(fig)
        viz.animate_process(reverse_trajectory(num_steps=10), num_frames=3)
    assert plt.get_fignums() == open_before


def test_the_unet_diagram_is_drawn_from_the_model_itself():
    from ddpm_from_scratch.nn import UNet, UNetConfig

    config = UNetConfig(image_size=16, base_channels=8, channel_mults=(1, 2, 4), num_res_blocks=2,
                        attention_resolutions=(8,), num_heads=2, num_groups=4)
    stages = viz._unet_stages(UNet(config))
    sizes = {(kind, channels, size) for _, kind, channels, size in stages}
    assert stages[0][1:] == ("in", 8, 16) and stages[-1][1:] == ("out", 1, 16)
    assert ("res+attn", 16, 8) in sizes and ("res", 32, 4) in sizes and ("res", 8, 16) in sizes
    assert not any(kind == "res+attn" and size != 8 for _, kind, _, size in stages)
    # one skip per down stage (and the input conv), consumed by one up residual stage each
    pushed = sum(path in ("in", "down") for path, *_ in stages)
    popped = sum(path == "up" and kind.startswith("res") for path, kind, *_ in stages)
    assert pushed == popped == 1 + 3 * 2 + 2
    draw(viz.unet_diagram(UNet(config)))

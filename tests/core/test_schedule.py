"""Noise schedules and timestep sequences against diffusers and the official DDIM formulas."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from hypothesis import given
from hypothesis import strategies as st

from ddim_studio.core.schedule import NoiseSchedule, ScheduleError, make_betas, make_timesteps


@pytest.mark.parametrize("beta_schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
def test_alpha_bar_matches_diffusers(beta_schedule: str) -> None:
    config = {
        "num_train_timesteps": 1000,
        "beta_schedule": beta_schedule,
        "beta_start": 1e-4,
        "beta_end": 0.02,
    }
    ours = NoiseSchedule.from_diffusers_config(config).alpha_bar
    theirs = DDIMScheduler(**config).alphas_cumprod
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_ddim_config_matches_official_formula() -> None:
    schedule = NoiseSchedule.from_ddim_config(
        {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02, "num_diffusion_timesteps": 1000}
    )
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    official = torch.from_numpy(betas).float()
    torch.testing.assert_close(schedule.alpha_bar, torch.cumprod(1 - official, 0), rtol=1e-6, atol=1e-7)
    assert schedule.prediction_type == "epsilon"


def test_clip_sample_is_recorded_not_applied() -> None:
    schedule = NoiseSchedule.from_diffusers_config({"clip_sample": True})
    assert schedule.clip_sample is True  # reported to the user; samplers take clip_sample explicitly


def test_unknown_schedule_and_prediction_type_say_what_to_choose() -> None:
    with pytest.raises(ScheduleError, match="squaredcos_cap_v2"):
        make_betas("cosine")
    with pytest.raises(ScheduleError, match="v_prediction"):
        NoiseSchedule.from_diffusers_config({"prediction_type": "flow"})
    with pytest.raises(ScheduleError, match="num_diffusion_timesteps"):
        NoiseSchedule.from_ddim_config({"beta_schedule": "linear"})


@pytest.mark.parametrize("steps", [1, 2, 7, 10, 13, 50, 100, 101, 103, 333, 999, 1000])
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("offset", [0, 1])
def test_diffusers_spacings_identical(steps: int, spacing: str, offset: int) -> None:
    sched = DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing, steps_offset=offset)
    sched.set_timesteps(steps)
    expected = [int(t) for t in sched.timesteps][:steps]  # diffusers' trailing can add a stray −1
    if len(set(expected)) != steps or max(expected) >= 1000:
        with pytest.raises(
            ScheduleError, match=f"The '{spacing}' spacing cannot give {steps} distinct timesteps"
        ):
            make_timesteps(steps, 1000, spacing, offset)
    else:
        assert make_timesteps(steps, 1000, spacing, offset) == expected


@pytest.mark.parametrize("steps", [10, 20, 25, 50, 100, 200, 250, 500, 1000])
def test_uniform_matches_official_when_it_gives_s_steps(steps: int) -> None:
    official = list(range(0, 1000, 1000 // steps))
    assert len(official) == steps
    assert make_timesteps(steps, 1000, "uniform") == official[::-1]


def test_uniform_keeps_official_values_when_official_gives_too_many() -> None:
    official = list(range(0, 1000, 1000 // 30))
    assert len(official) == 31  # the official formula's surplus step
    assert make_timesteps(30, 1000, "uniform") == official[:30][::-1]


@pytest.mark.parametrize("steps", [10, 20, 50, 100])
def test_quadratic_matches_official_when_distinct(steps: int) -> None:
    official = [int(s) for s in np.linspace(0, np.sqrt(800), steps) ** 2]
    if len(set(official)) == steps:
        assert make_timesteps(steps, 1000, "quadratic") == official[::-1]


def test_quadratic_repairs_repeats_by_bumping() -> None:
    official = [int(s) for s in np.linspace(0, np.sqrt(800), 100) ** 2]
    assert len(set(official)) < 100  # the official formula repeats small timesteps here
    ours = make_timesteps(100, 1000, "quadratic")[::-1]
    assert len(set(ours)) == 100
    # values the official list already had distinct and large stay exactly as they were
    assert ours[-50:] == official[-50:]


@given(steps=st.integers(1, 1000), spacing=st.sampled_from(["uniform", "quadratic", "trailing"]))
def test_always_exactly_s_strictly_decreasing(steps: int, spacing: str) -> None:
    seq = make_timesteps(steps, 1000, spacing)
    assert len(seq) == steps
    assert all(a > b for a, b in pairwise(seq))
    assert 0 <= seq[-1] and seq[0] < 1000


@pytest.mark.parametrize("bad", [0, -3, 1001])
def test_steps_out_of_range_explains(bad: int) -> None:
    with pytest.raises(ScheduleError, match="between 1 and the model's 1000"):
        make_timesteps(bad, 1000)


def test_unknown_spacing_lists_choices() -> None:
    with pytest.raises(ScheduleError, match="uniform, quadratic, leading, trailing, linspace"):
        make_timesteps(10, 1000, "cosine")

"""The compute budget: one environment variable, a hardware default, a clear error."""

import pytest
import torch

from ddpm_from_scratch.budget import by_budget, default_device, get_budget


def test_budget_comes_from_the_environment(monkeypatch):
    for name in ("smoke", "cpu", "gpu"):
        monkeypatch.setenv("DDPM_BUDGET", name)
        assert get_budget() == name
        assert by_budget(smoke=1, cpu=2, gpu=3) == {"smoke": 1, "cpu": 2, "gpu": 3}[name]


def test_unset_budget_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("DDPM_BUDGET", raising=False)
    assert get_budget() == ("gpu" if torch.cuda.is_available() else "cpu")


def test_an_unknown_budget_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("DDPM_BUDGET", "fast")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        get_budget()


def test_default_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert default_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert default_device().type == "cpu"

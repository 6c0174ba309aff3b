"""The compute budget: one environment variable, a hardware default, a clear error."""

import json
from pathlib import Path

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


def test_a_chapter_reports_the_run_times_the_benchmark_measured(tmp_path, monkeypatch):

    from ddpm_from_scratch import budget

    times = tmp_path / "run_times.json"
    monkeypatch.setattr(budget, "RUN_TIMES", times)
    assert "not measured yet" in budget.run_times("01")
    cpu = {"hardware": "x86_64 CPU, 2 cores, 2 threads", "torch": "2.13.0+cpu", "date": "2026-11-26"}
    times.write_text(json.dumps({"measured_on": {"smoke": cpu, "cpu": cpu},
                                 "chapters": {"01": {"smoke": 12.3, "cpu": 95.0}}}))
    line = budget.run_times("01")
    assert "smoke 12 s, cpu 1.6 min on x86_64 CPU, 2 cores, 2 threads" in line and "gpu: not measured yet" in line
    assert "not measured yet" in budget.run_times("07")
    gpu = {"hardware": "NVIDIA H200", "torch": "2.11.0+cu130", "date": "2026-11-27", "note": "five at once"}
    times.write_text(json.dumps({"measured_on": {"smoke": cpu, "cpu": cpu, "gpu": gpu},
                                 "chapters": {"01": {"smoke": 12.3, "cpu": 95.0, "gpu": 30.0}}}))
    line = budget.run_times("01")
    assert "cpu 1.6 min on x86_64 CPU" in line and "gpu 30 s on NVIDIA H200 (torch 2.11.0+cu130, 2026-11-27; five at once)" in line
    assert "not measured" not in line


def test_timing_some_chapters_again_keeps_how_the_others_were_measured(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("chapters", Path(__file__).parents[1] / "benchmarks" / "chapters.py")
    chapters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chapters)
    monkeypatch.setattr(chapters, "RUN_TIMES", tmp_path / "run_times.json")
    cpu = {"hardware": "x86_64 CPU, 2 cores, 2 threads", "torch": "2.13.0+cpu"}
    chapters.store({"01": {"cpu": 70.0}, "07": {"cpu": 250.0}}, {"cpu": cpu | {"command": "all"}})
    chapters.store({"07": {"cpu": 196.0}}, {"cpu": cpu | {"command": "--only 07"}}, some_chapters=True)
    stored = json.loads((tmp_path / "run_times.json").read_text())
    assert stored["chapters"] == {"01": {"cpu": 70.0}, "07": {"cpu": 196.0}}
    assert stored["measured_on"]["cpu"]["command"] == "all; then --only 07"
    chapters.store({"07": {"cpu": 300.0}}, {"cpu": {"hardware": "another CPU", "torch": "2.13.0+cpu",
                                                   "command": "--only 07"}}, some_chapters=True)
    stored = json.loads((tmp_path / "run_times.json").read_text())  # another machine: the old times go
    assert stored["chapters"] == {"01": {}, "07": {"cpu": 300.0}}
    assert stored["measured_on"]["cpu"]["command"] == "--only 07"

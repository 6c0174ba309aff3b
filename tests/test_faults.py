"""Faults injected on purpose: a hard kill after and during a checkpoint, two runs on one directory."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from ddpm_from_scratch.checkpoints import load_checkpoint
from ddpm_from_scratch.train import RunLockedError

# A small training run, written out so that a separate process can run it (and be killed). KILL_AT_CALL
# makes the loss function SIGKILL its own process at that call; KILL_IN_SAVE kills it halfway through
# writing the checkpoint of that step.
RUN = textwrap.dedent("""
    import os, signal, sys
    import torch
    from ddpm_from_scratch import checkpoints, diffusion
    from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser
    from ddpm_from_scratch.schedules import NoiseSchedule
    from ddpm_from_scratch.train import TrainConfig, Trainer

    path, steps, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"
    kill_at_call, kill_in_save = int(os.environ.get("KILL_AT_CALL", 0)), int(os.environ.get("KILL_IN_SAVE", 0))
    torch.set_num_threads(1)
    schedule = NoiseSchedule.linear(100)
    data = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
    calls = {"n": 0}

    def loss_fn(model, x0, generator):
        calls["n"] += 1
        if calls["n"] == kill_at_call:
            os.kill(os.getpid(), signal.SIGKILL)
        return diffusion.denoising_loss(model, schedule, x0, generator)

    if kill_in_save:
        real_save = torch.save

        def dying_save(obj, file, *args, **kwargs):
            if obj.get("step") == kill_in_save:
                file.write(b"the first bytes of a checkpoint")
                file.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(obj, file, *args, **kwargs)

        torch.save = dying_save
    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(hidden=32, num_layers=2))
    config = TrainConfig(steps=steps, batch_size=32, lr=1e-3, warmup_steps=5, checkpoint_every=10, seed=1)
    Trainer(model, loss_fn, data, config, checkpoint_path=path, resume=resume, device="cpu").fit(progress=False)
""")


def run(path, steps, resume=False, timeout=120, **env):
    return subprocess.run([sys.executable, "-c", RUN, str(path), str(steps), "resume" if resume else "new"],
                          env={**os.environ, **{k: str(v) for k, v in env.items()}}, capture_output=True, text=True,
                          timeout=timeout)


def same_state(a: dict, b: dict) -> None:
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    for state_a, state_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(state_a[name]), torch.as_tensor(state_b[name])), name
    assert a["losses"] == b["losses"] and a["step"] == b["step"]
    assert torch.equal(a["generator_state"], b["generator_state"])


def test_a_run_killed_right_after_a_checkpoint_resumes_to_the_same_state(tmp_path):
    full = run(tmp_path / "full.pt", 30)
    assert full.returncode == 0, full.stderr
    killed = run(tmp_path / "killed.pt", 30, KILL_AT_CALL=21)  # step 21 starts right after the step-20 checkpoint
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "killed.pt")["step"] == 20
    resumed = run(tmp_path / "killed.pt", 30, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    same_state(load_checkpoint(tmp_path / "full.pt"), load_checkpoint(tmp_path / "killed.pt"))


def test_a_kill_while_the_checkpoint_is_written_leaves_the_previous_one_loadable(tmp_path):
    path = tmp_path / "run.pt"
    killed = run(path, 30, KILL_IN_SAVE=20)
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(path)["step"] == 10  # the step-20 write never replaced it
    resumed = run(path, 30, resume=True)  # and training goes on from there
    assert resumed.returncode == 0, resumed.stderr
    full = run(tmp_path / "full.pt", 30)
    same_state(load_checkpoint(tmp_path / "full.pt"), load_checkpoint(path))


def test_a_second_training_into_the_same_checkpoint_is_refused_naming_the_first(tmp_path):
    path = tmp_path / "shared.pt"
    first = subprocess.Popen([sys.executable, "-c", RUN, str(path), "1000000", "new"], stderr=subprocess.PIPE)
    try:
        lock = tmp_path / "shared.pt.lock"
        for _ in range(600):
            if lock.exists() and lock.read_text().strip():
                break
            time.sleep(0.1)
        assert lock.exists(), "the first run never took the lock"
        from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser
        from ddpm_from_scratch.train import TrainConfig, Trainer

        second = Trainer(MLPDenoiser(MLPConfig(hidden=32, num_layers=2)), lambda m, b, g: m(b, torch.zeros(len(b),
                         dtype=torch.long)).pow(2).mean(), torch.randn(64, 2), TrainConfig(steps=5, batch_size=8),
                         checkpoint_path=path, device="cpu")
        with pytest.raises(RunLockedError, match=rf"process {first.pid}.*another directory"):
            second.fit(progress=False)
    finally:
        first.kill()
        first.wait()
    assert lock.exists()  # SIGKILL left it behind: a stale lock ...
    second.fit(progress=False)  # ... that the next run takes over
    assert not lock.exists() and second.step == 5

"""Data-parallel training (chapter 07) on this CPU: two Gloo processes against one process.

k steps with N processes equal k steps of one process drawing the same global batch in the
same micro-batches (gradient accumulation); a run stopped and resumed equals one that was
not; only process 0 writes. Batches drawn ahead by data workers equal batches drawn in the step.
"""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ddpm_from_scratch import diffusion, train
from ddpm_from_scratch.checkpoints import load_checkpoint
from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser
from ddpm_from_scratch.schedules import NoiseSchedule
from ddpm_from_scratch.train import OnTheFly, TrainConfig, Trainer

SCHEDULE = NoiseSchedule.linear(100)
CONFIG = TrainConfig(steps=12, batch_size=32, lr=1e-2, warmup_steps=3, checkpoint_every=5, seed=3, micro_batches=4)


def data():
    return torch.randn(256, 2, generator=torch.Generator().manual_seed(0))


def loss_fn(model, x0, generator):
    return diffusion.denoising_loss(model, SCHEDULE, x0, generator)


def make_trainer(path=None, resume=False, config=CONFIG, data=None):
    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(hidden=32, num_layers=2))
    return Trainer(model, loss_fn, globals()["data"]() if data is None else data, config, checkpoint_path=path,
                   resume=resume, device="cpu")


def _worker(rank, world_size, folder, plan):
    """One process of a Gloo group: trains as ``plan`` says and saves its weights for the test to compare."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world_size)
    writes = []
    original = train.trainer.save_checkpoint  # where the Trainer looks it up
    train.trainer.save_checkpoint = lambda state, path: writes.append(str(path)) or original(state, path)
    try:
        checkpoint = os.path.join(folder, "run.pt")
        for steps in plan:  # each entry: a new Trainer (resuming from the checkpoint after the first) trained to `steps`
            trainer = make_trainer(checkpoint, resume=os.path.exists(checkpoint)).fit(steps=steps, progress=False)
        torch.save({"model": trainer.model.state_dict(), "ema": trainer.ema.state_dict(), "losses": trainer.losses,
                    "writes": writes}, os.path.join(folder, f"rank{rank}.pt"))
    finally:
        train.trainer.save_checkpoint = original
        dist.destroy_process_group()


def run_group(folder, plan, world_size=2):
    mp.spawn(_worker, args=(world_size, str(folder), plan), nprocs=world_size, join=True)
    return [torch.load(folder / f"rank{r}.pt") for r in range(world_size)]


def close(a: dict, b: dict, atol=1e-6) -> bool:
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=1e-5) for k in a)


@pytest.fixture(scope="module")
def single():
    return make_trainer().fit(progress=False)


def test_two_processes_train_like_one_process_with_the_same_global_batch(tmp_path, single):
    ranks = run_group(tmp_path, [CONFIG.steps])
    for result in ranks:  # every process ends with the same weights: those of the single process
        assert close(result["model"], single.model.state_dict())
        assert close(result["ema"], single.ema.state_dict())
    assert ranks[0]["losses"] == pytest.approx(single.losses, rel=1e-5)  # the global batch's loss, both ways
    assert ranks[1]["losses"] == ranks[0]["losses"]
    # only process 0 wrote, and the checkpoint says how the run was made
    assert ranks[0]["writes"] and not ranks[1]["writes"]
    payload = load_checkpoint(tmp_path / "run.pt")
    assert payload["world_size"] == 2 and payload["step"] == CONFIG.steps
    assert payload["train_config"]["batch_size"] == 32 and payload["train_config"]["micro_batches"] == 4


def test_a_stopped_and_resumed_group_equals_one_that_ran_through(tmp_path, single):
    ranks = run_group(tmp_path, [7, CONFIG.steps])  # stop at 7 (between checkpoints), resume to the end
    assert close(ranks[0]["model"], single.model.state_dict())
    assert close(ranks[0]["ema"], single.ema.state_dict())
    assert len(ranks[0]["losses"]) == CONFIG.steps


def test_a_run_resumes_exactly_with_another_number_of_processes(tmp_path, single):
    make_trainer(tmp_path / "run.pt").fit(steps=5, progress=False)  # one process to step 5 ...
    ranks = run_group(tmp_path, [CONFIG.steps])                     # ... two processes from there
    assert close(ranks[0]["model"], single.model.state_dict())


def test_micro_batches_drawn_one_after_another_resume_exactly(tmp_path, single):
    make_trainer(tmp_path / "a.pt").fit(steps=6, progress=False)
    resumed = make_trainer(tmp_path / "a.pt", resume=True).fit(progress=False)
    assert all(torch.equal(p, q) for p, q in zip(resumed.model.parameters(), single.model.parameters()))
    assert resumed.losses == single.losses


def test_a_batch_that_cannot_be_shared_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"batch size 32 cannot be cut into 3 .* among \[1, 2, 4, 8, 16, 32\]"):
        make_trainer(config=TrainConfig(batch_size=32, micro_batches=3))
    with pytest.raises(ValueError, match=r"2 processes cannot share .* 1 micro-batch.* e\.g\. \[2, 4, 8, 16\]"):
        train._check_batch_split(TrainConfig(batch_size=32, micro_batches=1), world_size=2)


@pytest.mark.parametrize("batch_size, micro_batches, processes, chosen", [
    (256, 1, 2, 2),    # the recipe's one piece: two of 128, one per process
    (256, 4, 2, 4),    # already shared equally: kept
    (12, 5, 2, 6),     # 5 does not even divide 12: the next count above that both processes can share
    (12, 4, 3, 6),     # 3 is nearer, but its pieces of 4 would be larger than the recipe's pieces of 3
    (6, 1, 3, 3),
])
def test_the_micro_batches_under_n_processes_are_the_nearest_count_above_that_they_share(batch_size, micro_batches,
                                                                                         processes, chosen):
    picked = train.micro_batches_for(batch_size, micro_batches, processes)
    assert picked == chosen and picked % processes == 0 and batch_size % picked == 0


def test_processes_that_do_not_divide_the_batch_are_refused_with_counts_that_do():
    with pytest.raises(ValueError, match=r"4 processes cannot share a global batch of 6 equally: .* among \[2, 3, 6\]"):
        train.micro_batches_for(6, 1, 4)


def _torchrun(tmp_path, *options):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "ddpm_from_scratch", "train", "--recipe", "moons", "--device", "cpu", "--quiet",
               "--out", str(tmp_path / "run"), *options]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_torchrun_trains_a_recipe_on_two_processes_and_one_writes_the_card(tmp_path):
    result = _torchrun(tmp_path, "--steps", "40")  # moons draws its batch of 256 in one piece: 2 processes take 2
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("exported EMA weights") == 1  # process 0 alone reports and writes
    assert result.stdout.count("2 processes draw the global batch of 256 as 2 micro-batches of 128") == 1
    card = json.loads((tmp_path / "run" / "moons.json").read_text())
    assert card["world_size"] == 2 and card["micro_batches"] == 2 and card["steps"] == 40
    assert card["global_batch_size"] == card["batch_size"] == 256
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert checkpoint["world_size"] == 2 and checkpoint["train_config"]["micro_batches"] == 2
    assert not list((tmp_path / "run").glob("*.tmp*"))  # no partial file left


def test_torchrun_with_micro_batches_the_processes_cannot_share_says_what_to_pass(tmp_path):
    result = _torchrun(tmp_path, "--steps", "5", "--micro-batches", "1")  # asked for: not changed, refused
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors and "micro_batches must be a multiple of the number of processes" in errors[0], result.stderr
    assert "--micro-batches" in errors[0] and "exitcode  : 2" in result.stderr  # the processes' status: 2
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


# --- data drawn ahead of the step by worker processes ---------------------------------------------------------
def _points_on_the_fly():
    """Data in two parts, like the capstone's scenes: ``draw`` makes points on the CPU from its generator (a worker can
    run it), ``finish`` jitters them with the training device's generator (it runs in the training process)."""
    def draw(batch_size, generator):
        return {"x0": torch.randn(batch_size, 2, generator=generator)}

    def finish(batch, generator):
        return {"x0": batch["x0"] + 0.1 * torch.randn(batch["x0"].shape, generator=generator)}

    return OnTheFly(draw, finish)


def same_run(a, b) -> bool:
    return (all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
            and all(torch.equal(p, q) for p, q in zip(a.ema.parameters(), b.ema.parameters())) and a.losses == b.losses)


def test_batches_drawn_ahead_by_workers_equal_batches_drawn_in_the_step(single):
    ahead = make_trainer(config=replace(CONFIG, data_workers=2)).fit(progress=False)
    assert same_run(ahead, single)  # same pieces from the same streams: the same run to the bit


def test_a_run_with_data_workers_is_the_same_with_any_number_of_them_and_resumes_exactly(tmp_path):
    config = replace(CONFIG, micro_batches=1, data_workers=1)
    through = make_trainer(config=replace(config, data_workers=2), data=_points_on_the_fly()).fit(progress=False)
    make_trainer(tmp_path / "a.pt", config=config, data=_points_on_the_fly()).fit(steps=7, progress=False)
    resumed = make_trainer(tmp_path / "a.pt", resume=True, config=replace(config, data_workers=2),
                           data=_points_on_the_fly()).fit(progress=False)
    assert same_run(resumed, through) and len(resumed.losses) == CONFIG.steps


def test_data_workers_refuse_a_function_that_may_use_the_gpu():
    with pytest.raises(ValueError, match=r"OnTheFly\(draw, finish\) with a draw that never touches the GPU"):
        make_trainer(config=replace(CONFIG, data_workers=2), data=lambda batch_size, generator: torch.randn(batch_size, 2))

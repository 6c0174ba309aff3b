"""How strong are the tests? Apply realistic one-line bugs to the package, one at a time, and
count how many the unit tests catch (issue 9: goal >= 90%).

    .venv/bin/python scripts/mutation_check.py             # every mutation (~30-60 min on 2 cores)
    .venv/bin/python scripts/mutation_check.py ema lr      # only those whose name contains a word

Each mutation replaces one exact piece of one line (the script refuses a piece that is not
found exactly once, so a refactor cannot silently turn a mutation into a no-op). The
repository (as git sees it) is copied to a temporary folder, the bug is applied there, and
``pytest -x tests`` runs with that copy first on the path; the first failing test is recorded
(which test that is depends on pytest's order, so it names *a* test that catches the bug, not
the only one). The working tree is never touched.

The bugs are the kind a person makes while writing the code: a swapped argument, an
off-by-one, a forgotten square root, a line that restores one state but not another. They
are not the tests' target: the tests check properties (values computed independently), and
this list measures how many plausible bugs those properties exclude. A surviving mutation
points at a property nobody checks; add a test of that property, not of the mutation.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, file in the package, exact text, replacement, the module's own test files: for the reader)
MUTATIONS = [
    # --- the trainer -------------------------------------------------------------------------
    ("ema_lerp_swapped", "train/trainer.py", "list(self.model.parameters()), 1 - decay)",
     "list(self.model.parameters()), decay)", ["test_train.py"]),
    ("ema_no_warmup", "train/trainer.py", "(1 + self.step) / (10 + self.step)", "(1 + self.step) / (1 + self.step)",
     ["test_train.py"]),
    ("lr_warmup_off_by_one", "train/trainer.py", "min(1.0, (self.step + 1) / warmup)", "min(1.0, self.step / warmup)",
     ["test_train.py"]),
    ("grad_clip_inverted", "train/trainer.py", "if self.config.grad_clip:", "if not self.config.grad_clip:",
     ["test_train.py"]),
    ("resume_forgets_global_rng", "train/trainer.py", 'torch.set_rng_state(payload["torch_rng_state"].cpu())', "pass",
     ["test_train.py"]),
    ("resume_forgets_losses", "train/trainer.py", 'self.losses = list(payload.get("losses", []))', "self.losses = []",
     ["test_train.py"]),
    ("resume_forgets_optimizer", "train/trainer.py", 'self.optimizer.load_state_dict(payload["optimizer"])', "pass",
     ["test_train.py"]),
    ("checkpoint_saves_model_as_ema", "train/trainer.py", '"ema": self.ema.state_dict(),\n            "optimizer"',
     '"ema": self.model.state_dict(),\n            "optimizer"', ["test_train.py"]),
    ("checkpoint_every_off_by_one", "train/trainer.py", "self.step % self.config.checkpoint_every == 0",
     "self.step % self.config.checkpoint_every == 1", ["test_train.py"]),
    ("interrupt_keeps_advanced_rng", "train/trainer.py", "self.generator.set_state(self._rng_at_step_start[0])", "pass",
     ["test_train.py"]),
    # --- checkpoints -------------------------------------------------------------------------
    ("save_writes_in_place", "checkpoints.py", "os.replace(tmp, path)", "os.replace(tmp, tmp)",
     ["test_checkpoints.py"]),
    ("fingerprint_not_checked", "checkpoints.py", 'payload.get("fingerprint") != fingerprint(weights)', "False",
     ["test_checkpoints.py"]),
    # --- forward process, training pairs --------------------------------------------------------
    ("add_noise_no_sqrt", "diffusion.py", "(1 - alpha_bar).sqrt() * noise  # x_t", "(1 - alpha_bar) * noise  # x_t",
     ["test_diffusion.py"]),
    ("training_t_skips_0", "diffusion.py", "torch.randint(0, schedule.num_steps, (x0.shape[0],)",
     "torch.randint(1, schedule.num_steps, (x0.shape[0],)", ["test_diffusion.py"]),
    ("predict_x0_no_sqrt", "diffusion.py", "eps) / alpha_bar.sqrt()", "eps) / alpha_bar", ["test_diffusion.py"]),
    # --- samplers ----------------------------------------------------------------------------
    ("ddpm_noise_on_last_step", "diffusion.py", "not_last = (t > 0)", "not_last = (t >= 0)", ["test_diffusion.py"]),
    ("ddpm_beta_variance_ignored", "diffusion.py", "var = schedule.gather(schedule.betas, t, x_t)",
     "var = schedule.gather(schedule.posterior_variance, t, x_t)", ["test_diffusion.py"]),
    ("ddpm_clip_ignores_range", "diffusion.py", "x0_hat = predict_x0(schedule, x_t, t, eps).clamp(*data_range)",
     "x0_hat = predict_x0(schedule, x_t, t, eps).clamp(-1.0, 1.0)", ["test_diffusion.py"]),
    ("ddim_sigma_eta_squared", "diffusion.py", "sigma = eta * (", "sigma = eta**2 * (", ["test_diffusion.py"]),
    ("ddim_clip_keeps_old_eps", "diffusion.py",
     "eps = (x_t - alpha_bar.sqrt() * x0_hat) / (1 - alpha_bar).sqrt()  # keep", "eps = eps  # keep",
     ["test_diffusion.py"]),
    ("ddim_direction_without_sigma", "diffusion.py", "(1 - alpha_bar_prev - sigma**2).clamp(min=0)",
     "(1 - alpha_bar_prev).clamp(min=0)", ["test_diffusion.py"]),
    ("guidance_from_conditional", "diffusion.py", "return eps_uncond + guidance_scale * (eps_cond - eps_uncond)",
     "return eps_cond + guidance_scale * (eps_cond - eps_uncond)", ["test_diffusion.py"]),
    ("ddim_timesteps_stop_at_1", "diffusion.py", "torch.linspace(first, 0, steps)", "torch.linspace(first, 1, steps)",
     ["test_diffusion.py"]),
    # --- schedules -----------------------------------------------------------------------------
    ("cosine_offset_dropped", "schedules.py", "f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2",
     "f = torch.cos(steps * math.pi / 2) ** 2", ["test_schedules.py"]),
    # --- likelihood -------------------------------------------------------------------------------
    ("prior_mean_no_sqrt", "metrics/likelihood.py", "gaussian_kl(abar_last.sqrt() * x0", "gaussian_kl(abar_last * x0",
     ["test_metrics.py"]),
    ("gaussian_kl_log_ratio_flipped", "metrics/likelihood.py", "torch.log(var2 / var1)", "torch.log(var1 / var2)",
     ["test_metrics.py"]),
    ("bin_width_doubled", "metrics/likelihood.py", "BIN_HALF_WIDTH = 1 / 255", "BIN_HALF_WIDTH = 2 / 255",
     ["test_metrics.py"]),
    ("strata_not_midpoints", "metrics/likelihood.py", "1 + int((j + 0.5) * stride)", "1 + int(j * stride)",
     ["test_metrics.py"]),
    # --- FID -------------------------------------------------------------------------------------
    ("fid_trace_term_once", "metrics/fid.py", "- 2 * np.trace(covmean)", "- np.trace(covmean)", ["test_metrics.py"]),
    # --- networks --------------------------------------------------------------------------------
    ("resblock_residual_dropped", "nn/blocks.py", "return self.skip(x) + h", "return h", ["test_nn.py"]),
    ("unet_skip_zeroed", "nn/unet.py", "h = torch.cat([h, skips.pop()], dim=1)",
     "h = torch.cat([h, torch.zeros_like(skips.pop())], dim=1)", ["test_nn.py"]),
    ("attention_scale_not_sqrt", "nn/blocks.py", "/ math.sqrt(q.shape[-1])  # (B, h, N, L)",
     "/ q.shape[-1]  # (B, h, N, L)", ["test_nn.py"]),
    ("attention_mask_inverted", "nn/blocks.py", "scores.masked_fill(~mask[:, None, None, :]",
     "scores.masked_fill(mask[:, None, None, :]", ["test_nn.py"]),
    ("step_embedding_sin_twice", "nn/blocks.py", "torch.cat([angles.sin(), angles.cos()], dim=1)",
     "torch.cat([angles.sin(), angles.sin()], dim=1)", ["test_nn.py"]),
    ("cross_attention_residual_dropped", "nn/blocks.py",
     "tokens = tokens + self.cross_attention(", "tokens = self.cross_attention(", ["test_nn.py", "test_text.py"]),
    ("text_padding_is_real", "nn/text.py", "mask = ids != 0", "mask = ids >= 0", ["test_text.py"]),
    ("vae_sample_uses_variance", "nn/autoencoder.py", "return self.mean + self.std * eps",
     "return self.mean + self.std**2 * eps", ["test_decoders.py"]),
    ("vae_kl_sign", "nn/autoencoder.py", "self.logvar.exp() - 1.0 - self.logvar", "self.logvar.exp() - 1.0 + self.logvar",
     ["test_decoders.py"]),
    # --- recipes ---------------------------------------------------------------------------------
    ("model_init_unseeded", "recipes/training.py", "torch.manual_seed(recipe.train_config.seed if seed is None else seed)",
     "pass", ["test_recipes.py"]),
]


def apply(root: Path, file: str, old: str, new: str) -> None:
    path = root / "ddpm_from_scratch" / file
    text = path.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"mutation text {old!r} occurs {text.count(old)} times in {file}: update the mutation list")
    path.write_text(text.replace(old, new))


def run_one(name, file, old, new, own, timeout):
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as tmp:
        tmp = Path(tmp)
        # the repository as git sees it (tracked and new files, not the ignored ones), so that every test
        # that passes in the working tree passes in the copy before the bug is applied
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.splitlines()
        for name in files:
            if (ROOT / name).is_file():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, tmp / name)
        apply(tmp, file, old, new)
        env = dict(os.environ, PYTHONPATH=str(tmp), DDPM_BUDGET="smoke", PYTHONDONTWRITEBYTECODE="1")
        check = subprocess.run([sys.executable, "-c", "import ddpm_from_scratch; print(ddpm_from_scratch.__file__)"],
                               cwd=tmp, env=env, capture_output=True, text=True)
        if not check.stdout.startswith(str(tmp)):
            raise SystemExit(f"the mutated copy is not the one imported: {check.stdout} {check.stderr}")
        start = time.perf_counter()
        try:
            result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                     "-W", "ignore", "tests"],
                                    cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timeout", "", time.perf_counter() - start
        seconds = time.perf_counter() - start
        failed = [line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        if result.returncode == 0:
            return "survived", "", seconds
        return "caught", (failed[0] if failed else f"exit {result.returncode}"), seconds


def main(words):
    skip = [w[1:] for w in words if w.startswith("-")]  # -name: leave that mutation out
    words = [w for w in words if not w.startswith("-")]
    chosen = [m for m in MUTATIONS if (not words or any(w in m[0] for w in words))
              and not any(w == m[0] for w in skip)]
    for name, file, old, new, _ in chosen:  # check every mutation applies before spending time
        text = (ROOT / "ddpm_from_scratch" / file).read_text()
        if text.count(old) != 1:
            raise SystemExit(f"{name}: text occurs {text.count(old)} times in {file}")
    print(f"{len(chosen)} mutations; torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}", flush=True)
    caught = 0
    rows = []
    for name, file, old, new, own in chosen:
        outcome, first_failure, seconds = run_one(name, file, old, new, own, timeout=1800)
        caught += outcome == "caught"
        rows.append((name, file, outcome, first_failure))
        print(f"{name:34s} {file:24s} {outcome:9s} {seconds:6.0f} s  {first_failure}", flush=True)
    print(f"\ncaught {caught} of {len(chosen)} ({100 * caught / len(chosen):.0f}%)")
    survivors = [r[0] for r in rows if r[2] != "caught"]
    if survivors:
        print("survived:", ", ".join(survivors))


if __name__ == "__main__":
    main(sys.argv[1:])

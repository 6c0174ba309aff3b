"""What a recipe is: a model's configuration, its training data and objective, its training settings, how it is
measured (an evaluator of ``evaluation`` and the shipped judges it reads with) and the modules it is built on. The
book's recipes are the table in ``recipes``."""

import inspect
from dataclasses import dataclass, field
from typing import Callable

from ..schedules import NoiseSchedule
from ..train import TrainConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    model_config: object = None              # a config dataclass of nn (None: a pipeline of shipped models)
    train_config: TrainConfig | None = None
    data: Callable | None = None             # data(model, seed) -> a tensor, a dict of tensors, or a batch sampler
    loss: Callable | None = None             # loss(model, batch, generator) -> scalar
    evaluator: Callable | None = None        # an evaluation.evaluate_*: evaluator(model or route, **judges, **options)
    judges: dict = field(default_factory=dict)  # the evaluator's judge keywords -> the recipes of the shipped judges
    parts: dict = field(default_factory=dict)   # role -> recipe: "text encoder", "autoencoder" (a latent generator
                                                # is trained on them), "generator", "decoder" (a pipeline of them)
    schedule: NoiseSchedule | None = None    # the noise schedule of a diffusion recipe
    prepare: Callable | None = None          # prepare(model) -> header fields: loads parts trained elsewhere
    measure: Callable | None = None          # measure(model) -> header fields measured after training
    sampling: dict | None = None             # a text-to-image recipe's sampler on its card: guidance_scale, eta

    def route(self, generator=None, device=None):
        """The text-to-image route (``pipeline.TextToImage``) of this recipe: ``generator`` (a loaded checkpoint;
        default: the recipe's shipped generator) through the decoder the recipe names: the super-resolution
        decoder of a pipeline, the autoencoder a latent generator's checkpoint requires, or none (pixel space)."""
        from .. import pipeline, pretrained

        generator = generator or pretrained.load(self.parts.get("generator", self.name), device)
        if "decoder" in self.parts:
            return pipeline.cascade_route(generator, pretrained.load(self.parts["decoder"], device))
        if "autoencoder" in self.parts:
            return pipeline.with_its_autoencoder(generator, device)
        return pipeline.route_from_card(generator)

    def evaluate(self, loaded, device=None, **options) -> dict:
        """Measure ``loaded`` (a ``pretrained.Pretrained`` of this recipe; None for a pipeline of shipped parts) with
        the recipe's evaluator: its model, or for a recipe built on other modules its route (``route``); with the
        shipped judges the recipe names, the checkpoint's schedule and scale factor where the evaluator takes
        them, and ``options`` (``evaluate``'s command-line options, by name)."""
        from .. import pretrained

        if self.evaluator is None:
            raise ValueError(f"recipe {self.name!r} has no evaluator")
        takes = inspect.signature(self.evaluator).parameters
        arguments = {keyword: pretrained.load(name, device).model for keyword, name in self.judges.items()}
        if self.parts:
            subject = self.route(loaded, device)
        else:
            subject = loaded.model
            arguments |= {"schedule": loaded.schedule} if "schedule" in takes else {}
            arguments |= {"scale_factor": loaded.header.get("scale_factor")} if "scale_factor" in takes else {}
            if "guidance_scale" in takes and "guidance_scale" in loaded.card:  # a text model at its card's scale
                arguments["guidance_scale"] = loaded.card["guidance_scale"]
        return self.evaluator(subject, **arguments | options)

    def evaluation_options(self) -> set:
        """The options ``evaluate`` may pass: the evaluator's settings that neither the checkpoint nor the judges
        fill (number of samples, seed, sampler, ...)."""
        if self.evaluator is None:
            return set()
        filled = {"schedule", "scale_factor", "folder_data", *self.judges}
        return {name for name, parameter in list(inspect.signature(self.evaluator).parameters.items())[1:]
                if name not in filled and parameter.default is not inspect.Parameter.empty}

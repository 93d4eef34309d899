"""The PACGAN training loop: progressive stages, WGAN-GP + ACGAN steps, selection, checkpoints, resume.

The loop takes a :class:`~pacgan_lite.config.KitConfig` and data folders; it parses no arguments (the CLI
and the notebooks build the config). One stage at a time:

* the stage's images are one tensor on the device, visited in a seeded permutation each epoch;
* per batch: ``critic_iterations`` critic updates, then one generator update, each with a fresh z; the
  fakes use **the labels of the real batch** (as the reference); ``fade_alpha`` comes from the schedule
  as a pure function of the images seen in the stage;
* after each epoch: a stats record, from ``selection_start`` on a validation of the class head
  (set-level AUC on real and generated images, see :mod:`.selection`), and the latest checkpoint;
* at the stage's end: the stage's final checkpoint (the last epoch), the selected epoch's weights carried
  into the next stage, the stage's best checkpoint (resumable: it is the next stage's start) and a sample
  grid.

Leading stages with 0 epochs (``train.epochs_per_stage = [0, 0, 0, 0, 150]``: no progressive growing) are
skipped: training starts at the first trained stage, without a fade-in, and a skipped stage leaves nothing
in the run folder (no stats, checkpoints, sample grid or ``selection.json`` record; ``RunFolder`` reads
its selected epoch as 0).

What is written where is :mod:`pacgan_lite.run_folder`'s business; the loop calls a :class:`RunFolder`.

Final mode retrains from scratch on train+val, each stage up to the selected (1-based) epoch of a
validation run, with that run's fade-in timing, and scores the critic's class head on the test set. The
stages the validation run skipped are skipped again (their selected epoch reads as 0).
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import __version__
from ..architecture import architecture, build_networks
from ..checkpoint import CheckpointError, load_checkpoint, sampling_point, save_checkpoint
from ..config import KitConfig, TrainOptions, validate_config
from ..data import check_dataset
from ..devices import resolve_device
from ..errors import ConfigError, DataError
from ..paths import resolve, runs_root
from ..run_folder import OPTIONS_FILE, RunFolder, RunLog
from ..sampling import classifier_auc, generate_balanced
from ..schedule import PER_STAGE_FIELDS, resolution
from . import setup
from .distributed import init_distributed
from .selection import (
    SELECTION_FORMULAS,
    BestEpoch,
    first_selection_epoch,
    selected_epochs,
    selection_components,
    selection_score,
)
from .state import noise_states, restore_rng_state, rng_state
from .step import TrainingStep


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN or Inf; the last good checkpoint is left as it was."""


@dataclass
class TrainResult:
    """What a call of :func:`train` leaves: the run folder, the live networks and the per-stage records."""

    run_dir: Path | None  # None on DDP ranks other than 0
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    generator_ema: torch.nn.Module | None
    selections: list[dict] = field(default_factory=list)  # per finished stage: the selected epoch
    test_metrics: list[dict] = field(default_factory=list)  # final mode: per stage, the test AUC
    stage: int = 0  # where training stands (the next stage to train, or the current one)
    epoch: int = 0

    @property
    def run(self) -> RunFolder | None:
        """The run folder, to read what the run wrote."""
        return None if self.run_dir is None else RunFolder(self.run_dir)


def train(config: KitConfig, train_folder: str | Path, *, test_folder: str | Path | None = None,
          run_dir: str | Path | None = None, resume: str | Path | None = None, stages: int | None = None,
          max_epochs: int | None = None, echo: bool = True) -> TrainResult:
    """Train (or continue) PACGAN; see the module docstring.

    Args:
        config: the resolved options (``config.model`` and ``config.train`` are used).
        train_folder: a prepared ``train/`` folder (labels with ``Split`` = train | val).
        test_folder: the prepared ``test/`` folder, scored in final mode.
        run_dir: the run folder; default: a new ``runs/<id>-<desc>``, or the folder of ``resume``.
        resume: a checkpoint to continue from exactly (the latest one, a stage's best, ...).
        stages: stop after this many stages (default ``config.train.stages``): the notebooks train one
            stage per cell with ``resume=...`` and ``stages=k``.
        max_epochs: stop after this many epochs in this call (a clean interruption: the latest checkpoint
            holds the state where it stopped).
        echo: print the log lines too.
    """
    trainer = Trainer(config, Path(train_folder), test_folder=test_folder, run_dir=run_dir, resume=resume,
                      echo=echo)
    return trainer.run(stages, max_epochs)


class Trainer:
    """The state of one training run; :func:`train` is the usual entry point."""

    def __init__(self, config: KitConfig, train_folder: Path, *, test_folder=None, run_dir=None, resume=None,
                 echo=True):
        validate_config(config)  # a config built in Python is checked here; a profile's when it loads
        self.config, self.options = config, config.train
        self.device = resolve_device(self.options.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = init_distributed(self.device.type)
        self.precision = setup.precision_for(self.device, self.options.precision,
                                              self.options.channels_last)
        self.train_folder, self.test_folder = train_folder, None if test_folder is None else Path(test_folder)
        info = check_dataset(train_folder)
        self.class_names = info.class_names
        self.schedule = setup.schedule_for(self.options)
        # Epochs to train per stage; final mode stops at the validation run's selected (1-based) epoch,
        # with the same fade-in timing as that run (the schedule keeps the profile's epochs). A skipped
        # leading stage has 0 either way.
        self.stage_epochs = self.schedule.epochs_per_stage
        if self.options.final_mode:
            self.stage_epochs = tuple(selected_epochs(resolve(self.options.selection_from),
                                                      self.schedule.epochs_per_stage))
            if len(self.stage_epochs) < self.schedule.n_stages:
                raise ConfigError(self.options.selection_from, "train.selection_from",
                                  f"has {len(self.stage_epochs)} stages, {self.schedule.n_stages} are trained",
                                  "finish the validation run or lower train.stages")
        if resolution(self.schedule.n_stages - 1) not in info.sizes:
            raise DataError(train_folder, "Real{s}x{s}.nii.gz", f"{self.schedule.n_stages} stages need "
                            f"{resolution(self.schedule.n_stages - 1)} px, the data have {list(info.sizes)}",
                            "lower train.stages or prepare data at a higher resolution")
        self.validating = self.options.validate and not self.options.final_mode
        self.arch = architecture(config.model, len(self.class_names), info.channels)

        torch.manual_seed(self.options.seed)
        self.G, self.D = (net.to(self.device, memory_format=self.precision.memory_format)
                          for net in build_networks(self.arch))
        self.G_ema = setup.make_ema(self.G) if self.options.ema else None
        self.permutation_rng = torch.Generator().manual_seed(self.options.seed)
        # Each rank draws its own z; the permutation is shared (each rank takes its shard).
        self.noise_rng = torch.Generator(self.device).manual_seed(self.options.seed * 65_537 + 1 + self.dist.rank)
        self.step = TrainingStep(self.G, self.D, self.G_ema, self.options, self.precision, self.dist, self.noise_rng)
        # Leading stages with 0 epochs are skipped: a new run starts at the first trained stage.
        self.stage, self.epoch, self.images_seen = self.schedule.first_trained_stage, 0, 0
        self.best, self.selections, self.test_metrics = BestEpoch(), [], []
        if resume is not None:
            payload = load_checkpoint(resume, self.arch)
            self._check_resumed_schedule(Path(resume), payload)
            self._restore(payload)
        mode = "final" if self.options.final_mode else "val" if self.validating else "train"
        self.folder = (RunFolder.for_training(run_dir, resume, runs_root(), f"{config.profile}-{mode}")
                    if self.dist.is_main else None)
        self.log = RunLog(self.folder, echo)
        self._write_options(resume)
        if self.folder is not None:  # the epochs after the starting point are trained again, their rows anew
            self.folder.keep_stats_until(self.stage, self.epoch)

    # ----------------------------------------------------------------------------------------- driving

    def run(self, stages: int | None = None, max_epochs: int | None = None) -> TrainResult:
        end_stage = self.schedule.n_stages if stages is None else stages
        first = self.schedule.first_trained_stage  # stages before it have 0 epochs: nothing to train
        if not first + 1 <= end_stage <= self.schedule.n_stages:
            skipped = f" (stages {list(range(first))} have 0 epochs)" if first else ""
            raise ConfigError("train()", "stages", f"must be in {first + 1}..{self.schedule.n_stages}{skipped}, "
                              f"got {stages}", "train at most train.stages stages, and at least up to the first "
                              "stage with epochs")
        if self.folder is not None:
            self.folder.clear_failure()
        try:
            result = self._run(end_stage, max_epochs)
        except Exception as err:  # a sweep reads the reason from the run folder; an interrupt stays resumable
            if self.folder is not None:
                self.folder.write_failure(f"{type(err).__name__}: {err}", self.stage, self.epoch)
            raise
        self.dist.finish()
        return result

    def _run(self, end_stage: int, max_epochs: int | None) -> TrainResult:
        epochs_run = 0
        while self.stage < end_stage:
            self._load_stage_data()
            new_stage = self.epoch == 0 and self.stage > self.schedule.first_trained_stage
            if new_stage and self.options.reset_optimizers_per_stage:
                self.step.new_optimizers()
            stage_epochs = self.stage_epochs[self.stage]
            with tqdm(total=(stage_epochs - self.epoch) * self._batches_per_epoch(), leave=False,
                      desc=f"stage {self.stage} ({resolution(self.stage)} px)", unit="batch",
                      disable=not (self.options.progress and self.dist.is_main)) as bar:
                while self.epoch < stage_epochs:
                    if max_epochs is not None and epochs_run >= max_epochs:
                        if self.epoch % self.options.checkpoint_every_epochs:  # a resume continues from here
                            self._save("latest", self._sampling_point_now())
                        return self._result()
                    self._train_epoch(bar)
                    epochs_run += 1
            self._finish_stage()
        return self._result()

    def _result(self) -> TrainResult:
        self.log.log(f"stopped at stage {self.stage}, epoch {self.epoch}")
        return TrainResult(None if self.folder is None else self.folder.path, self.G, self.D, self.G_ema, list(self.selections),
                           list(self.test_metrics), self.stage, self.epoch)

    def _load_stage_data(self) -> None:
        size = resolution(self.stage)
        train_splits = ("train", "val") if self.options.final_mode else ("train",)
        images, self.train_labels = setup.load_split(self.train_folder, size, train_splits)
        if len(self.train_labels) == 0:
            raise DataError(self.train_folder / "labels.csv", "Split",
                            f"no {' or '.join(repr(split) for split in train_splits)} rows to train on",
                            "mark the training rows Split = train (lower case), or prepare the data again "
                            "(pacgan-lite prepare)")
        self.train_images = images.to(self.device, memory_format=self.precision.memory_format)
        self.train_labels = self.train_labels.to(self.device)
        if self.validating:
            self.val_images, self.val_labels = setup.load_split(self.train_folder, size, ("val",))
            if len(self.val_labels) == 0:
                raise DataError(self.train_folder / "labels.csv", "Split", "no 'val' rows to validate on",
                                "prepare with split.val_fraction > 0, or set train.validate=false")

    def _images_per_epoch(self) -> int:
        """Images one epoch trains on over all ranks (``shard`` cuts the set to a multiple of the world
        size), the count the schedule's progress is measured in."""
        return len(self.train_labels) - len(self.train_labels) % self.dist.world_size

    def _batches_per_epoch(self) -> int:
        local = len(self.train_labels) // self.dist.world_size
        return math.ceil(local / self._local_batch())

    def _local_batch(self) -> int:
        return max(1, self.schedule.batch_sizes[self.stage] // self.dist.world_size)

    # --------------------------------------------------------------------------------------- one epoch

    def _train_epoch(self, bar) -> None:
        n_train = len(self.train_labels)
        indices = self.dist.shard(torch.randperm(n_train, generator=self.permutation_rng)).to(self.device)
        sums, counts = defaultdict(float), defaultdict(int)
        start = time.perf_counter()
        for batch in indices.split(self._local_batch()):
            point = self.schedule.at(self.stage, self.images_seen, self._images_per_epoch())
            terms = self.step(self.train_images[batch], self.train_labels[batch], point)
            for name, value in terms.items():
                sums[name] = sums[name] + value  # device tensors: no host sync inside the epoch
                counts[name] += 1
            self.images_seen += len(batch) * self.dist.world_size
            bar.update(1)
        self.epoch += 1
        means = {name: float(total / counts[name]) for name, total in sums.items()}
        seconds = time.perf_counter() - start
        self._check_finite(means)
        for net in (self.G, self.D):
            self.dist.average_buffers(net)
        fade_alpha = self.schedule.at(self.stage, self.images_seen, self._images_per_epoch()).fade_alpha
        record = {"stage": self.stage, "epoch": self.epoch, "resolution": resolution(self.stage),
                  "fade_alpha": fade_alpha, "images_seen": self.images_seen, **means,
                  "images_per_second": len(indices) * self.dist.world_size / seconds, "seconds": seconds}
        if self.validating and self.epoch >= first_selection_epoch(
                self.schedule.epochs_per_stage[self.stage], self.options.selection_start):
            record.update(self._validate(fade_alpha))
        self.log.stats(record)
        bar.set_postfix(epoch=self.epoch, loss_D=f"{means['critic_loss']:.3f}",
                        loss_G=f"{means['generator_loss']:.3f}", img_s=f"{record['images_per_second']:.0f}")
        if self.epoch % self.options.checkpoint_every_epochs == 0:
            self._save("latest", self._sampling_point_now())

    def _check_finite(self, means: dict[str, float]) -> None:
        bad = [name for name, value in means.items() if not math.isfinite(value)]
        bad += [f"weights of {name}" for name, net in (("G", self.G), ("D", self.D))
                if not all(torch.isfinite(p).all() for p in net.parameters())]
        if self.dist.any(bool(bad)) and not bad:  # another rank diverged: stop together, not in a hang
            bad = ["the losses of another DDP rank"]
        if bad:
            message = (f"training diverged at stage {self.stage} ({resolution(self.stage)} px), epoch "
                       f"{self.epoch}: {', '.join(bad)} not finite. The last good checkpoint is kept; lower "
                       f"train.learning_rate or raise train.loss.gradient_penalty and resume from it.")
            self.log.log(message)
            raise TrainingDiverged(message)

    def _validate(self, fade_alpha: float) -> dict:
        """Score the epoch by ``train.selection`` (see :mod:`.selection`) from the set-level AUC of D's class
        head on real val images and on balanced fixed-seed fakes (and the fidelity criteria's biomarker)."""
        o, stage = self.options, self.stage
        auc_real, ce_real = classifier_auc(self.D, self.val_images, self.val_labels, stage, fade_alpha,
                                           o.eval_batch_size, self.device)
        fakes, fake_labels = generate_balanced(self._sampling_generator(), o.validation_fakes_per_class, stage,
                                               fade_alpha, o.sample_seed + 1, o.eval_batch_size, self.device)
        auc_fake, ce_fake = classifier_auc(self.D, fakes, fake_labels, stage, fade_alpha, o.eval_batch_size,
                                           self.device)
        components = selection_components(o.selection, auc_real, auc_fake, (self.val_images, self.val_labels),
                                          (fakes, fake_labels), len(self.class_names))
        score = self.dist.from_main(selection_score(o.selection, components))  # every rank selects the same epoch
        improved = self.best.offer(self.epoch, score, self.step.state(), components)
        measured = {f"val_{name}": value for name, value in components.items()}
        return {**measured, "val_class_real": ce_real, "val_class_fake": ce_fake, "selection_score": score,
                "best_so_far": improved}

    def _sampling_generator(self) -> torch.nn.Module:
        return self.G if self.G_ema is None else self.G_ema

    # ------------------------------------------------------------------------------------- stage end

    def _finish_stage(self) -> None:
        stage, stage_epochs = self.stage, self.stage_epochs[self.stage]
        self._save("final", self._sampling_point_now())
        if self.best.snapshot is None:  # no validation (or no finite score): keep the last epoch
            selected, score, components = stage_epochs, None, None
            if self.best.history:
                self.log.log(f"warning: stage {stage}: no validation score was finite (does the val split hold "
                             "every class? see the Split and Label columns of labels.csv); the last epoch is kept")
        else:
            selected, score, components = self.best.epoch, self.best.score, self.best.components
            self.step.load_state(self.best.snapshot)
        criterion = self.options.selection
        self.log.log(f"stage {stage} ({resolution(stage)} px): selected epoch {selected} of {stage_epochs}"
                     + ("" if score is None else f" ({SELECTION_FORMULAS[criterion]} = {score:.4f})"))
        self.selections.append({"stage": stage, "resolution": resolution(stage), "selected_epoch": selected,
                                "epochs": stage_epochs, "score": score, "criterion": criterion,
                                "components": components})
        per_epoch = self._images_per_epoch()
        fade_alpha = self.schedule.at(stage, selected * per_epoch, per_epoch).fade_alpha
        if self.folder is not None:
            spc = self.options.samples_per_class
            grid, _ = generate_balanced(self._sampling_generator(), spc, stage, fade_alpha,
                                        self.options.sample_seed, self.options.eval_batch_size, self.device)
            self.folder.write_samples(stage, grid, len(self.class_names))
            if self.validating:
                self.folder.write_selections(self.selections)
        if self.options.final_mode:
            self._test(fade_alpha)
        self.stage, self.epoch, self.images_seen, self.best = stage + 1, 0, 0, BestEpoch()
        selected_point = sampling_point(stage, resolution(stage), fade_alpha)
        self._save("best", selected_point, stage)
        self._save("latest", selected_point)

    def _test(self, fade_alpha: float) -> None:
        if self.test_folder is None:
            self.log.log("final mode without a test folder: no test evaluation")
            return
        images, labels = setup.load_split(self.test_folder, resolution(self.stage), ("test",))
        auc, cross_entropy = classifier_auc(self.D, images, labels, self.stage, fade_alpha,
                                            self.options.eval_batch_size, self.device)
        self.test_metrics.append({"stage": self.stage, "resolution": resolution(self.stage), "test_auc": auc,
                                  "test_cross_entropy": cross_entropy, "n_test": len(labels)})
        self.log.log(f"stage {self.stage} test: AUC {auc:.4f} on {len(labels)} images (set level)")
        if self.folder is not None:
            self.folder.write_test_metrics(self.test_metrics)

    # ------------------------------------------------------------------------------- state and files

    def _position_fade_alpha(self) -> float:
        if self.stage >= self.schedule.n_stages:
            return 1.0
        return self.schedule.at(self.stage, self.images_seen, self._images_per_epoch()).fade_alpha

    def _sampling_point_now(self) -> dict:
        """Where the live weights make their images: the current stage at the current fade-in weight."""
        return sampling_point(self.stage, resolution(self.stage), self._position_fade_alpha())

    def _save(self, kind: str, sampling: dict, stage: int | None = None) -> None:
        """Write the latest checkpoint (``kind="latest"``) or ``stage``'s "best" or "final" one (default:
        the current stage); ``sampling`` says where its weights make their images."""
        noise_of_ranks = self.dist.gather(self.noise_rng.get_state())  # a collective: every rank takes part
        if self.folder is None:
            return
        path = self.folder.latest if kind == "latest" else self.folder.checkpoint(
            self.stage if stage is None else stage, kind)
        save_checkpoint(path, {
            "architecture": self.arch, "class_names": self.class_names, "options": self.config.to_dict(),
            "sampling": sampling, **self.step.state(),
            "position": {"stage": self.stage, "epoch": self.epoch, "images_seen": self.images_seen,
                         "fade_alpha": self._position_fade_alpha(), "critic_steps": self.step.critic_steps},
            "selection": {"best": self.best.to_dict(), "stages": self.selections, "test": self.test_metrics},
            "rng": rng_state(self.permutation_rng, self.noise_rng, noise_of_ranks),
        })

    # The options that decide where a run stands and what it selects; a resume must keep them. Of the
    # per-stage ones (schedule.PER_STAGE_FIELDS), only the entries of the stages the checkpoint has begun:
    # the stages ahead of it may change, so a finished run can be continued to a higher resolution or with
    # longer stages, and its options.json still says how every trained stage was trained.
    RESUME_FIXED = ("fade_fraction", "selection_start", "selection", "final_mode")

    def _check_resumed_schedule(self, path: Path, payload: dict) -> None:
        if "position" not in payload:
            raise CheckpointError(path, "position", "holds weights only, no training state (an imported model)",
                                  "start a new run; generate, classify and evaluate --checkpoint use this file")
        ranks = len(noise_states(payload["rng"]))
        if ranks != self.dist.world_size:
            raise ConfigError(path, "world size", f"the checkpoint was written by {ranks} process(es), this run has "
                              f"{self.dist.world_size}", f"resume with {ranks} process(es) (torchrun --nproc_per_node="
                              f"{ranks}); each keeps its own random stream")
        if list(payload["class_names"]) != list(self.class_names):  # labels 0, 1 would now mean other classes
            raise DataError(self.train_folder / "dataset.json", "class_names", f"are {self.class_names}; the "
                            f"checkpoint {path.name} was trained with {payload['class_names']} (in label order)",
                            "resume on the data the run was trained on, or start a new run")
        saved, position = payload["options"]["train"], payload["position"]
        # An option newer than the checkpoint had its default value then.
        then = {name: saved.get(name, getattr(TrainOptions(), name))
                for name in self.RESUME_FIXED + PER_STAGE_FIELDS}
        for name in self.RESUME_FIXED:
            now = getattr(self.options, name)
            if _plain(now) != _plain(then[name]):
                raise ConfigError(path, f"train.{name}", f"the checkpoint was trained with {then[name]}, the options "
                                  f"now say {now}", f"resume with the run's options (its {OPTIONS_FILE}), or start a "
                                  "new run")
        begun = position["stage"] + (1 if position["epoch"] or position["images_seen"] else 0)
        for name in PER_STAGE_FIELDS:
            now, before = _plain(getattr(self.options, name)), _plain(then[name])
            changed = [stage for stage in range(begun) if now[stage:stage + 1] != before[stage:stage + 1]]
            if changed:
                raise ConfigError(path, f"train.{name}", f"the checkpoint was trained with {then[name]}, the options "
                                  f"now say {getattr(self.options, name)}: stage {changed[0]}, which it has begun, "
                                  "changed", f"keep the values of stages 0 to {begun - 1} (the run's {OPTIONS_FILE}); "
                                  "the stages after them may change. Or start a new run")

    def _restore(self, payload: dict) -> None:
        self.step.load_state(payload)
        position = payload["position"]
        self.stage, self.epoch = position["stage"], position["epoch"]
        self.images_seen, self.step.critic_steps = position["images_seen"], position["critic_steps"]
        self.best = BestEpoch.from_dict(payload["selection"]["best"])
        self.selections = list(payload["selection"]["stages"])
        self.test_metrics = list(payload["selection"]["test"])
        restore_rng_state(payload["rng"], self.permutation_rng, self.noise_rng, self.dist.rank)

    def _write_options(self, resume) -> None:
        if resume is not None:
            self.log.log(f"resumed from {resume} at stage {self.stage}, epoch {self.epoch} "
                         f"({self.images_seen} images seen in the stage)")
        if self.folder is None:
            return
        self.folder.write_options({
            "config": self.config.to_dict(), "train_folder": str(self.train_folder),
            "test_folder": None if self.test_folder is None else str(self.test_folder),
            "resume": None if resume is None else str(resume), "architecture": self.arch,
            "class_names": self.class_names, "device": str(self.device), "world_size": self.dist.world_size,
            "autocast": str(self.precision.autocast_dtype), "epochs_per_stage": self.stage_epochs[: self.schedule.n_stages],
            "pacgan_lite_version": __version__, "torch_version": torch.__version__})
        first = self.schedule.first_trained_stage
        skipped = f", stages {list(range(first))} skipped (0 epochs)" if first else ""
        self.log.log(f"run folder {self.folder.path}; {self.schedule.n_stages} stages{skipped} on {self.device} "
                     f"(world size {self.dist.world_size})")


def _plain(value):
    """Sequences as lists, so options compare equal whether they came from a tuple or a list."""
    return list(value) if isinstance(value, tuple | list) else value

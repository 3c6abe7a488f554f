"""How a search runs (not what GLASS trains): the one home of the search options and their defaults.

The CLI builds its ``tune``/``submit`` flags from these fields, so a default is written once.  Light on
purpose (no Ray, Optuna or storage import at module level): ``--help`` reads it.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.confirmation import DEFAULT_EXPORT_RULE, EXPORT_RULES
from glass_tune.search.objective import DEFAULT_OBJECTIVE, DEFAULT_REPEATS, check_objective
from glass_tune.search.samplers import DEFAULT_SAMPLER, SAMPLERS
from glass_tune.util.errors import ConfigError, UserError

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

DEFAULT_STORAGE = "runs/tune"
SCHEDULERS = ("asha", "fifo")
# --confirm-top / --confirm-seeds: (2 + 1) x 3 = 9 full trainings after a search (README.md,
# "Confirmation stage", gives the reasoning; 0 for either turns the stage off)
DEFAULT_CONFIRM_TOP, DEFAULT_CONFIRM_SEEDS = 2, 3
RESOURCE_FLAGS = {"cpus_per_trial": "--cpus-per-trial", "gpus_per_trial": "--gpus-per-trial"}


class SearchInterrupted(UserError):
    """Ctrl-C (or a stop) left trials unfinished: nothing is exported, ``--resume`` continues."""

    exit_code = 130


def default_name() -> str:
    """An experiment name when none is given: ``tune-<local time>``."""
    return f"tune-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class TuneOptions:
    """How the search runs (not what GLASS trains): sizes, scheduler, resources, storage."""

    name: str
    storage: str = DEFAULT_STORAGE
    samples: int = 8
    scheduler: str = "asha"
    grace_period: int | None = None  # None: samplers.grace_period (a fraction of the epochs)
    reduction_factor: int = 2
    max_concurrent: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    seed: int = 0
    optuna_storage: str | None = None
    max_failures: int = 0
    checkpoint_every: int = 5
    max_concurrent_total: int | None = None
    sampler: str = DEFAULT_SAMPLER
    objective: str = DEFAULT_OBJECTIVE
    repeats: int = DEFAULT_REPEATS
    confirm_top: int = DEFAULT_CONFIRM_TOP
    confirm_seeds: int = DEFAULT_CONFIRM_SEEDS
    confirm_export: str = DEFAULT_EXPORT_RULE

    @property
    def confirming(self) -> bool:
        """Whether each category's search ends with the confirmation stage."""
        return self.confirm_top > 0 and self.confirm_seeds > 0

    @classmethod
    def from_given(cls, given: dict[str, Any]) -> TuneOptions:
        """Options from the values a user gave (None = not given, the field's default applies)."""
        return cls(**{k: v for k, v in given.items() if v is not None})

    @property
    def experiment(self) -> Location:
        from glass_tune.experiment.storage import resolve

        return resolve(self.storage) / self.name

    def study_store(self):
        from glass_tune.data.demo import cache_dir
        from glass_tune.experiment.study_store import StudyStore

        return StudyStore(experiment=self.experiment, url=self.optuna_storage, cache=cache_dir())

    def resume_command(self) -> str:
        """The complete command that continues this experiment (what the recorded search needs besides)."""
        args = ["glass-tune", "tune", "--resume", "--name", self.name, "--storage", self.storage]
        if self.address:
            args += ["--address", self.address]
        if self.optuna_storage:
            args += ["--optuna-storage", self.optuna_storage]
        return shlex.join(args)

    def validate(self) -> None:
        """One-line errors before Ray starts."""
        checks = [
            (self.samples >= 1, f"--samples {self.samples}: expected at least 1"),
            (self.scheduler in SCHEDULERS, f"--scheduler {self.scheduler}: expected asha or fifo"),
            (self.grace_period is None or self.grace_period >= 1, f"--grace-period {self.grace_period}: expected at least 1"),
            (self.sampler in SAMPLERS, f"--sampler {self.sampler}: expected one of {', '.join(SAMPLERS)}"),
            (self.reduction_factor >= 2, f"--reduction-factor {self.reduction_factor}: expected at least 2"),
            (self.cpus_per_trial > 0, f"--cpus-per-trial {self.cpus_per_trial}: expected a positive number"),
            (self.gpus_per_trial >= 0, f"--gpus-per-trial {self.gpus_per_trial}: expected 0 or more"),
            (self.max_concurrent is None or self.max_concurrent >= 1, "--max-concurrent: expected at least 1"),
            (self.max_concurrent_total is None or self.max_concurrent_total >= 1, "--max-concurrent-total: expected at least 1"),
            (self.checkpoint_every >= 1, "--checkpoint-every: expected at least 1"),
            (self.max_failures >= 0, f"--max-failures {self.max_failures}: expected 0 or more"),
            (self.confirm_top >= 0, f"--confirm-top {self.confirm_top}: expected 0 (off) or more"),
            (
                self.confirm_seeds == 0 or self.confirm_seeds >= 2,
                f"--confirm-seeds {self.confirm_seeds}: expected 0 (off) or at least 2 (an interval needs two seeds)",
            ),
            (
                self.confirm_export in EXPORT_RULES,
                f"--confirm-export {self.confirm_export}: expected one of {', '.join(EXPORT_RULES)}",
            ),
            (bool(self.name) and "/" not in self.name, f"--name {self.name!r}: expected a folder name without '/'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        check_objective(objective=self.objective, repeats=self.repeats)


def option_default(name: str) -> Any:
    """The default of one option field (what ``--help`` shows)."""
    field = next(f for f in fields(TuneOptions) if f.name == name)
    return None if field.default is MISSING else field.default

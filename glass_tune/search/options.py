"""How a search runs (not what GLASS trains): the one home of the search options and their defaults.

The CLI builds its ``tune``/``submit`` flags from these fields, so a default is written once.  Light on
purpose (no Ray, Optuna or storage import at module level): ``--help`` reads it.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from glass_tune.config.schema import Rule, float_rule, int_rule, rule_of
from glass_tune.config.yaml_values import is_int
from glass_tune.experiment.confirmation import DEFAULT_EXPORT_RULE, EXPORT_RULES
from glass_tune.experiment.score_rules import DEFAULT_SCORE_RULE, SCORE_RULES
from glass_tune.search.samplers import DEFAULT_SAMPLER, SAMPLERS
from glass_tune.search.schedulers import DEFAULT_SCHEDULER, SCHEDULERS
from glass_tune.util.errors import ConfigError, UserError

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

DEFAULT_STORAGE = "runs/tune"
# --confirm-top / --confirm-seeds: (2 + 1) x 3 = 9 full trainings after a search (README.md,
# "Confirmation stage", gives the reasoning; 0 for either turns the stage off)
DEFAULT_CONFIRM_TOP, DEFAULT_CONFIRM_SEEDS = 2, 3
RESOURCE_FLAGS = {"cpus_per_trial": "--cpus-per-trial", "gpus_per_trial": "--gpus-per-trial"}
TRACKING_FLAGS = ("mlflow", "mlflow_experiment")  # recorded; a resume keeps them unless given again


class SearchInterrupted(UserError):
    """Ctrl-C (or a stop) left trials unfinished: nothing is exported, ``--resume`` continues."""

    exit_code = 130


def _number(default: Any, rule: Rule) -> Any:
    """A numeric option: its default and the rule that both its flag and :meth:`TuneOptions.validate` apply."""
    return field(default=default, metadata={"rule": rule})


def _off_or_at_least_two() -> Rule:
    """``--confirm-seeds``: 0 turns the confirmation off; otherwise an interval needs two seeds."""
    at_least_two, _ = int_rule(2)

    def conv(v: Any) -> int:
        return v if is_int(v) and v == 0 else at_least_two(v)

    return conv, "0 (off) or an integer >= 2 (an interval needs two seeds)"


def default_name() -> str:
    """An experiment name when none is given: ``tune-<local time>``."""
    return f"tune-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class TuneOptions:
    """How the search runs (not what GLASS trains): sizes, scheduler, resources, storage."""

    name: str
    storage: str = DEFAULT_STORAGE
    samples: int = _number(8, int_rule(1))
    scheduler: str = DEFAULT_SCHEDULER
    grace_period: int | None = _number(None, int_rule(1))  # None: schedulers.grace_period (a fraction of the epochs)
    reduction_factor: int = _number(2, int_rule(2))
    max_concurrent: int | None = _number(None, int_rule(1))
    cpus_per_trial: float = _number(1.0, float_rule(0.0, lo_open=True))
    gpus_per_trial: float = _number(0.0, float_rule(0.0))
    address: str | None = None
    seed: int = _number(0, rule_of("seed"))  # also the trials' config seed
    optuna_storage: str | None = None
    max_failures: int = _number(0, int_rule(0))
    checkpoint_every: int = _number(5, int_rule(1))
    max_concurrent_total: int | None = _number(None, int_rule(1))
    sampler: str = DEFAULT_SAMPLER
    objective: str = DEFAULT_SCORE_RULE  # the score rule (glass_tune.experiment.score_rules)
    repeats: int = _number(1, int_rule(1))  # seeds per trial in lockstep (glass_tune.training.repeats)
    confirm_top: int = _number(DEFAULT_CONFIRM_TOP, int_rule(0))  # 0: no confirmation
    confirm_seeds: int = _number(DEFAULT_CONFIRM_SEEDS, _off_or_at_least_two())
    confirm_export: str = DEFAULT_EXPORT_RULE
    mlflow: str | None = None  # tracking URI (glass_tune.tracking); None: not tracked
    mlflow_experiment: str | None = None  # the MLflow experiment (None: the experiment's name)

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
        from glass_tune.experiment.study_store import StudyStore
        from glass_tune.util.cache import cache_dir

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
        """One-line errors before Ray starts (the CLI's flags already hold numbers to the same rules)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if "rule" in f.metadata and value is not None:
                conv, expected = f.metadata["rule"]
                try:
                    conv(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"--{f.name.replace('_', '-')} {value}: expected {expected}") from None
        checks = [
            (self.scheduler in SCHEDULERS, f"--scheduler {self.scheduler}: expected one of {', '.join(SCHEDULERS)}"),
            (self.sampler in SAMPLERS, f"--sampler {self.sampler}: expected one of {', '.join(SAMPLERS)}"),
            (
                self.confirm_export in EXPORT_RULES,
                f"--confirm-export {self.confirm_export}: expected one of {', '.join(EXPORT_RULES)}",
            ),
            (bool(self.name) and "/" not in self.name, f"--name {self.name!r}: expected a folder name without '/'"),
            (self.objective in SCORE_RULES, f"--objective {self.objective}: expected one of {', '.join(SCORE_RULES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def _field(name: str) -> Any:
    return next(f for f in fields(TuneOptions) if f.name == name)


def option_default(name: str) -> Any:
    """The default of one option field (what ``--help`` shows)."""
    default = _field(name).default
    return None if default is MISSING else default


def option_rule(name: str) -> Rule | None:
    """The rule of a numeric option (None for the others): its flag checks the number by it."""
    return _field(name).metadata.get("rule")

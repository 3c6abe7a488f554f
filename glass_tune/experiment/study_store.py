"""Where an experiment's Optuna studies live, and how a driver opens them.

Where the study lives (one study per category, named ``<experiment>/<category>``):

- ``--optuna-storage URL``: that RDB (PostgreSQL/MySQL/SQLite URL), shared by any driver.
- a local or shared (NFS) experiment folder: Optuna's journal file ``optuna.journal`` in the
  experiment, guarded by Optuna's file lock (SQLite locking on NFS is unreliable; the journal is an
  append-only log designed for this).
- object storage (``s3://``...): objects cannot be locked or appended to, so the journal is kept on
  the driver's disk and uploaded to ``<experiment>/optuna.journal`` every time Ray saves the
  searcher state (and at the end); a driver on another machine downloads it on ``--resume``.  Only
  one driver may run a given experiment at a time (as with any Ray experiment).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import optuna

from glass_tune.experiment.storage import Location

JOURNAL_FILE = "optuna.journal"


class StudyStore:
    """Opens the study storage of one experiment (see the module docstring for the three cases)."""

    def __init__(self, *, experiment: Location, url: str | None, cache: Path) -> None:
        self.experiment = experiment
        self.url = url
        self.remote_journal = experiment / JOURNAL_FILE
        key = hashlib.sha256(experiment.uri.encode()).hexdigest()[:16]
        self.journal = experiment.local_path / JOURNAL_FILE if experiment.is_local else cache / "studies" / key / JOURNAL_FILE

    @property
    def mirrored(self) -> bool:
        """Whether the journal lives on the driver's disk and is uploaded (object storage)."""
        return self.url is None and not self.experiment.is_local

    def open(self) -> optuna.storages.BaseStorage:
        if self.url is not None:
            return optuna.storages.RDBStorage(self.url) if "://" in self.url else _journal(Path(self.url))
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        if self.mirrored:
            if self.remote_journal.is_file():
                self._take_newer_remote()
            else:  # nothing uploaded yet: a copy here is from an older experiment of the same URI
                self.journal.unlink(missing_ok=True)
        return _journal(self.journal)

    def _take_newer_remote(self) -> None:
        """The journal is an append-only log: the longer copy (this disk or the storage) is the newer.

        Another machine may have continued the search since this one last ran, or this driver may
        have died after appending but before its upload."""
        fresh = self.journal.with_name(self.journal.name + ".remote")
        self.remote_journal.download_to(fresh)
        local_size = self.journal.stat().st_size if self.journal.exists() else -1
        if fresh.stat().st_size >= local_size:
            fresh.replace(self.journal)
        else:
            fresh.unlink()

    def upload(self) -> None:
        """Object storage only: put the driver's journal next to the experiment."""
        if self.mirrored and self.journal.is_file():
            self.remote_journal.write_bytes_from(self.journal)

    def describe(self) -> str:
        return self.url or str(self.remote_journal)


def _journal(path: Path) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))

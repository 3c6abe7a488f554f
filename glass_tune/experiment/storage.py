"""One filesystem layer for every file glass-tune writes or reads next to an experiment.

``--storage`` may be a local folder, a shared mount (NFS) or a URI that ``pyarrow.fs`` resolves
(``s3://bucket/prefix``, ``gs://...``).  Ray Tune stores trials through the same ``pyarrow``
filesystem, so search.yaml, best configs, summaries, exports and ``status`` use exactly what the
trials use.  S3-compatible servers are reached with the usual AWS variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...), which ``pyarrow`` reads.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from glass_tune.util.atomic_io import atomic_write_bytes
from glass_tune.util.errors import UserError, message_line


@dataclass(frozen=True)
class Location:
    """A file or folder on a ``pyarrow`` filesystem; ``uri`` is what users see and Ray receives."""

    fs: pafs.FileSystem
    path: str
    uri: str

    def __truediv__(self, name: str) -> Location:
        return Location(self.fs, posixpath.join(self.path, name), f"{self.uri.rstrip('/')}/{name}")

    def __str__(self) -> str:
        return self.uri

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/"))

    @property
    def parent(self) -> Location:
        parent_uri = self.uri.rstrip("/").rsplit("/", 1)[0]
        return Location(self.fs, posixpath.dirname(self.path.rstrip("/")), parent_uri)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def local_path(self) -> Path:
        """The path on this machine (only for local/shared folders)."""
        assert self.is_local, f"{self.uri} is not on a local filesystem"
        return Path(self.path)

    def _info(self) -> pafs.FileInfo:
        try:
            return self.fs.get_file_info(self.path)
        except OSError as exc:
            raise UserError(f"{self.uri}: storage cannot be read ({message_line(exc)})") from None

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        return self._info().type == pafs.FileType.Directory

    def read_bytes(self) -> bytes:
        try:
            with self.fs.open_input_stream(self.path) as fh:
                return fh.readall()
        except (OSError, FileNotFoundError) as exc:
            raise UserError(f"{self.uri}: cannot read ({message_line(exc)})") from None

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")

    def write_bytes(self, data: bytes) -> None:
        """Whole-file write: atomic rename on a local/shared folder, one PUT on object storage."""
        try:
            if self.is_local:
                atomic_write_bytes(self.local_path, data)
                return
            self.fs.create_dir(posixpath.dirname(self.path), recursive=True)
            with self.fs.open_output_stream(self.path) as fh:
                fh.write(data)
        except OSError as exc:
            raise UserError(f"{self.uri}: cannot write ({message_line(exc)})") from None

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8"))

    def write_bytes_from(self, local: Path) -> None:
        """Upload a local file (e.g. the study journal) as one object."""
        try:
            self.fs.create_dir(posixpath.dirname(self.path), recursive=True)
            pafs.copy_files(str(local), self.path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)
        except OSError as exc:
            raise UserError(f"{self.uri}: cannot write ({message_line(exc)})") from None

    def download_to(self, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self.path, str(local), source_filesystem=self.fs, destination_filesystem=pafs.LocalFileSystem())

    def subdirs(self) -> list[Location]:
        """Child folders, sorted by name (empty when the folder does not exist)."""
        if not self.is_dir():
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False))
        return sorted(
            (self / posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.Directory), key=lambda loc: loc.name
        )

    def names(self) -> list[str]:
        """Names of the folder's entries (files and folders; empty when it does not exist)."""
        if not self.is_dir():
            return []
        return sorted(posixpath.basename(i.path) for i in self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False)))

    def remove_tree(self) -> None:
        """Delete the folder and everything in it (nothing when it does not exist)."""
        if self.is_dir():
            try:
                self.fs.delete_dir(self.path)
            except OSError as exc:
                raise UserError(f"{self.uri}: cannot delete ({message_line(exc)})") from None

    def check_creatable(self) -> None:
        """Like :meth:`check_writable` but creates nothing on a local disk (a mistake found later must not
        leave an empty folder behind): the nearest existing folder must be writable."""
        if not self.is_local:
            return self.check_writable()  # an object-store prefix is no visible folder
        existing = self.local_path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise UserError(f"--storage {self.uri}: cannot write there ({existing} is not a writable folder)")

    def check_writable(self) -> None:
        """Create the folder and write a probe: an unwritable ``--storage`` fails before any trial."""
        probe = self / ".glass-tune-write-test"
        try:
            self.fs.create_dir(self.path, recursive=True)
            with self.fs.open_output_stream(probe.path) as fh:
                fh.write(b"ok")
            self.fs.delete_file(probe.path)
        except OSError as exc:
            raise UserError(f"--storage {self.uri}: cannot write there ({message_line(exc)})") from None


def is_uri(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def resolve(text: str) -> Location:
    """A ``--storage``/experiment argument as a :class:`Location` (local paths made absolute)."""
    if not is_uri(text):
        local = Path(text.removeprefix("file://")).expanduser().resolve()
        return Location(pafs.LocalFileSystem(), str(local), str(local))
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (OSError, ValueError) as exc:
        raise UserError(f"{text}: not a storage location pyarrow can open ({message_line(exc)})") from None
    return Location(fs, path.rstrip("/"), text.rstrip("/"))

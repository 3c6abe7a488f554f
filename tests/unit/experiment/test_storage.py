"""Storage locations: local folders read, write and list; an unwritable place is a one-line error."""

from __future__ import annotations

import pytest

from glass_tune.experiment.storage import resolve
from glass_tune.util.errors import UserError


def test_local_location_reads_writes_and_lists(tmp_path):
    loc = resolve(str(tmp_path / "exp"))
    (loc / "a" / "x.txt").write_text("hello")
    assert (loc / "a" / "x.txt").read_text() == "hello" and (loc / "a").is_dir()
    assert [d.name for d in loc.subdirs()] == ["a"] and loc.parent.uri == str(tmp_path)
    with pytest.raises(UserError, match="cannot read"):
        (loc / "missing.txt").read_text()
    (loc / "b" / "x.bin").write_bytes(b"\x80\x00")
    assert (loc / "b" / "x.bin").read_bytes() == b"\x80\x00"


def test_unwritable_storage_is_one_line():
    with pytest.raises(UserError, match=r"--storage /proc/glass-tune: cannot write there"):
        resolve("/proc/glass-tune").check_writable()

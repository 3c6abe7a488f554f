"""One line out of an exception, for the one-line user errors."""

from __future__ import annotations

from glass_tune.util.errors import message_line


def test_message_line_is_the_first_line_or_the_os_reason_or_the_type():
    assert message_line(RuntimeError("\n  first\nsecond")) == "first"
    assert message_line(PermissionError(13, "Permission denied", "/x")) == "Permission denied"
    assert message_line(ValueError()) == "ValueError"

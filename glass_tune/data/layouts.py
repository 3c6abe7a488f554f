"""Dataset layouts by name, and automatic detection of the one a data root uses.

``mvtec`` (MVTec AD, MPDD, WFDD, VisA converted to MVTec layout), ``visa`` (VisA's original layout
with ``split_csv/1cls.csv``) and ``folder`` (the generic layout of :mod:`.folder`). Detection looks
for each layout's marker; a root that shows the markers of two layouts is an error asking for an
explicit format rather than a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from glass_tune.data import folder, mvtec, visa
from glass_tune.data.samples import CategorySplit, resolve_root
from glass_tune.util.errors import DataError

AUTO = "auto"


@dataclass(frozen=True)
class Layout:
    """One supported layout: its marker test, category listing and scanner."""

    name: str
    expected: str
    detect: Callable[[Path], bool]
    list_categories: Callable[..., list[str]]
    scan_category: Callable[..., CategorySplit]


LAYOUTS: dict[str, Layout] = {
    m.NAME: Layout(m.NAME, m.EXPECTED, m.detect, m.list_categories, m.scan_category) for m in (mvtec, visa, folder)
}
FORMATS = tuple(LAYOUTS)
_ANY_LAYOUT = "; or ".join(f"{name}: {layout.expected}" for name, layout in LAYOUTS.items())


def detect_format(root: str | Path) -> str:
    """The one layout whose marker ``root`` shows; none or several is an error naming the root."""
    path = resolve_root(root, _ANY_LAYOUT)
    found = [name for name, layout in LAYOUTS.items() if layout.detect(path)]
    if not found:
        raise DataError(f"{path}: no supported dataset layout found (expected {_ANY_LAYOUT})")
    if len(found) > 1:
        raise DataError(f"{path}: ambiguous dataset layout, looks like {' and '.join(found)} (pass --format or set data_format)")
    return found[0]


def resolve_format(root: str | Path, data_format: str) -> str:
    """``auto`` becomes the detected layout; an explicit name is checked."""
    if data_format == AUTO:
        return detect_format(root)
    if data_format not in LAYOUTS:
        raise DataError(f"data_format '{data_format}' is unknown (expected {AUTO} or one of {', '.join(FORMATS)})")
    return data_format


def list_categories(root: str | Path, data_format: str = AUTO, *, with_train: bool = True) -> list[str]:
    """Sorted category names of ``root`` in the given (or detected) layout."""
    return LAYOUTS[resolve_format(root, data_format)].list_categories(root, with_train=with_train)


def scan_category(
    root: str | Path, category: str, data_format: str = AUTO, *, with_train: bool = True, good_only: bool = False
) -> CategorySplit:
    """The samples of one category in the given (or detected) layout.

    ``good_only`` accepts a category without defective (or without any) test images: synthetic
    validation needs none.
    """
    layout = LAYOUTS[resolve_format(root, data_format)]
    return layout.scan_category(root, category, with_train=with_train, good_only=good_only)

"""A parser of report.html for the tests: what a reader of the page sees, by stable keys."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportPage(HTMLParser):
    """Images (attributes), and table cells keyed by (table class, row key, data-key)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.cells: dict[tuple[str, str, str], str] = {}
        self.links: list[str] = []
        self.ids: list[str] = []
        self._table = self._row = self._key = ""
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.images.append(a)
        elif tag == "table":
            self._table = f"{a.get('class')}:{a.get('data-category', '')}"
        elif tag == "tr":
            self._row = a.get("data-trial") or a.get("data-category", "")
        elif tag == "td" and "data-key" in a:
            self._key, self._text = a["data-key"], []
        elif tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._text is not None:
            self.cells[(self._table, self._row, self._key)] = "".join(self._text)
            self._text = None

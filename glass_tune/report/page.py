"""The report's HTML page from its sections: header, summary table, and per category the
confirmation, the plots (PNGs embedded, each linked to its file), the trial table, the notes and
the best trial's figures. Cells and figures carry ``data-*`` attributes that tests read.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from glass_tune import __version__
from glass_tune.experiment.intervals import finalists_table
from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.view import ExperimentView
from glass_tune.report.sections import BEST_TRIAL_PREFIX, Plot, Section, summary_columns, trial_columns, trial_value
from glass_tune.util.numbers import metric_text

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0} td.text{text-align:left}
tr.best{background:#e6f4e6} tr.errored{background:#fbe3e3} tr.stopped{color:#666}
figure{margin:1em 0} img{max-width:100%;border:1px solid #ddd}
.note{color:#555;font-size:13px}
"""


def _cell(value: Any, *, key: str = "", text: bool = False) -> str:
    attrs = f' data-key="{key}"' if key else ""
    attrs += ' class="text"' if text else ""
    return f"<td{attrs}>{html.escape(metric_text(value, missing=''))}</td>"


def _trial_table(view: ExperimentView, section: Section) -> str:
    cols = trial_columns(view, section.trials)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
    rows = []
    for t in section.trials:
        css = " ".join(c for c in ("best" if t is section.best else "", t.outcome.split()[0]) if c)
        held_out = section.held_out.get(t.trial_id)
        cells = "".join(
            _cell(trial_value(t, k, held_out=held_out), key=k, text=k in ("trial", "state", "error")) for k, _ in cols
        )
        rows.append(f'<tr class="{css}" data-trial="{html.escape(t.trial_id)}">{cells}</tr>')
    return f'<table class="trials" data-category="{html.escape(section.category)}"><tr>{head}</tr>{"".join(rows)}</table>'


def _summary_table(view: ExperimentView, sections: list[Section]) -> str:
    keys = summary_columns(view)
    head = (
        "<th>category</th><th>best trial</th>"
        + "".join(f"<th>{h}</th>" for _, h in keys)
        + "<th>trials</th><th>stopped early</th><th>errored</th>"
    )
    rows = []
    for s in sections:
        link = f'<td class="text"><a href="#cat-{html.escape(s.category)}">{html.escape(s.category)}</a></td>'
        best = s.best
        held_out = s.held_out.get(best.trial_id) if best else None
        cells = _cell(best.trial_id if best else None, text=True) + "".join(
            _cell(trial_value(best, k, held_out=held_out) if best else None, key=k) for k, _ in keys
        )
        counts = [sum(t.outcome == st for t in s.trials) for st in (Outcome.STOPPED, Outcome.ERRORED)]
        cells += _cell(len(s.trials), key="trials") + _cell(counts[0], key="stopped") + _cell(counts[1], key="errored")
        rows.append(f'<tr data-category="{html.escape(s.category)}">{link}{cells}</tr>')
    return f'<table class="summary"><tr>{head}</tr>{"".join(rows)}</table>'


def _figure(section: Section, plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    plot_id = f"{section.category}-{plot.key}"
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(plot.title)}" '
        f'data-plot="{html.escape(plot_id)}"><figcaption>{html.escape(plot.title)} '
        f'(<a href="{html.escape(plot.file)}">{html.escape(plot.file)}</a>)</figcaption></figure>'
    )


def _finalists_section(section: Section) -> list[str]:
    """The confirmation: the verdict, the finalists' table and their seeds as points."""
    record = section.confirmation or {}
    head, _, *rows = finalists_table(record)
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    header = "".join(f"<th>{html.escape(h.strip())}</th>" for h in head.strip("|").split("|"))
    body = "".join(
        f'<tr data-finalist="{html.escape(r["name"])}">' + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for r, row in zip(record["finalists"], cells, strict=True)
    )
    return [
        "<h3>Finalists on fresh seeds</h3>",
        f'<p class="verdict" data-category="{html.escape(section.category)}"><b>Verdict:</b> {html.escape(record["line"])}</p>',
        f'<p class="note">Each finalist trained again with seeds {html.escape(str(record["seeds"]))}, which no search trial used; '
        "the winner has the best mean validation objective; held-out figures are shown, never used to choose.</p>",
        f'<table class="finalists">{header and f"<tr>{header}</tr>"}{body}</table>',
        *[_figure(section, p) for p in section.plots if p.key == "finalists"],
    ]


def render_html(view: ExperimentView, sections: list[Section]) -> str:
    """The page; each plot's ``file`` names its PNG beside it."""
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>glass-tune report: {html.escape(view.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>glass-tune report: {html.escape(view.name)}</h1>",
        (
            f'<p class="note">Experiment {html.escape(str(view.location))}; objective {html.escape(view.objective.metric)} '
            f"({html.escape(view.objective.mode)}); searched: {html.escape(', '.join(view.searched) or 'nothing')}; "
            f"glass-tune {__version__}. Figures are the selected epoch's (best_*); held-out figures come from "
            "images that played no part in selection.</p>"
        ),
    ]
    if len(sections) > 1:
        parts += ["<h2>Summary</h2>", _summary_table(view, sections)]
    for s in sections:
        parts.append(f'<section id="cat-{html.escape(s.category)}"><h2>{html.escape(s.category)}</h2>')
        best = f"best trial {s.best.trial_id}" if s.best else "no trial reported a score"
        parts.append(f'<p class="note">{len(s.trials)} trials; {html.escape(best)}.</p>')
        if s.confirmation is not None:
            parts += _finalists_section(s)
        parts += [_figure(s, p) for p in s.plots if not p.key.startswith(BEST_TRIAL_PREFIX) and p.key != "finalists"]
        parts += ["<h3>Trials</h3>", _trial_table(view, s)]
        parts += [f'<p class="note">{html.escape(n)}</p>' for n in s.notes]
        best_plots = [p for p in s.plots if p.key.startswith(BEST_TRIAL_PREFIX)]
        if best_plots:
            parts.append("<h3>Exported model</h3>")
            parts += [_figure(s, p) for p in best_plots]
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

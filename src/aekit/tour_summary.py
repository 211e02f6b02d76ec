"""The tour's summary as people read it: ``summary.md`` (a Markdown table to paste) and the index
``report.html`` linking every experiment's report, with each check's outcome."""

from __future__ import annotations

import html
from typing import Any

from aekit.tables import LABELS


def _figure_lines(entry: dict[str, Any]) -> list[str]:
    """One line per key figure: the model's value, then each reference's."""
    return [
        f"{LABELS.get(name, name)}: "
        + ", ".join(f"{col} {val:.4g}" for col, val in values.items() if val is not None)
        for name, values in entry["figures"].items()
    ]


def all_checks(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (key, check) for key, entry in summary["experiments"].items() for check in entry["checks"]
    ]


def summary_markdown(summary: dict[str, Any]) -> str:
    """The key figures as a Markdown table, ready to paste into a README or an issue."""
    lines = [
        (
            f"aekit tour, {summary['preset']} preset on {summary['dataset']} (documents: "
            f"{summary['documents']}); "
            f"{summary['machine']}; {summary['seconds'] / 60:.0f} min in all."
        ),
        "",
        "| experiment | model | key figures (model, then references) | time |",
        "|---|---|---|---:|",
    ]
    for entry in summary["experiments"].values():
        figures = "<br>".join(_figure_lines(entry)).replace("|", "\\|")
        lines.append(
            f"| {entry['title']} | `{entry['model']}` | {figures} | {entry['seconds']:.0f} s |"
        )
    lines += ["", "Checks:", ""]
    lines += [
        f"- {check['outcome']}: {key}: {check['claim']} ({check['detail']})"
        for key, check in all_checks(summary)
    ]
    return "\n".join(lines + [""])


MARKS = {"ok": "&#10004;", "FAILED": "&#10008;"}


def index_html(summary: dict[str, Any]) -> str:
    rows = []
    for key, entry in summary["experiments"].items():
        figures = "<br>".join(html.escape(line) for line in _figure_lines(entry))
        rows.append(
            f'<tr><td><a href="{html.escape(key)}/report.html">{html.escape(entry["title"])}</a>'
            f'<br><span class="note">{html.escape(entry["why"])}</span></td>'
            f"<td>{html.escape(entry['model'])} on {html.escape(entry['dataset'])}</td>"
            f"<td>{figures}</td><td>{entry['seconds']:.0f} s</td></tr>"
        )
    check_rows = "".join(
        f"<li>{MARKS.get(check['outcome'], '&ndash;')} {html.escape(check['outcome'])}: "
        f"{html.escape(key)}: {html.escape(check['claim'])} <span "
        f'class="note">({html.escape(check["detail"])})</span></li>'
        for key, check in all_checks(summary)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>aekit tour</title><style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem;
       color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 0.4rem 0.6rem; vertical-align: top; }}
th {{ background: #f3f3f3; }} .note {{ color: #555; font-size: 0.9rem; }}
</style></head><body>
<h1>aekit tour ({html.escape(summary["preset"])} preset, {html.escape(summary["dataset"])})</h1>
<p class="note">{html.escape(summary["machine"])}; {summary["seconds"]:.0f} s in all.
Each experiment links to its own report (metrics with baselines, every picture, the config).</p>
<h2>Checks</h2><ul>{check_rows}</ul>
<h2>Experiments</h2>
<table><tr><th>experiment</th><th>model</th><th>key figures (model and references)</th>
<th>time</th></tr>
{"".join(rows)}</table>
</body></html>
"""

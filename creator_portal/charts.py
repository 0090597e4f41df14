"""Charts for portal pages: pygal drawn on the server as inline SVG, no JavaScript.

Each `Chart` carries its data as a table (`columns`, `rows`) that the page shows next to
the drawing (`portal/_dash_chart.html`): exact figures for everyone, and the chart's
content for screen readers. Labels such as campaign titles are user input: pygal escapes
the text it writes into the SVG, and the scripts it adds (tooltips, its config as JSON)
are removed, so the SVG is inert markup and safe to include as is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from core.money import Money

# the portal's colours (storefront/static/app.css): red, ink, then calmer companions
STYLE = Style(
    background="transparent", plot_background="transparent", foreground="#222", foreground_strong="#222", foreground_subtle="#eee",
    opacity=".9", opacity_hover="1", transition="0s", colors=("#d91a3c", "#1f1f29", "#e8a33d", "#1a7f37", "#8a8a99"),
    font_family='-apple-system, BlinkMacSystemFont, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif',
    label_font_size=12, major_label_font_size=12, legend_font_size=13, title_font_size=15, value_font_size=12, tooltip_font_size=12,
)
KINDS: dict[str, Any] = {"bar": pygal.Bar, "stacked": pygal.StackedBar, "hbar": pygal.HorizontalBar, "line": pygal.Line}


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup
    label_title: str  # what the labels are: month, day, campaign
    columns: list[str]  # the series' names
    rows: list[tuple[str, list[str]]]  # (label, formatted value per series); labels with only zeros left out


def money_format(currency: str) -> Callable[[Any], str]:
    """Values are integer minor units; pygal hands back numbers (axis ticks may be floats)."""
    return lambda value: Money(round(value or 0), currency).format()


def _inert(title: str) -> Callable[[Any], Any]:
    def strip(root: Any) -> Any:
        for parent in list(root.iter()):
            for child in list(parent):
                if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                    parent.remove(child)
        root.set("role", "img")
        root.set("aria-label", title)  # the serializer escapes attributes
        return root

    return strip


def chart(
    kind: str, title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *, fmt: Callable[[Any], str] = str,
    label_title: str = "", major_every: int | None = None, height: int = 300,
) -> Chart:
    """A bar, stacked bar, horizontal bar or line chart of integer series over `labels`."""
    options: dict[str, Any] = {
        "style": STYLE, "js": [], "disable_xml_declaration": True, "width": 720, "height": height, "value_formatter": fmt,
        "legend_at_bottom": True, "legend_at_bottom_columns": max(len(series), 1), "truncate_label": 28, "truncate_legend": 28,
        "show_y_guides": True, "margin": 8, "spacing": 12, "print_values": False,
    }
    if major_every and len(labels) > major_every:
        options.update(x_labels_major_every=major_every, show_minor_x_labels=False)
    if kind == "line":
        options.update(dots_size=3, fill=False)
    drawing = KINDS[kind](**options)
    drawing.title = title
    drawing.x_labels = list(labels)
    for name, values in series:
        drawing.add(name, list(values))
    drawing.add_xml_filter(_inert(title))
    rows = [(label, [fmt(values[i]) for _name, values in series]) for i, label in enumerate(labels) if any(values[i] for _name, values in series)]
    return Chart(title, Markup(drawing.render(is_unicode=True)), label_title, [name for name, _ in series], rows)


def last_days(n: int, now: datetime) -> list[str]:
    """The `n` days up to `now`, as the 'YYYY-MM-DD' periods the reports group by."""
    return [(now - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(n - 1, -1, -1)]


def last_months(n: int, now: datetime) -> list[str]:
    """The `n` months up to `now`, as 'YYYY-MM'."""
    year, month = now.year, now.month
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def start_of(period: str) -> datetime:
    """The first instant (UTC) of a 'YYYY-MM-DD' or 'YYYY-MM' period."""
    parts = [int(p) for p in period.split("-")]
    return datetime(parts[0], parts[1], parts[2] if len(parts) > 2 else 1, tzinfo=UTC)

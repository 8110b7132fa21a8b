"""Server-rendered SVG bar chart of daily revenue for the console's reports page: no script, no library.

Amounts stay integers (minor units) until they are placed on the page; labels use ``Money``'s formatting.
"""

from datetime import date
from xml.sax.saxutils import escape

from markupsafe import Markup

from models.money import Money

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 80, 10, 16, 28  # margins for the axis labels


def revenue_chart(days: list[tuple[date, int]], currency: str) -> Markup:
    """One bar per day (revenue in minor units), with the top value and the first and last dates labelled."""
    top = max((amount for _, amount in days), default=0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bars = []
    for index, (day, amount) in enumerate(days):
        height = round(plot_h * amount / top, 1) if top else 0
        x, y = round(LEFT + index * slot + slot * 0.1, 1), round(TOP + plot_h - height, 1)
        label = escape(f"{day.isoformat()}: {Money(amount=amount, currency=currency)}")
        bars.append(f'<rect x="{x}" y="{y}" width="{round(slot * 0.8, 1)}" height="{height}" fill="#3b6fb6">'
                    f'<title>{label}</title></rect>')
    axis_y = TOP + plot_h
    labels = [f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{escape(str(Money(amount=top, currency=currency)))}</text>',
              f'<text x="{LEFT - 6}" y="{axis_y}" text-anchor="end">0</text>']
    if days:
        labels.append(f'<text x="{LEFT}" y="{HEIGHT - 8}">{days[0][0].isoformat()}</text>')
        labels.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{days[-1][0].isoformat()}</text>')
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="Daily revenue in {escape(currency)}">'
        f'<title>Daily revenue in {escape(currency)}</title>'
        f'<line x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}" stroke="#9aa3af"/>'
        + "".join(bars) + "".join(labels) + "</svg>")

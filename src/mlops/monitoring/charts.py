"""Small inline SVG charts for self-contained HTML reports (no JavaScript, no CDN).

Why hand-written SVG: a report must open offline, years later, from one file; a plotting
library would either need a CDN script or embed megabytes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

W, H, PAD = 520, 180, 34
REF, CUR = "#4c78a8", "#f58518"
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d"]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _frame(body: str, title: str, legend: Sequence[tuple[str, str]]) -> str:
    items = "".join(
        f'<rect x="{PAD + 110 * i}" y="4" width="10" height="10" fill="{color}"/>'
        f'<text x="{PAD + 14 + 110 * i}" y="13" font-size="11">{_esc(name)}</text>'
        for i, (name, color) in enumerate(legend)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{_esc(title)}">'
        f"<title>{_esc(title)}</title>{items}"
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 8}" y2="{H - PAD}" stroke="#999"/>'
        f'<line x1="{PAD}" y1="22" x2="{PAD}" y2="{H - PAD}" stroke="#999"/>{body}</svg>'
    )


def paired_bars(
    labels: Sequence[str], reference: Sequence[float], current: Sequence[float], title: str
) -> str:
    """Reference and current shares side by side per bin or category."""
    n = max(len(labels), 1)
    top = max([*reference, *current, 1e-12])
    slot = (W - PAD - 8) / n
    bar = max(slot / 2 - 1, 0.5)
    body = []
    for i, (r, c) in enumerate(zip(reference, current, strict=True)):
        x = PAD + i * slot
        for j, (value, color) in enumerate(((r, REF), (c, CUR))):
            height = (H - PAD - 22) * value / top
            body.append(
                f'<rect x="{x + j * bar:.1f}" y="{H - PAD - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{color}"><title>{_esc(labels[i])}: '
                f"{value:.3%}</title></rect>"
            )
    step = max(1, n // 6)
    for i in range(0, n, step):
        body.append(
            f'<text x="{PAD + i * slot:.1f}" y="{H - PAD + 13}" font-size="9">'
            f"{_esc(labels[i][:12])}</text>"
        )
    body.append(f'<text x="2" y="30" font-size="9">{top:.0%}</text>')
    return _frame("".join(body), title, [("reference", REF), ("current", CUR)])


def lines(
    times: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    threshold: float | None = None,
) -> str:
    """One line per series over window end times (epoch seconds)."""
    values = [v for s in series.values() for v in s if v is not None]
    if not times or not values:
        return _frame('<text x="60" y="90" font-size="12">no windows yet</text>', title, [])
    lo = min([*values, threshold if threshold is not None else min(values), 0.0])
    hi = max([*values, threshold if threshold is not None else max(values)])
    hi = hi if hi > lo else lo + 1.0
    t0, t1 = min(times), max(times)
    span = t1 - t0 or 1.0

    def px(t: float, v: float) -> tuple[float, float]:
        return (
            PAD + (W - PAD - 8) * (t - t0) / span,
            H - PAD - (H - PAD - 22) * (v - lo) / (hi - lo),
        )

    body = []
    if threshold is not None:
        _, y = px(t0, threshold)
        body.append(
            f'<line x1="{PAD}" y1="{y:.1f}" x2="{W - 8}" y2="{y:.1f}" stroke="#e45756" '
            f'stroke-dasharray="4 3"><title>threshold {threshold:g}</title></line>'
        )
    legend = []
    for k, (name, points) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        legend.append((name, color))
        coords = [px(t, v) for t, v in zip(times, points, strict=True) if v is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        body.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{color}"/>' for x, y in coords
        )
    body.append(f'<text x="2" y="30" font-size="9">{hi:.3g}</text>')
    body.append(f'<text x="2" y="{H - PAD}" font-size="9">{lo:.3g}</text>')
    for t in (t0, t1):
        x, _ = px(t, lo)
        stamp = datetime.fromtimestamp(t, tz=UTC).strftime("%m-%d %H:%M")
        body.append(
            f'<text x="{max(x - 30, PAD):.1f}" y="{H - PAD + 13}" font-size="9">{stamp}</text>'
        )
    return _frame("".join(body), title, legend[:4])

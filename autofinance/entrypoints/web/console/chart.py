"""Geometry of a plain SVG bar chart, computed here so the template only draws: no script and
no external library on the metrics page."""
from __future__ import annotations

from typing import Any


def bar_chart(counts: list[tuple[str, int]], width: int = 560, height: int = 160) -> dict[str, Any]:
    """One bar per label, its count above it; at most 20 captions, so 90 days stay readable."""
    top, pad = max((count for _, count in counts), default=0) or 1, 16
    slot = width / max(len(counts), 1)
    every = -(-len(counts) // 20) or 1
    bars = []
    for index, (label, count) in enumerate(counts):
        bar_height = round(height * count / top, 1)
        y = round(pad + height - bar_height, 1)
        bars.append({"label": label, "count": count, "captioned": index % every == 0,
                     "x": round(index * slot + slot * 0.15, 1),
                     "y": y, "width": round(slot * 0.7, 1), "height": bar_height,
                     "center": round((index + 0.5) * slot, 1), "value_y": round(y - 4, 1)})
    return {"width": width, "total_height": pad + height + 24, "axis_y": pad + height,
            "label_y": pad + height + 16, "bars": bars}

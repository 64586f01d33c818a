"""The chart: share of adoptions by model origin per week, as a PNG (the email) or as the
series a browser draws (the explorer's ``/api/origin-share``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from adoptwatch.digest.content import Digest, OriginWeek

# Also the colours of the origin badges in the HTML.
ORIGIN_COLORS = {"CN": "#c0392b", "US": "#2e6da4", "other": "#8c8c8c"}


ORIGINS = (("cn", "CN"), ("us", "US"), ("other", "other"))


def origin_share_series(weeks: Sequence[OriginWeek]) -> dict[str, Any]:
    """The chart's numbers (``Digest.origin_share``): per week the share (%) of adoptions
    by origin, stacked, with the counts behind them as a table."""
    return {
        "title": "Share of adoptions by model origin, per ISO week",
        "labels": [o.week for o in weeks],
        "unit": "%",
        "stacked": True,
        "series": [
            {
                "label": name,
                "type": "bar",
                "color": ORIGIN_COLORS[name],
                "values": [round(o.share(getattr(o, key)) * 100, 1) for o in weeks],
            }
            for key, name in ORIGINS
        ],
        "table": {
            "columns": ["week", "CN", "US", "other", "adoptions"],
            "rows": [[o.week, o.cn, o.us, o.other, o.total] for o in weeks],
        },
    }


def render_chart(digest: Digest) -> bytes | None:
    """A PNG: share of adoptions by model origin per week (None when there is no data)."""
    if not digest.has_history:
        return None
    # The object API with the Agg canvas: no pyplot global state, safe in worker threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weeks = digest.origin_share
    labels = [
        o.week[-3:] if i and o.week[:4] == weeks[i - 1].week[:4] else f"{o.week[-3:]}\n{o.week[:4]}"
        for i, o in enumerate(weeks)
    ]
    xs = list(range(len(weeks)))
    fig = Figure(figsize=(6.0, 2.9), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.075, 0.2, 0.78, 0.64))
    bottom = [0.0] * len(weeks)
    for key, name in ORIGINS:
        values = [o.share(getattr(o, key)) * 100 for o in weeks]
        ax.bar(xs, values, bottom=bottom, width=0.72, color=ORIGIN_COLORS[name], label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for x, o in zip(xs, weeks, strict=True):
        # Empty weeks get a faint baseline so they read as "none", not as missing data.
        if not o.total:
            ax.plot([x - 0.36, x + 0.36], [0.6, 0.6], color="#c8c8c8", linewidth=1.2)
        ax.text(
            x,
            102,
            str(o.total) if o.total else "0",
            ha="center",
            va="bottom",
            fontsize=8,
            color="#444444" if o.total else "#aaaaaa",
        )
    ax.set_ylim(0, 112)
    ax.set_yticks([0, 50, 100], labels=["0%", "50%", "100%"], fontsize=8)
    ax.set_xticks(xs, labels=labels, fontsize=8)
    ax.get_xticklabels()[-1].set_fontweight("bold")  # the digest's own week
    ax.set_xlim(-0.6, len(weeks) - 0.4)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#888888")
    ax.tick_params(length=0)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.text(
        0.075,
        0.93,
        "Share of adoptions by model origin, per ISO week",
        fontsize=10,
        color="#222222",
        weight="bold",
    )
    fig.text(
        0.075, 0.87, "Numbers above the bars: adoptions that week", fontsize=8, color="#666666"
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 0.95), frameon=False, fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=200, metadata={"Software": None})
    return buffer.getvalue()

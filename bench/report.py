"""The benchmark's markdown report and latency chart (plain SVG: no plotting library needed)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from bench.load import LevelResult

TARGET_P50_MS, TARGET_P99_MS, TARGET_THROUGHPUT_RATIO, TARGET_RASA_MB = 25, 150, 2.0, 1024


@dataclass
class Run:
    name: str
    levels: list[LevelResult]
    peak_memory_mb: dict[str, float]  # service -> peak resident memory (VmHWM)
    notes: str = ""
    # service -> proportional memory (Pss) at the end of the run: shared pages counted once
    proportional_memory_mb: dict[str, float] = field(default_factory=dict)


def _ms(value: float) -> str:
    return f"{value:.0f} ms"


def _ratio(ours: float, stock: float) -> str:
    return f"{ours / stock:.2f}×" if stock else "–"


def markdown(ours: Run, stock: Run, settings: str) -> str:
    lines = ["# Benchmark: Meridian assistant vs. the stock `rasa init` assistant", "",
             settings, "",
             "| concurrent customers | metric | Meridian | stock | Meridian ÷ stock |",
             "|---|---|---|---|---|"]
    for mine, theirs in zip(ours.levels, stock.levels):
        rows = [("p50 latency", mine.median, theirs.median, _ms),
                ("p95 latency", mine.percentile(95), theirs.percentile(95), _ms),
                ("p99 latency", mine.percentile(99), theirs.percentile(99), _ms),
                ("messages / s", mine.per_second, theirs.per_second, lambda v: f"{v:.1f}"),
                ("Rasa CPU per message", mine.cpu_ms_per_message("rasa"),
                 theirs.cpu_ms_per_message("rasa"), lambda v: f"{v:.1f} ms")]
        for label, a, b, show in rows:
            lines.append(f"| {mine.concurrency} | {label} | {show(a)} | {show(b)} | {_ratio(a, b)} |")
        lines.append(f"| {mine.concurrency} | messages (errors, unanswered) | {mine.messages} "
                     f"({mine.errors}, {mine.silent}) | {theirs.messages} ({theirs.errors}, "
                     f"{theirs.silent}) | |")
        lines.append(f"| {mine.concurrency} | conversations (failed) | {mine.conversations} "
                     f"({mine.failed_conversations}) | {theirs.conversations} "
                     f"({theirs.failed_conversations}) | |")
    lines += ["", "| peak memory (VmHWM) | Meridian | stock |", "|---|---|---|"]
    for service in sorted(set(ours.peak_memory_mb) | set(stock.peak_memory_mb)):
        mine_mb, stock_mb = ours.peak_memory_mb.get(service), stock.peak_memory_mb.get(service)
        lines.append(f"| {service} | {f'{mine_mb:.0f} MB' if mine_mb else '–'} | "
                     f"{f'{stock_mb:.0f} MB' if stock_mb else '–'} |")
    rasa_pss = ours.proportional_memory_mb.get("rasa", 0)
    lines += ["", f"Meridian's Rasa, every worker together: {rasa_pss:.0f} MB at the end of the run "
                  "with the pages the workers share counted once (Pss); the peaks above add up "
                  "each process's own, shared pages counted in each."]
    lines += ["", "## Targets", ""] + [f"- {line}" for line in targets(ours, stock)]
    lines += ["", "![latency](latency.svg)", "", ours.notes, "", stock.notes, ""]
    return "\n".join(lines)


def targets(ours: Run, stock: Run) -> list[str]:
    """The targets, for `make run`'s default configuration: one customer's latency, the
    throughput at the busiest level against stock's, and Rasa's memory with the pages its
    workers share counted once."""
    one, busiest = ours.levels[0], ours.levels[-1]
    stock_busiest = stock.levels[-1]
    rasa_mb = ours.proportional_memory_mb.get("rasa", 0)
    ratio = busiest.per_second / stock_busiest.per_second if stock_busiest.per_second else 0

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"
    return [
        f"one at a time: p50 {one.median:.0f} ms (≤ {TARGET_P50_MS}), p99 {one.percentile(99):.0f} ms "
        f"(≤ {TARGET_P99_MS}): {verdict(one.median <= TARGET_P50_MS and one.percentile(99) <= TARGET_P99_MS)}",
        f"{busiest.concurrency} at once: {busiest.per_second:.1f} msg/s = {ratio:.2f}× stock "
        f"(≥ {TARGET_THROUGHPUT_RATIO}×), {busiest.errors} errors (0): "
        f"{verdict(ratio >= TARGET_THROUGHPUT_RATIO and busiest.errors == 0)}",
        f"Rasa memory, shared pages once: {rasa_mb:.0f} MB (< {TARGET_RASA_MB} MB): "
        f"{verdict(0 < rasa_mb < TARGET_RASA_MB)}",
    ]


def latency_svg(ours: Run, stock: Run) -> str:
    """Grouped bars: p50 / p95 / p99 per concurrency level, Meridian beside stock."""
    series = [(run, p) for run in (ours, stock) for p in (50, 95, 99)]
    colours = {("Meridian", 50): "#1f5fa8", ("Meridian", 95): "#5b8fd0", ("Meridian", 99): "#a9c4e8",
               ("stock", 50): "#b0561d", ("stock", 95): "#d98a55", ("stock", 99): "#efc2a0"}
    values = [[(level.median if p == 50 else level.percentile(p)) for level in run.levels]
              for run, p in series]
    top = max((v for row in values for v in row), default=1) or 1
    width, height, left, bottom, group_gap = 760, 320, 60, 40, 30
    groups = len(ours.levels)
    group_width = (width - left - group_gap * groups) / groups
    bar = group_width / len(series)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 70}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="14" font-size="13">Latency per message (ms) by concurrent customers</text>',
             f'<line x1="{left}" y1="{height}" x2="{width}" y2="{height}" stroke="#333"/>']
    for g, level in enumerate(ours.levels):
        x0 = left + g * (group_width + group_gap) + group_gap / 2
        for s, (run, p) in enumerate(series):
            value = values[s][g]
            h = (height - bottom) * value / top
            x = x0 + s * bar
            parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                         f'fill="{colours[(run.name, p)]}"><title>{escape(run.name)} p{p}: {value:.0f} ms'
                         f'</title></rect>')
            parts.append(f'<text x="{x + bar / 2 - 1:.1f}" y="{height - h - 3:.1f}" text-anchor="middle" '
                         f'font-size="9">{value:.0f}</text>')
        parts.append(f'<text x="{x0 + group_width / 2:.1f}" y="{height + 16}" text-anchor="middle">'
                     f'{level.concurrency} at once</text>')
    for s, (run, p) in enumerate(series):
        x = left + s * 115
        parts.append(f'<rect x="{x}" y="{height + 32}" width="12" height="12" fill="{colours[(run.name, p)]}"/>'
                     f'<text x="{x + 16}" y="{height + 42}">{escape(run.name)} p{p}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def write(out: Path, ours: Run, stock: Run, settings: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.svg").write_text(latency_svg(ours, stock))
    report = out / "report.md"
    report.write_text(markdown(ours, stock, settings))
    return report

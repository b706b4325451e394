"""What a load run leaves in its folder besides Locust's HTML/CSV: verdicts.json, verdicts.md and
a picture of accepted vs rejected requests per second (the tier's limit made visible)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .plan import WINDOW_S, Plan
from .records import History
from .verdicts import Verdict


def write(folder: Path, plan: Plan, history: History, verdicts: list[Verdict], seconds: float,
          workers: int) -> None:
    data = {"tier": plan.tier, "kind": plan.kind, "shape": plan.shape, "speed": plan.speed,
            "workers": workers, "seconds": round(seconds, 1), "requests": len(history.requests),
            "passed": all(v.passed for v in verdicts), "verdicts": [v.to_json() for v in verdicts]}
    (folder / "verdicts.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [f"# Load run: {plan.tier} tier, shape {plan.shape}",
             "", f"{len(history.requests)} requests in {seconds:.1f} s "
             f"(time-lapse x{plan.speed}, {'master + %d workers' % workers if workers else 'one process'})", ""]
    for v in verdicts:
        lines.append(f"- **{v.label}** {v.name} ({v.behaviour}): {v.summary}")
        lines += [f"  - {p}" for p in v.problems]
    (folder / "verdicts.md").write_text("\n".join(lines) + "\n")
    picture(folder / f"rate-{plan.tier}.png", plan, history)


def picture(path: Path, plan: Plan, history: History) -> None:
    """Accepted and rejected requests per wall second, with the twin's window edges."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = history.clock.t0
    accepted, rejected, other = Counter(), Counter(), Counter()
    for r in history.requests:
        second = int(r.start - t0)
        if r.rejected:
            rejected[second] += 1
        elif r.counted and r.status < 400 or r.status == 202:
            accepted[second] += 1
        else:
            other[second] += 1
    last = max([*accepted, *rejected, *other, 0]) + 1
    xs = list(range(last))
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    ax.stackplot(xs, [accepted[x] for x in xs], [rejected[x] for x in xs], [other[x] for x in xs],
                 labels=["accepted", "rejected (429)", "other / errors"],
                 colors=["#2e7d32", "#c62828", "#9e9e9e"], step="post")
    if plan.kind == "windows":
        wall_window = WINDOW_S / plan.speed
        edge = wall_window
        while edge < last:
            ax.axvline(edge, color="black", linewidth=0.6, linestyle=":")
            edge += wall_window
        per_second = plan.limits.per_minute / wall_window
        ax.axhline(per_second, color="#1565c0", linewidth=1, linestyle="--",
                   label=f"limit {plan.limits.per_minute}/min spread evenly")
    ax.set_xlabel(f"wall seconds since start (twin time x{plan.speed}; dotted: window edges)")
    ax.set_ylabel("requests per second")
    ax.set_title(f"{plan.tier} tier ({plan.limits.per_minute}/min, {plan.limits.per_hour}/h): {plan.shape}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

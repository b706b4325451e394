"""The timeline picture of one run: latency and status of every probe request over time, each
fault window shaded, detection and recovery marked."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from .journal import Journal  # noqa: E402

STATUS_STYLE = {  # status class -> (colour, marker, label)
    "2xx": ("tab:green", "o", "2xx"),
    "4xx": ("tab:orange", "s", "4xx"),
    "5xx": ("tab:red", "^", "5xx"),
    "none": ("black", "x", "no answer"),
}


def _status_class(status: int | None) -> str:
    if status is None:
        return "none"
    return "2xx" if status < 400 else "4xx" if status < 500 else "5xx"


def draw(journal: Journal, path: Path) -> Path:
    samples = journal.samples
    fig, (lat_ax, status_ax) = plt.subplots(2, 1, figsize=(11, 6), sharex=True,
                                            gridspec_kw={"height_ratios": [3, 1]})
    for cls, (colour, marker, label) in STATUS_STYLE.items():
        pts = [s for s in samples if _status_class(s["status"]) == cls]
        if pts:
            lat_ax.scatter([s["t"] for s in pts], [max(s["ms"], 0.5) for s in pts], s=12, c=colour,
                           marker=marker, label=f"{label} ({len(pts)})", alpha=0.75)
    series = sorted({s["series"] for s in samples})
    for i, name in enumerate(series):
        pts = [s for s in samples if s["series"] == name]
        status_ax.scatter([s["t"] for s in pts], [i] * len(pts), s=10,
                          c=[STATUS_STYLE[_status_class(s["status"])][0] for s in pts])
    status_ax.set_yticks(range(len(series)), series)
    status_ax.set_ylim(-0.5, max(len(series) - 0.5, 0.5))
    for ax in (lat_ax, status_ax):
        for n, fault in enumerate(journal.faults):
            start, end = fault.get("injected_at"), fault.get("healed_at")
            if start is None:
                continue
            ax.axvspan(start, end if end is not None else start + 1, color="tab:purple", alpha=0.15,
                       label=(f"fault: {fault['kind']} {fault.get('type') or ''} on {fault['proxy']}"
                              if ax is lat_ax else None))
    marks = [(m, journal.faults) for m in journal.measurements if m.value is not None]
    for m, faults in marks:
        ref = _reference(m.name, faults)
        if ref is not None:
            lat_ax.axvline(ref + m.value, linestyle="--", linewidth=1,
                           color="tab:blue" if "detect" in m.name else "tab:green",
                           label=f"{m.name} {m.value:.1f} {m.unit}")
    lat_ax.set_yscale("log")
    lat_ax.set_ylabel("latency (ms, log)")
    status_ax.set_xlabel("seconds since the experiment started")
    lat_ax.set_title(f"{journal.experiment['name']}: {journal.status}"
                     + ("" if journal.passed else " (did not pass)"))
    lat_ax.legend(loc="upper left", fontsize=7, ncol=2)
    lat_ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _reference(name: str, faults: list[dict]) -> float | None:
    """Detection counts from an injection, recovery from a heal: of the fault the measure names in
    brackets ("time_to_detect[timeout toxic]" -> the timeout toxic), else of the first injection
    and the last heal."""
    if not faults:
        return None
    words = set(name[name.index("[") + 1:-1].split()) if "[" in name and name.endswith("]") else set()
    own = [f for f in faults if words and words <= {f.get("kind"), f.get("type")}]
    if "detect" in name:
        return (own or faults)[0].get("injected_at")
    if "recover" in name:
        return (own or faults)[-1].get("healed_at")
    return None

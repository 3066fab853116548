#!/usr/bin/env python3
"""Charts and a Markdown table from the peer suite's results.json (bench/server/run.sh --json, via bench/run-peers.sh).

    python3 bench/peers/plot.py [RESULTS.json] [--cmd 'the command that produced it'] [--no-copy]

Without an argument it takes the newest bench/server/build/results/*/results.json. Writes
  docs/img/peers-rps.png   requests/s by test and server (grouped bars, medians, min–max whiskers)
  docs/img/peers-cpu.png   server CPU µs per request (user + sys stacked), fasthttp's level as a dashed line
  bench/results/peers.md   the machine, versions, commands and the median table
  bench/results/peers.json a copy of the results it was drawn from (unless --no-copy)
  docs/performance_report.md  the part between its `<!-- peers:begin -->` and `<!-- peers:end -->` lines: the
                           summary tables and the "how to read these numbers" that this run's figures support
"""
import glob
import json
import os
import shutil
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMG = os.path.join(ROOT, "docs", "img")
RES = os.path.join(ROOT, "bench", "results")

TEST_LABEL = {
    "plaintext": "/plaintext\n-c64",
    "json": "/json\n-c64",
    "user": "/user/:id\n-c64",
    "pipelined": "/plaintext pipelined\n16 deep, -c256",
}
TEST_TITLE = {
    "plaintext": "GET /plaintext, keep-alive, -c64",
    "json": "GET /json (serialized per request), -c64",
    "user": "GET /user/12345 (path parameter), -c64",
    "pipelined": "GET /plaintext, 16 requests per write, -c256",
}
# Shockwave and Bolt in warm colours, Go in blues (fasthttp darkest), C servers in greys, Swift peers in greens.
COLOR = {
    "shockwave": "#d62728", "bolt": "#ff7f0e", "c-ref": "#e377c2", "shockwave-notune": "#f7b6d2", "floor": "#c7c7c7",
    "fasthttp": "#08306b", "nethttp": "#c6dbef", "gin": "#6baed6", "echo": "#2171b5",
    "nginx": "#525252", "h2o": "#969696",
    "hummingbird": "#31a354", "vapor": "#74c476", "nio": "#a1d99b",
}
LABEL = {"nethttp": "net/http", "nio": "SwiftNIO"}


def med(s, k):
    v = s.get(k)
    return v["median"] if v else None


def panels(data, tests, servers, key, ylabel, title, subtitle, stacked=None, fmt=None):
    """One panel per test (each with its own y scale: pipelined is an order of magnitude apart), one bar per server
    that ran it (median, min–max whisker), fasthttp's median as a dashed line."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(1, len(tests), figsize=(3.4 * len(tests) + 1, 5.4), dpi=110, squeeze=False)
    for ax, t in zip(axes[0], tests):
        rows = data["summary"].get(t, {})
        present = [s for s in servers if s in rows and rows[s].get(key)]
        xs = list(range(len(present)))
        ys = [rows[s][key]["median"] for s in present]
        err = [[rows[s][key]["median"] - rows[s][key]["min"] for s in present],
               [rows[s][key]["max"] - rows[s][key]["median"] for s in present]]
        colors = [COLOR.get(s, "#888888") for s in present]
        if stacked:  # user at the bottom (solid), sys on top (hatched); the whisker is the total's min–max
            us = [med(rows[s], stacked) or 0 for s in present]
            ax.bar(xs, us, 0.8, color=colors, edgecolor="black", linewidth=0.3)
            ax.bar(xs, [a - b for a, b in zip(ys, us)], 0.8, bottom=us, color=colors, alpha=0.5, hatch="//",
                   edgecolor="black", linewidth=0.3)
            ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor="black", elinewidth=0.7, capsize=2)
        else:
            ax.bar(xs, ys, 0.8, color=colors, edgecolor="black", linewidth=0.3, yerr=err,
                   error_kw={"elinewidth": 0.7, "capsize": 2})
        if "fasthttp" in present:
            ax.axhline(rows["fasthttp"][key]["median"], color=COLOR["fasthttp"], linestyle="--", linewidth=1)
        ax.set_xticks(xs)
        ax.set_xticklabels([LABEL.get(s, s) for s in present], rotation=60, ha="right", fontsize=8)
        ax.set_title(TEST_LABEL.get(t, t).replace("\n", ", "), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if fmt:
            ax.yaxis.set_major_formatter(fmt)
    axes[0][0].set_ylabel(ylabel)
    used = [s for s in servers if any(s in data["summary"].get(t, {}) for t in tests)]
    handles = [Patch(facecolor=COLOR.get(s, "#888888"), edgecolor="black", linewidth=0.3, label=LABEL.get(s, s))
               for s in used]
    fig.legend(handles=handles, ncol=min(11, len(used)), fontsize=8, loc="lower center", frameon=False)
    fig.suptitle(title + "\n" + subtitle, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plots(data, servers, tests, subtitle):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    os.makedirs(IMG, exist_ok=True)
    fig = panels(data, tests, servers, "rps", "requests/s (median; whiskers: min–max over rounds)",
                 "HTTP servers on one core: requests/s (higher is better; dashed line: fasthttp)", subtitle,
                 fmt=FuncFormatter(lambda v, _: f"{v / 1000:,.0f}k"))
    p1 = os.path.join(IMG, "peers-rps.png")
    fig.savefig(p1)
    plt.close(fig)
    fig = panels(data, tests, servers, "cpu_us_per_req", "server CPU µs per request (user solid, sys hatched)",
                 "HTTP servers on one core: CPU time per request (lower is better; dashed line: fasthttp)", subtitle,
                 stacked="cpu_user_us_per_req")
    p2 = os.path.join(IMG, "peers-cpu.png")
    fig.savefig(p2)
    plt.close(fig)
    return p1, p2


def fmt_lat(us):
    if us is None or us < 0:
        return "?"
    return f"{us:.0f} µs" if us < 1000 else f"{us / 1000:.2f} ms"


def table(data, servers, tests, cmd, src):
    m = data["meta"]
    out = ["# HTTP server peers: Shockwave and Bolt next to Go, C and Swift servers", ""]
    out.append("Generated by `bench/peers/plot.py` from `bench/results/peers.json`; do not edit by hand.")
    out.append("")
    out.append(f"- command: `{cmd}`" if cmd else f"- results: `{os.path.relpath(src, ROOT)}`")
    for k in ("date", "commit", "cpu", "settings", "load"):
        if k in m:
            out.append(f"- {k}: {m[k]}")
    for v in m.get("versions", []):
        out.append(f"- versions: {v}")
    for v in m.get("skipped", []):
        out.append(f"- skipped: {v}")
    other = sorted(r["core_other_pct"] for r in data["runs"])
    if other:
        busy = sum(o > 10 for o in other)
        out.append(f"- noise: core 0 busy with other work (`core other`) median {other[len(other) // 2]:.0f}% of a run; "
                   f"{busy} of {len(other)} runs above 10% (a quiet machine is near 0%: trust CPU µs/req over req/s then)")
    for v in m.get("wrk", []):
        out.append(f"- wrk: `{v}`")
    out.append("- servers (each pinned to one core with taskset; wrk on the other):")
    for s in servers:
        c = data["commands"].get(s, "?").split("   [")[0].replace(ROOT + "/", "")
        out.append(f"  - `{s}`: `{c}`")
    out.append("")
    out.append("Medians over the rounds; req/s with min–max; *vs fasthttp* is the median of the per-round ratios to "
               "fasthttp in the same round and test (req/s: above 1 is faster; CPU: below 1 is cheaper). CPU µs/req "
               "is the server's user + sys time over the requests wrk counted; peak RSS is VmHWM during the run.")
    out.append("")
    out.append("![requests/s](../../docs/img/peers-rps.png)")
    out.append("![CPU per request](../../docs/img/peers-cpu.png)")
    out.append("")
    for t in tests:
        rows = data["summary"].get(t, {})
        out.append(f"## {TEST_TITLE.get(t, t)}")
        out.append("")
        out.append("| server | req/s | min–max | vs fasthttp | CPU µs/req | user | sys | CPU vs fasthttp | p99 "
                   "| peak RSS MiB |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        ordered = sorted((s for s in servers if s in rows), key=lambda s: -rows[s]["rps"]["median"])
        for s in ordered:
            r = rows[s]
            rv, cv = med(r, "rps_vs_fasthttp"), med(r, "cpu_vs_fasthttp")
            warn = " ⚠" if r.get("errors") else ""
            out.append(
                f"| {LABEL.get(s, s)}{warn} | {r['rps']['median']:,.0f} | {r['rps']['min']:,.0f}–{r['rps']['max']:,.0f} "
                f"| {f'{rv:.2f}×' if rv else '–'} | {med(r, 'cpu_us_per_req'):.2f} | {med(r, 'cpu_user_us_per_req'):.2f} "
                f"| {med(r, 'cpu_sys_us_per_req'):.2f} | {f'{cv:.2f}×' if cv else '–'} | {fmt_lat(med(r, 'p99_us'))} "
                f"| {med(r, 'peak_rss_mib'):.1f} |"
            )
        errs = [f"{s}: {rows[s]['errors']} errors" for s in ordered if rows[s].get("errors")]
        if errs:
            out.append("")
            out.append("⚠ socket errors or non-2xx responses: " + "; ".join(errs))
        out.append("")
    return "\n".join(out)


def bound_by(r):
    """Which core limited a run: the server's, the load generator's, or neither (both below 90%)."""
    srv, gen = med(r, "server_cpu_pct") or 0, med(r, "wrk_cpu_pct") or 0
    if gen >= 90 and gen >= srv:
        return "wrk"
    if srv >= 90:
        return "server"
    return "neither"


def report_section(data, servers, tests, cmd):
    """The peer part of docs/performance_report.md: a compact table per test and how to read it."""
    m = data["meta"]
    out = ["<!-- peers:begin (generated by bench/peers/plot.py from bench/results/peers.json; do not edit) -->", ""]
    out.append(f"Command: `{cmd or 'bench/run-peers.sh'}` — {m.get('settings', '')}; commit {m.get('commit', '?')}, "
               f"{m.get('date', '')}, {m.get('cpu', '')}. Full tables (min–max, user/sys, p99, every command line "
               "and version): [bench/results/peers.md](../bench/results/peers.md); raw figures: bench/results/peers.json.")
    out.append("")
    for v in m.get("versions", []):
        out.append(f"- versions: {v}")
    for v in m.get("wrk", []):
        out.append(f"- wrk: `{v}`")
    out.append("")
    out.append("![requests/s](img/peers-rps.png)")
    out.append("![CPU per request](img/peers-cpu.png)")
    out.append("")
    other = sorted(r["core_other_pct"] for r in data["runs"])
    if other:
        out.append(f"Noise: other processes took a median {other[len(other) // 2]:.0f}% of the server's core during a "
                   f"run ({sum(o > 10 for o in other)} of {len(other)} runs above 10%).")
        out.append("")
    for t in tests:
        rows = data["summary"].get(t, {})
        ordered = sorted((s for s in servers if s in rows), key=lambda s: med(rows[s], "cpu_us_per_req") or 1e9)
        out.append(f"**{TEST_TITLE.get(t, t)}** (ordered by CPU per request)")
        out.append("")
        out.append("| server | CPU µs/req | CPU vs fasthttp | req/s | req/s vs fasthttp | p99 | server core | wrk core |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s in ordered:
            r = rows[s]
            rv, cv = med(r, "rps_vs_fasthttp"), med(r, "cpu_vs_fasthttp")
            out.append(f"| {LABEL.get(s, s)} | {med(r, 'cpu_us_per_req'):.2f} | {f'{cv:.2f}×' if cv else '–'} "
                       f"| {r['rps']['median']:,.0f} | {f'{rv:.2f}×' if rv else '–'} | {fmt_lat(med(r, 'p99_us'))} "
                       f"| {med(r, 'server_cpu_pct') or 0:.0f}% | {med(r, 'wrk_cpu_pct') or 0:.0f}% |")
        out.append("")
    # How to read them: which runs the server's core limited, which the load generator's.
    out.append("### How to read these numbers")
    out.append("")
    out.append("Each server has one core (CPU 0) and wrk the other (CPU 1); the *server core* and *wrk core* columns "
               "are how busy each was. Where wrk's core is full, requests/s measure wrk, not the server: the "
               "servers that need less CPU per request then leave part of their core idle, and **CPU µs per "
               "request** is the figure that compares them. Where the server's core is full, requests/s is the "
               "server's own ceiling and the two figures agree. p99 at -c64 is mostly queueing behind the busier "
               "core. *vs fasthttp* is the median of the per-round ratios (each round runs every server back to "
               "back), so it can differ a little from the ratio of the medians.")
    out.append("")
    for t in tests:
        rows = data["summary"].get(t, {})
        by = {}
        for s in servers:
            if s in rows:
                by.setdefault(bound_by(rows[s]), []).append(LABEL.get(s, s))
        parts = []
        if by.get("wrk"):
            parts.append("wrk-bound (compare CPU/request): " + ", ".join(by["wrk"]))
        if by.get("server"):
            parts.append("server-bound (req/s is the server's ceiling): " + ", ".join(by["server"]))
        if by.get("neither"):
            parts.append("neither core full (latency- or scheduling-bound): " + ", ".join(by["neither"]))
        out.append(f"- {TEST_TITLE.get(t, t)}: " + "; ".join(parts) + ".")
    out.append("")
    out.append("<!-- peers:end -->")
    return "\n".join(out)


def update_report(section):
    path = os.path.join(ROOT, "docs", "performance_report.md")
    text = open(path).read()
    begin, end = text.find("<!-- peers:begin"), text.find("<!-- peers:end -->")
    if begin < 0 or end < 0:
        print("docs/performance_report.md has no peers:begin/peers:end markers; left alone", file=sys.stderr)
        return
    end += len("<!-- peers:end -->")
    with open(path, "w") as f:
        f.write(text[:begin] + section + text[end:])
    print("updated docs/performance_report.md (peer section)", file=sys.stderr)


def main(argv):
    cmd, copy = None, True
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--cmd":
            cmd = argv[i + 1]
            i += 2
            continue
        if argv[i] == "--no-copy":
            copy = False
        else:
            args.append(argv[i])
        i += 1
    if args:
        src = args[0]
    else:
        found = sorted(glob.glob(os.path.join(ROOT, "bench/server/build/results/*/results.json")), key=os.path.getmtime)
        if not found:
            sys.exit("no results.json found; run bench/run-peers.sh first")
        src = found[-1]
    data = json.load(open(src))
    servers, tests = data["servers"], data["tests"]
    os.makedirs(RES, exist_ok=True)
    if copy and os.path.abspath(src) != os.path.join(RES, "peers.json"):
        shutil.copyfile(src, os.path.join(RES, "peers.json"))
    m = data["meta"]
    subtitle = f"{m.get('cpu', '')}; {m.get('settings', '')}; commit {m.get('commit', '?')}"
    try:
        p1, p2 = plots(data, servers, tests, subtitle)
        print(f"wrote {os.path.relpath(p1, ROOT)}, {os.path.relpath(p2, ROOT)}", file=sys.stderr)
    except ImportError:
        print("matplotlib not found (pip install matplotlib); charts skipped", file=sys.stderr)
    md = os.path.join(RES, "peers.md")
    with open(md, "w") as f:
        f.write(table(data, servers, tests, cmd, src) + "\n")
    print(f"wrote {os.path.relpath(md, ROOT)}", file=sys.stderr)
    if copy:
        update_report(report_section(data, servers, tests, cmd))


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Markdown tables from bench/server/run.sh's raw.tsv (one row per measured wrk run) and meta.txt.

Every figure in a table is the median over the rounds, each column taken on its own (so `total` is the median of
the per-round totals, not the sum of the two medians before it)."""
import json
import statistics
import sys
from collections import defaultdict

TITLES = {
    "plaintext": "GET /plaintext, keep-alive, -c{conns}",
    "json": "GET /json (serialized per request), keep-alive, -c{conns}",
    "user": "GET /user/12345 (id taken from the path), keep-alive, -c{conns}",
    "pipelined": "GET /plaintext, {depth} requests per write, -c{pconns}",
}
ORDER = ["plaintext", "json", "user", "pipelined"]


def fmt_int(x):
    return f"{x:,.0f}"


def fmt_lat(us):
    if us < 0:
        return "?"
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 1e6:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1e6:.2f} s"


def fmt_ratio(x):
    return f"{x:.2f}×" if x is not None else "–"


def summarize(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}


def write_json(path, rows, order, meta, cmds, sizes):
    """results.json: every measured run, and per (test, server) the median and min–max over the rounds. Ratios to
    fasthttp are taken within a round (same round, same test), then summarized the same way."""
    base = {}  # (test, round) -> fasthttp's run
    for (t, s), runs in rows.items():
        if s == "fasthttp":
            for d in runs:
                base[(t, d["round"])] = d
    fields = {
        "rps": "rps",
        "p99_us": "p99",
        "p99_raw_us": "p99raw",
        "cpu_user_us_per_req": "user",
        "cpu_sys_us_per_req": "sys",
        "cpu_us_per_req": "total",
        "peak_rss_mib": "rss",
        "server_cpu_pct": "srv",
        "wrk_cpu_pct": "wrk",
        "core_other_pct": "other",
    }
    runs_out, summary = [], {}
    for t in ORDER:
        for s in order:
            if (t, s) not in rows:
                continue
            per = []
            for d in rows[(t, s)]:
                b = base.get((t, d["round"]))
                e = {"round": d["round"], "server": s, "test": t, "requests": d["requests"], "errors": d["errors"]}
                e.update({k: round(d[v], 4) for k, v in fields.items()})
                e["rps_vs_fasthttp"] = round(d["rps"] / b["rps"], 4) if b and b["rps"] else None
                e["cpu_vs_fasthttp"] = round(d["total"] / b["total"], 4) if b and b["total"] else None
                per.append(e)
            runs_out += per
            summary.setdefault(t, {})[s] = {
                "rounds": len(per),
                "errors": sum(e["errors"] for e in per),
                "bytes_per_response": int(sizes[(s, t)]) if (s, t) in sizes else None,
                **{k: summarize([e[k] for e in per]) for k in list(fields) + ["rps_vs_fasthttp", "cpu_vs_fasthttp"]},
            }
    out = {
        "schema": "shockwave-bench-peers/1",
        "meta": {k: (v if len(v) > 1 or k in ("versions", "wrk", "skipped") else v[0]) for k, v in meta.items()
                 if k not in ("cmd", "size")},
        "servers": order,
        "tests": [t for t in ORDER if t in summary],
        "commands": cmds,
        "summary": summary,
        "runs": runs_out,
    }
    with open(path, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main(raw_path, meta_path, json_path=None):
    meta = defaultdict(list)
    for line in open(meta_path):
        k, _, v = line.rstrip("\n").partition("\t")
        meta[k].append(v)
    settings = meta.get("settings", [""])[0]
    conns = pconns = depth = "?"
    for tok in settings.replace(";", " ").split():
        if tok.startswith("-c") and conns == "?":
            conns = tok[2:]
        elif tok.startswith("-c"):
            pconns = tok[2:]
    if " x " in settings:
        depth = settings.rsplit(" x ", 1)[1].split()[0]

    rows = defaultdict(list)  # (test, server) -> [dict]
    servers = []
    header = None
    for line in open(raw_path):
        f = line.rstrip("\n").split("\t")
        if header is None:
            header = f
            continue
        r = dict(zip(header, f))
        req = int(r["requests"]) or 1
        clk = int(r["clk_tck"])
        wall = float(r["wall_s"]) or 1
        u, s = int(r["utime_ticks"]), int(r["stime_ticks"])
        d = {
            "round": int(r["round"]),
            "requests": int(r["requests"]),
            "rps": float(r["rps"]),
            "p99": float(r["p99_us"]),
            "p99raw": float(r["p99_raw_us"]),
            "user": u * 1e6 / clk / req,
            "sys": s * 1e6 / clk / req,
            "total": (u + s) * 1e6 / clk / req,
            "rss": int(r["hwm_kb"]) / 1024,
            "srv": (u + s) / clk / wall * 100,
            "wrk": (float(r["wrk_user_s"]) + float(r["wrk_sys_s"])) / wall * 100,
            "other": max(0, int(r["core_other_ticks"])) / clk / wall * 100,
            "errors": int(r["errors"]),
        }
        rows[(r["test"], r["server"])].append(d)
        if r["server"] not in servers:
            servers.append(r["server"])

    cmds = {}
    for v in meta.get("cmd", []):
        s, _, c = v.partition("\t")
        cmds[s] = c
    order = [s for s in cmds if s in servers] + [s for s in servers if s not in cmds]
    sizes = {}
    for v in meta.get("size", []):
        s, t, n = v.split("\t")
        sizes[(s, t)] = n

    out = []
    out.append("## HTTP server peers: requests/s, p99, CPU per request, peak RSS\n")
    for k in ("date", "commit", "cpu", "settings", "load", "versions", "skipped"):
        for v in meta.get(k, []):
            out.append(f"- {k}: {v}")
    out.append("- servers (each started once; every thread and process pinned with taskset):")
    for s in order:
        out.append(f"  - `{s}`: `{cmds.get(s, '?')}`")
    for v in meta.get("wrk", []):
        out.append(f"- wrk: `{v}`")
    out.append("")

    for t in ORDER:
        present = [s for s in order if (t, s) in rows]
        if not present:
            continue
        n_rounds = max(len(rows[(t, s)]) for s in present)
        out.append(f"### {TITLES[t].format(conns=conns, pconns=pconns, depth=depth)}\n")
        out.append(
            "| server | req/s | vs fasthttp | spread | p99 | p99 raw | CPU µs/req user | sys | total | vs fasthttp "
            "| peak RSS MiB | server CPU | wrk CPU | core other |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        med = {s: {k: statistics.median(d[k] for d in rows[(t, s)]) for k in rows[(t, s)][0] if k != "round"}
               for s in present}
        base = med.get("fasthttp")
        notes = []
        for s in present:
            m = med[s]
            rps_all = [d["rps"] for d in rows[(t, s)]]
            spread = (max(rps_all) - min(rps_all)) / m["rps"] * 100 if m["rps"] and len(rps_all) > 1 else None
            errs = sum(d["errors"] for d in rows[(t, s)])
            name = f"{s} ⚠" if errs else s
            if errs:
                notes.append(f"⚠ {s}: {errs} socket errors or non-2xx responses over {len(rows[(t, s)])} runs")
            out.append(
                "| "
                + " | ".join(
                    [
                        name,
                        fmt_int(m["rps"]),
                        fmt_ratio(m["rps"] / base["rps"]) if base and base["rps"] else "–",
                        f"±{spread / 2:.1f}%" if spread is not None else "–",
                        fmt_lat(m["p99"]),
                        fmt_lat(m["p99raw"]),
                        f"{m['user']:.2f}",
                        f"{m['sys']:.2f}",
                        f"{m['total']:.2f}",
                        fmt_ratio(m["total"] / base["total"]) if base and base["total"] else "–",
                        f"{m['rss']:.1f}",
                        f"{m['srv']:.0f}%",
                        f"{m['wrk']:.0f}%",
                        f"{m['other']:.0f}%",
                    ]
                )
                + " |"
            )
        out.append("")
        out.append(
            f"Medians of {n_rounds} round(s). Bytes per response: "
            + ", ".join(f"{s} {sizes.get((s, t), '?')}" for s in present)
            + ". "
            + " ".join(notes)
        )
        out.append("")
    print("\n".join(out))
    if json_path:
        write_json(json_path, rows, order, meta, cmds, sizes)


if __name__ == "__main__":
    args = sys.argv[1:]
    jp = None
    if "--json" in args:
        i = args.index("--json")
        jp = args[i + 1]
        del args[i : i + 2]
    main(args[0], args[1], jp)

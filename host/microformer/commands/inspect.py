"""microformer inspect model.tflite: ops, sizes, MACs, arena, metadata, per-layer SQNR."""
from ..cliutil import positive_int, print_json, read_bytes


def add_parser(sub):
    p = sub.add_parser(
        "inspect", help="ops, parameters, MACs, arena bytes, metadata and per-layer SQNR",
        description="Describe an int8 .tflite model as the engine sees it. Refuses (exit 1) "
                    "when the engine lacks an op the model uses. Per-layer SQNR compares each "
                    "tensor the engine computes (int8) with a float32 run of the same graph.")
    p.add_argument("model", metavar="MODEL.tflite")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE.png", help="bar chart of per-layer SQNR")
    p.add_argument("--data", metavar="DATA",
                   help="probe SQNR with windows of DATA (default: random N(0,1) normalized windows)")
    p.add_argument("--probes", type=positive_int, default=32, help="probe windows (default 32)")
    p.add_argument("--no-sqnr", action="store_true", help="skip the per-layer SQNR")


def _fmt_int(v):
    return f"{v:,}"


def run(args):
    from .. import analysis

    buf = read_bytes(args.model)
    s = analysis.summarize(buf)
    meta = s["metadata"]
    rows, probe = None, None
    if not args.no_sqnr:
        x, probe = analysis.probe_windows(buf, meta, args.data, args.probes)
        rows = analysis.layer_sqnr(buf, x)
        if args.plot:
            analysis.plot_sqnr(rows, args.plot)
    if args.json:
        out = dict(s)
        out["sqnr"] = rows
        out["sqnr_probe"] = probe
        print_json(out)
        return 0
    print(f"{args.model}: {_fmt_int(s['bytes'])} bytes, {s['nodes']} nodes, "
          f"{_fmt_int(s['params'])} parameters ({_fmt_int(s['weight_bytes'])} bytes of constants), "
          f"{_fmt_int(s['macs'])} MACs per inference")
    print(f"engine arena: {_fmt_int(s['arena_bytes'])} bytes")
    for k in ("input", "output"):
        t = s[k]
        print(f"{k:6s} {t['dtype']} {tuple(t['shape'])} scale {t['scale']:.6g} zero point {t['zero_point']}"
              if t["scale"] is not None else f"{k:6s} {t['dtype']} {tuple(t['shape'])}")
    print("ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(s["op_counts"].items(), key=lambda kv: -kv[1])))
    print("float ops: " + (", ".join(s["float_ops"]) if s["float_ops"] else "none (fully int8)"))
    if meta:
        rate = f" @ {meta['sample_rate']:g} Hz" if meta.get("sample_rate") else ""
        print(f"metadata: labels {meta.get('labels')}; window {meta.get('window')}, hop {meta.get('hop')}"
              f"{rate}; channels {meta.get('channels')}")
        norm = meta.get("normalization") or {}
        if norm:
            print("  normalization mean " + ", ".join(f"{v:.4g}" for v in norm["mean"]) +
                  "; std " + ", ".join(f"{v:.4g}" for v in norm["std"]))
        if meta.get("metrics"):
            print("  metrics " + ", ".join(f"{k} {v}" for k, v in sorted(meta["metrics"].items())))
        if meta.get("quantization"):
            print("  quantization " + ", ".join(f"{k} {v}" for k, v in sorted(meta["quantization"].items())))
        if meta.get("created_at"):
            print(f"  created {meta['created_at']} by microformer {meta.get('microformer_version')}")
    else:
        print("metadata: none (no 'microformer' entry)")
    if rows is not None:
        print(f"per-layer SQNR, float vs int8 on the engine ({probe}):")
        print(f"  {'node':>4}  {'op':20s} {'shape':18s} {'SQNR dB':>8}")
        for r in rows:
            print(f"  {r['node']:4d}  {r['op']:20s} {str(tuple(r['shape'])):18s} {r['sqnr_db']:8.1f}")
        if args.plot:
            print(f"wrote {args.plot}")
    return 0

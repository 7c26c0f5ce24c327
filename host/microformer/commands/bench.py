"""microformer bench (--port P | --sim DIR) [--model N] [-n K] [--profile] [--json]: on-device speed.

Loads /models/N.tflite in the board's engine and times K invokes with the board's own clock
(time.ticks_us): latency p50/p99 in us, the exact arena, the free heap left after loading,
the model bytes. On a serial board the app is interrupted for the measurement and restarted
after it. On the emulated QEMU_M4 (-icount shift=0) 1 us is 1000 instructions, so its numbers
are instruction counts, identical on every run. In the simulator the engine runs on this
computer's CPU (CPython build), which says nothing about a board's speed.

--profile: where the time goes instead. The engine times every node of K invokes
(Model.profile) with the board's finest clock (ticks_cpu where the port has a cycle
counter, else ticks_us; nanoseconds in the simulator) and bench prints each op type's
share of the total and the costliest nodes. A fused attention chain is charged to the node
that runs it; the nodes it absorbed cost 0.
"""

from ..cliutil import positive_int, print_json
from ..errors import MicroformerError
from ..transport import DeviceError
from .push import add_target, model_name, target


def add_parser(sub):
    p = sub.add_parser(
        "bench", help="latency p50/p99, arena, heap and model bytes measured on the board",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    add_target(p)
    p.add_argument("--model", metavar="N",
                   help="model name on the board (default: the only one in /models)")
    p.add_argument("-n", "--invokes", type=positive_int, default=100, help="timed invokes (default 100)")
    p.add_argument("--no-restart", action="store_true",
                   help="leave the board at the REPL afterwards instead of restarting the app")
    p.add_argument("--profile", action="store_true",
                   help="per-op share of the invoke time and the costliest nodes, timed by the engine")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def pick_model(board, name):
    have = board.call("models", board.models_dir)
    names = sorted({n.rsplit(".tflite", 1)[0] for n, _ in have})
    if name is not None:
        fname = model_name(name)
        if fname[:-len(".tflite")] not in names:
            raise DeviceError(f"no model {fname} on the {board.describe()} (it has: "
                              f"{', '.join(names) or 'none'}); push it first")
        return fname
    if not names:
        raise DeviceError(f"no models on the {board.describe()} in {board.models_dir}; "
                          f"`microformer push MODEL.tflite` first")
    if len(names) > 1:
        raise MicroformerError(f"the {board.describe()} has {len(names)} models ({', '.join(names)}); "
                               f"choose one with --model")
    return names[0] + ".tflite"


def run_on_board(board, fname, fn, n, per_invoke_s):
    """onboard.<fn>(active model, n) on the board (bench or profile), with the model's
    state checked first; its result plus model, sha256 and target."""
    st = board.call("state", board.models_dir, fname)
    if st["active"] is None:
        raise DeviceError(f"{fname} on the {board.describe()} is unusable: "
                          f"{st['problem'] or 'no model file'}")
    # Loading and n invokes of a big model on a slow board take a while.
    res = board.call(fn, st["active"], n, timeout=60.0 + n * per_invoke_s)
    if "error" in res:
        raise DeviceError(f"{fn} on the {board.describe()}: {res['error']}")
    res["model"] = fname
    res["sha256"] = st["sha"]
    res["target"] = board.describe()
    return res


def bench(board, fname, n):
    res = run_on_board(board, fname, "bench", n, 2.0)
    res["heap_free"] = None if res["heap_free"] < 0 else res["heap_free"]
    res["heap_free_before"] = None if res["heap_free_before"] < 0 else res["heap_free_before"]
    res["slot"] = slot_reserve(res["model_bytes"], res["arena_bytes"])
    return res


def profile(board, fname, n):
    """onboard.profile on the board: per node [op, fused, ticks summed over n invokes]."""
    # Two clock reads per node and a result tuple per invoke: slower than bench's invokes.
    return run_on_board(board, fname, "profile", n, 4.0)


# How each clock's ticks read: the unit name, and the scale to microseconds (None: cycles).
UNITS = {"ns": ("us", 1e-3), "us": ("us", 1.0), "cpu": ("cpu ticks", None)}
FUSED = {1: "runs a fused chain", 2: "absorbed into a fused chain"}


def profile_table(res, top=5):
    """The lines `bench --profile` prints: one row per op type of the model (its nodes, its
    share of the total ticks, its ticks per invoke) by share, then the `top` costliest nodes."""
    nodes, n = res["nodes"], res["n"]
    unit, scale = UNITS.get(res["unit"], (res["unit"], 1.0))
    total = sum(t for _, _, t in nodes)

    def share(t):
        return f"{100.0 * t / total:5.1f} %" if total else "    - "

    def per_invoke(t):
        v = t / n * (scale or 1.0)
        return f"{v:,.1f} {unit}" if scale else f"{v:,.0f} {unit}"

    types = {}
    for op, fused, t in nodes:
        row = types.setdefault(op, [0, 0, 0, 0])  # nodes, ticks, chains run, absorbed
        row[0] += 1
        row[1] += t
        row[2] += fused == 1
        row[3] += fused == 2
    width = max([len("op type")] + [len(op) for op in types])
    lines = [f"  {'op type':<{width}}  nodes    share  per invoke"]
    for op, (count, t, chains, absorbed) in sorted(types.items(), key=lambda kv: (-kv[1][1], kv[0])):
        note = []
        if chains:
            note.append(f"{chains} {'runs a fused chain' if chains == 1 else 'run fused chains'}")
        if absorbed:
            note.append(f"{absorbed} absorbed into a fused chain")
        lines.append(f"  {op:<{width}}  {count:5d}  {share(t)}  {per_invoke(t):>10}"
                     + (f"  ({'; '.join(note)})" if note else ""))
    lines.append(f"  {'all':<{width}}  {len(nodes):5d}  {share(total)}  {per_invoke(total):>10}")
    ranked = sorted((i for i in range(len(nodes)) if nodes[i][1] != 2), key=lambda i: (-nodes[i][2], i))[:top]
    lines.append(f"  costliest nodes (of {len(nodes)}, in execution order from 0):")
    for i in ranked:
        op, fused, t = nodes[i]
        lines.append(f"    node {i:<4d} {op:<{width}}  {share(t)}  {per_invoke(t):>10}"
                     + (f"  ({FUSED[fused]})" if fused in FUSED else ""))
    return lines


def slot_reserve(model_bytes, arena_bytes):
    """What a uformer.Slot with default sizes reserves for this model (the memory contract,
    docs/architecture.md): buffers * max_bytes + (max_arena + tag) + swap headroom."""
    from uformer.slot import _TAG, SWAP_HEADROOM, budget, default_max_arena

    max_bytes = model_bytes + model_bytes // 2
    max_arena = default_max_arena(arena_bytes)
    return {"max_bytes": max_bytes, "max_arena": max_arena, "arena_tag": _TAG,
            "swap_headroom": SWAP_HEADROOM, "two_buffers": budget(max_bytes, max_arena, 2),
            "one_buffer": budget(max_bytes, max_arena, 1)}


def run(args):
    with target(args) as board:
        fname = pick_model(board, args.model)
        res = (profile if args.profile else bench)(board, fname, args.invokes)
        if board.kind == "serial" and not args.no_restart:
            board.restart()
    if args.json:
        print_json(res)
        return 0
    if args.profile:
        print(f"{fname} on the {res['target']} ({res['impl']}, {res['machine']}; engine {res['engine']}): "
              f"profile of {res['n']} invokes, {len(res['nodes'])} nodes")
        for line in profile_table(res):
            print(line)
        if res["unit"] == "us" and "mps2" in str(res["machine"]):
            print("  (emulated Cortex-M4 under qemu -icount shift=0: 1 us = 1000 instructions)")
        elif res["unit"] == "cpu":
            print("  (cpu ticks: the port's time.ticks_cpu counter, CPU cycles on most Cortex-M ports)")
        elif board.kind == "sim":
            print("  (simulator: the engine on this computer's CPU, not a board's speed)")
        return 0
    print(f"{fname} on the {res['target']} ({res['impl']}, {res['machine']}; engine {res['engine']}): "
          f"{res['n']} invokes")
    print(f"  latency p50 {res['p50_us']:,} us, p99 {res['p99_us']:,} us "
          f"(min {res['min_us']:,}, max {res['max_us']:,}, mean {res['mean_us']:,})")
    heap = (f"heap free {res['heap_free']:,} bytes after loading (was {res['heap_free_before']:,})"
            if res["heap_free"] is not None else "heap free n/a (CPython has no fixed heap)")
    print(f"  arena {res['arena_bytes']:,} bytes; model {res['model_bytes']:,} bytes; {heap}")
    s = res["slot"]
    print(f"  hot swap: a uformer.Slot with default sizes reserves at start 2 x {s['max_bytes']:,} "
          f"(max_bytes = 1.5 x model) + {s['max_arena']:,} (max_arena = 1.5 x arena) + "
          f"{s['arena_tag']} + {s['swap_headroom']:,} = {s['two_buffers']:,} bytes")
    print(f"    (one buffer: {s['one_buffer']:,}; buffers x max_bytes + max_arena + tag + swap "
          f"headroom, the Slot memory contract in docs/architecture.md)")
    if "mps2" in str(res["machine"]):
        print("  (emulated Cortex-M4 under qemu -icount shift=0: 1 us = 1000 instructions)")
    elif board.kind == "sim":
        print("  (simulator: the engine on this computer's CPU, not a board's speed)")
    return 0

"""microformer bench (--port P | --sim DIR) [--model N] [-n K] [--json]: on-device speed.

Loads /models/N.tflite in the board's engine and times K invokes with the board's own clock
(time.ticks_us): latency p50/p99 in us, the exact arena, the free heap left after loading,
the model bytes. On a serial board the app is interrupted for the measurement and restarted
after it. On the emulated QEMU_M4 (-icount shift=0) 1 us is 1000 instructions, so its numbers
are instruction counts, identical on every run. In the simulator the engine runs on this
computer's CPU (CPython build), which says nothing about a board's speed.
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


def bench(board, fname, n):
    st = board.call("state", board.models_dir, fname)
    if st["active"] is None:
        raise DeviceError(f"{fname} on the {board.describe()} is unusable: "
                          f"{st['problem'] or 'no model file'}")
    # Loading and n invokes of a big model on a slow board take a while.
    res = board.call("bench", st["active"], n, timeout=60.0 + n * 2.0)
    if "error" in res:
        raise DeviceError(f"bench on the {board.describe()}: {res['error']}")
    res["model"] = fname
    res["sha256"] = st["sha"]
    res["target"] = board.describe()
    res["heap_free"] = None if res["heap_free"] < 0 else res["heap_free"]
    res["heap_free_before"] = None if res["heap_free_before"] < 0 else res["heap_free_before"]
    res["slot"] = slot_reserve(res["model_bytes"], res["arena_bytes"])
    return res


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
        res = bench(board, fname, args.invokes)
        if board.kind == "serial" and not args.no_restart:
            board.restart()
    if args.json:
        print_json(res)
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

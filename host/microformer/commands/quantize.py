"""microformer quantize model.keras --calib DATA --out model.tflite: full-integer int8."""
import json

from ..cliutil import check_data, check_keras, check_out, positive_int, write_bytes
from ..errors import EngineUnavailable


def add_parser(sub):
    p = sub.add_parser(
        "quantize", help="convert a trained model to a full-integer int8 .tflite",
        description="Convert a .keras model from `microformer train` to a full-integer int8 "
                    ".tflite (int8 in/out, int8 weights per channel unless --per-tensor, int32 "
                    "biases), calibrated on training windows of DATA, with the 'microformer' "
                    "metadata inside. Prints float (TensorFlow) vs int8 (engine) accuracy on the "
                    "held-back split.")
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("--calib", required=True, metavar="DATA",
                   help="dataset to calibrate on (its training split) and to evaluate (held-back split)")
    p.add_argument("--out", default="model.tflite", help="output .tflite (default model.tflite)")
    p.add_argument("--per-tensor", action="store_true",
                   help="one weight scale per tensor instead of per output channel")
    p.add_argument("--calib-windows", type=positive_int, default=256,
                   help="training windows used for calibration (default 256)")


def run(args):
    check_out(args.out, ".tflite")
    check_keras(args.model)
    check_data(args.calib, "--calib")
    from .. import convert, engine, models, training
    from ..tflite import set_metadata

    model = models.load(args.model)
    info = models.model_info(model)
    ds, sp = training.load_splits(info, args.calib)
    import numpy as np

    # Validation examples are training data too once the model was refit on them.
    tflite = convert.quantize(model, np.concatenate([sp.x["train"], sp.x["val"]]),
                              per_tensor=args.per_tensor,
                              n_calib=args.calib_windows)
    part = "held-back" if len(sp.y["test"]) else "validation"
    xt, yt = (sp.x["test"], sp.y["test"]) if part == "held-back" else (sp.x["val"], sp.y["val"])
    f_acc = training.accuracy(model, xt, yt)
    doc = json.loads(convert.get_metadata(tflite).decode())
    doc["metrics"]["float_accuracy"] = round(f_acc, 4)
    doc["metrics"]["heldback_windows"] = int(len(yt))
    doc["metrics"]["compared_on"] = part
    q_acc = None
    try:
        probs = engine.Engine(tflite).predict(xt)
        q_acc = float(np.mean(np.argmax(probs, axis=1) == yt))
        doc["metrics"]["int8_accuracy"] = round(q_acc, 4)
    except EngineUnavailable as e:
        print(f"microformer: warning: int8 accuracy not measured: {e}")
    tflite = set_metadata(tflite, json.dumps(doc, sort_keys=True).encode())
    write_bytes(args.out, tflite)
    mode = "per-tensor" if args.per_tensor else "per-channel"
    print(f"wrote {args.out}: {len(tflite)} bytes, int8 ({mode} weights), "
          f"calibrated on {doc['quantization']['calibration_windows']} training examples")
    what = "recordings" if info.get("mode") == "events" else "windows"
    line = f"{part} split ({len(yt)} {what}): float {f_acc * 100:.2f}%"
    if q_acc is not None:
        line += f", int8 on the engine {q_acc * 100:.2f}% ({(q_acc - f_acc) * 100:+.2f} points)"
    print(line)
    return 0

"""Classification metrics, their text form, and confusion-matrix plots (matplotlib, Agg)."""
import numpy as np


def report(y, pred, labels):
    """{accuracy (0-1), n, per_class: {label: precision, recall, f1, support}, confusion,
    labels}. Rows of `confusion` are true labels, columns predictions."""
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    per = {}
    for i, lab in enumerate(labels):
        tp = int(cm[i, i])
        sup = int(cm[i].sum())
        pp = int(cm[:, i].sum())
        prec = tp / pp if pp else 0.0
        rec = tp / sup if sup else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
                    "support": sup}
    n = int(len(y))
    return {
        "accuracy": float(np.mean(y == pred)) if n else 0.0,
        "n": n,
        "per_class": per,
        "confusion": cm.tolist(),
        "labels": list(labels),
    }


def format_report(rep, title=None):
    labels = rep["labels"]
    w = max(8, max(len(s) for s in labels))
    lines = []
    if title:
        lines.append(title)
    unit = rep.get("unit", "windows")
    lines.append(f"accuracy {rep['accuracy'] * 100:.2f}% on {rep['n']} {unit}")
    lines.append(f"{'':{w}}  precision  recall     f1  support")
    for lab in labels:
        p = rep["per_class"][lab]
        lines.append(f"{lab:{w}}  {p['precision']:9.3f}  {p['recall']:6.3f}  {p['f1']:5.3f}  "
                     f"{p['support']:7d}")
    lines.append("confusion (rows: true, columns: predicted)")
    cw = max(5, max(len(s) for s in labels))
    lines.append(f"{'':{w}}  " + " ".join(f"{s[:cw]:>{cw}}" for s in labels))
    for lab, row in zip(labels, rep["confusion"]):
        lines.append(f"{lab:{w}}  " + " ".join(f"{v:>{cw}d}" for v in row))
    return "\n".join(lines)


def plot_confusion(rep, path, title="confusion matrix"):
    """Write a confusion-matrix heat map (counts, row-normalized colour) to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = rep["labels"]
    cm = np.asarray(rep["confusion"], dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k = len(labels)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * k, 1.0 + 0.6 * k), dpi=100)
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                    color="white" if frac[i, j] > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\naccuracy {rep['accuracy'] * 100:.1f}% (n={rep['n']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

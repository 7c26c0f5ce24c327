"""A synthetic 4-class IMU dataset (accelerometer m/s^2, gyroscope deg/s, 50 Hz).

Classes: idle, walk, stairs, run. Each recording is one "subject session" with its own
cadence, amplitude, device orientation, noise and bias, so a model has to generalise across
recordings (the split is by recording). It is made hard enough not to saturate:
- walk and stairs share most of their cadence and amplitude ranges; stairs differ by an
  alternating-step asymmetry and more pitch rotation, which are weak in some sessions;
- fast walks and slow runs overlap in cadence;
- idle sessions contain fidget bursts with walk-like energy;
- walk/stairs/run sessions contain pauses of standing still, which stay labelled with the
  session's activity (label noise a real logger has too).

    microformer.synth.generate("DATA", seed=0)            # DATA/<label>/rec_XX.csv
    microformer.synth.generate("s.csv", stream=True)       # one CSV with a label column
    microformer.synth.generate_events("TAKES", seed=0)     # gesture takes, one file each
"""
import os

import numpy as np

LABELS = ("idle", "walk", "stairs", "run")
CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
RATE = 50.0  # Hz
G = 9.81  # m/s^2


def _smooth_noise(rng, n, rate, corner_hz, scale):
    """Low-pass Gaussian noise: white noise through a moving average of ~1/corner_hz seconds."""
    k = max(1, int(rate / max(corner_hz, 1e-3)))
    w = rng.normal(0, 1, n + k)
    s = np.convolve(w, np.ones(k) / np.sqrt(k), mode="valid")[:n]
    return s * scale


def _rotation(rng, max_tilt_deg, max_yaw_deg):
    """Random mounting of the device: yaw up to +-max_yaw_deg, tilt up to max_tilt_deg."""
    yaw = np.deg2rad(rng.uniform(-max_yaw_deg, max_yaw_deg))
    tilt = np.deg2rad(rng.uniform(0, max_tilt_deg))
    axis_angle = rng.uniform(-np.pi, np.pi)
    cz, sz = np.cos(yaw), np.sin(yaw)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    ax = np.array([np.cos(axis_angle), np.sin(axis_angle), 0.0])
    k = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    rt = np.eye(3) + np.sin(tilt) * k + (1 - np.cos(tilt)) * (k @ k)
    return rt @ rz


def _session_params(label, rng):
    """Per-recording gait parameters; the ranges overlap between classes on purpose."""
    if label == "walk":
        return dict(f=rng.uniform(1.5, 2.1), av=rng.uniform(1.2, 3.0), asym=rng.uniform(0.0, 0.2),
                    pitch=rng.uniform(15, 45), impulse=1.0)
    if label == "stairs":
        return dict(f=rng.uniform(1.3, 1.9), av=rng.uniform(1.5, 3.5), asym=rng.uniform(0.15, 0.6),
                    pitch=rng.uniform(30, 70), impulse=1.0)
    if label == "run":
        return dict(f=rng.uniform(2.1, 3.0), av=rng.uniform(4.0, 9.0), asym=rng.uniform(0.0, 0.2),
                    pitch=rng.uniform(40, 110), impulse=rng.uniform(1.5, 2.5))
    return dict(f=0.0, av=0.0, asym=0.0, pitch=0.0, impulse=1.0)


def _activity(label, n, rate, rng):
    """Body-frame acceleration (n, 3) without gravity and angular rate (n, 3)."""
    t = np.arange(n) / rate
    acc = np.zeros((n, 3))
    gyr = np.zeros((n, 3))
    p = _session_params(label, rng)
    if label == "idle":
        # Postural sway plus fidget bursts (0.5-2 s of hand movement, walk-like energy).
        acc += np.stack([_smooth_noise(rng, n, rate, 0.5, 0.15) for _ in range(3)], 1)
        gyr += np.stack([_smooth_noise(rng, n, rate, 0.5, 3.0) for _ in range(3)], 1)
        n_bursts = rng.poisson(n / rate / 6.0)
        for _ in range(n_bursts):
            length = int(rng.uniform(0.5, 2.0) * rate)
            start = int(rng.integers(0, max(1, n - length)))
            env = np.hanning(length)[:, None]
            f = rng.uniform(1.0, 3.0)
            ph = rng.uniform(0, 2 * np.pi, 3)
            amp = rng.uniform(0.5, 2.5)
            tt = t[start:start + length, None]
            acc[start:start + length] += env * amp * np.sin(2 * np.pi * f * tt + ph)
            gyr[start:start + length] += env * amp * 15 * np.cos(2 * np.pi * f * tt + ph)
        return acc, gyr
    # Cadence drifts slowly (+-6 %) within a session; phase is its integral.
    f = p["f"] * (1 + _smooth_noise(rng, n, rate, 0.05, 0.03))
    phase = 2 * np.pi * np.cumsum(f) / rate
    # Vertical: step-periodic with impacts sharpened by `impulse`; alternating steps differ by asym.
    step = np.maximum(np.sin(phase), 0) ** p["impulse"] - 0.5 * np.maximum(-np.sin(phase), 0)
    stride = 1 + p["asym"] * np.sin(phase / 2)
    vert = step * stride
    # The body does not drift away: vertical acceleration averages to zero over a session.
    acc[:, 2] = p["av"] * (vert - vert.mean())
    acc[:, 0] = 0.4 * p["av"] * np.sin(phase + rng.uniform(0, np.pi))  # forward
    acc[:, 1] = 0.3 * p["av"] * np.sin(phase / 2 + rng.uniform(0, np.pi))  # lateral, per stride
    gyr[:, 1] = p["pitch"] * np.cos(phase + rng.uniform(0, np.pi)) * stride
    gyr[:, 2] = 0.4 * p["pitch"] * np.sin(phase / 2)
    gyr[:, 0] = 0.3 * p["pitch"] * np.sin(phase / 2 + rng.uniform(0, np.pi))
    # Pauses: the person stands still for 1-3 s now and then; the label stays the activity's.
    n_pauses = rng.poisson(n / rate / 40.0)
    for _ in range(n_pauses):
        length = int(rng.uniform(1.0, 3.0) * rate)
        start = int(rng.integers(0, max(1, n - length)))
        ramp = np.ones(length)
        r = min(10, length // 2)
        ramp[:r] = np.linspace(1, 0, r)
        ramp[-r:] = np.linspace(0, 1, r)
        ramp[r:-r] = 0
        acc[start:start + length] *= ramp[:, None]
        gyr[start:start + length] *= ramp[:, None]
    return acc, gyr


def recording(label, seconds, rate=RATE, rng=None):
    """One recording: (t (n,), samples (n, 6)) for `label`."""
    rng = rng or np.random.default_rng()
    n = int(seconds * rate)
    acc, gyr = _activity(label, n, rate, rng)
    # Worn the same way (say, on the belt) but never mounted exactly alike.
    r = _rotation(rng, 6.0, 10.0)
    wobble = np.stack([_smooth_noise(rng, n, rate, 0.2, 0.3) for _ in range(3)], 1)
    gravity = (r @ np.array([0, 0, G]))[None, :] + wobble
    a = acc @ r.T + gravity
    g = gyr @ r.T
    acc_noise = rng.uniform(0.03, 0.25)
    gyr_noise = rng.uniform(0.5, 3.0)
    a += rng.normal(0, acc_noise, a.shape) + rng.normal(0, 0.05, 3)
    g += rng.normal(0, gyr_noise, g.shape) + rng.normal(0, 0.5, 3)
    return np.arange(n) / rate, np.concatenate([a, g], axis=1).astype(np.float32)


def _write_csv(path, header, t, x, labels=None):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for i in range(len(t)):
            row = [f"{t[i]:.3f}"] + [f"{x[i, j]:.4f}" for j in range(x.shape[1])]
            if labels is not None:
                row.append(labels[i])
            f.write(",".join(row) + "\n")


def generate(out, recordings_per_label=40, seconds=(10.0, 20.0), rate=RATE, seed=0,
             labels=LABELS, stream=False):
    """Write the dataset; returns the path written (folder or stream CSV).

    Folder: out/<label>/rec_XX.csv with columns t, ax..gz. Stream: one CSV at `out` whose
    sessions follow each other in a seeded random order, with a `label` column.
    """
    rng = np.random.default_rng(seed)
    header = ["t"] + list(CHANNELS)
    sessions = []
    for lab in labels:
        for k in range(recordings_per_label):
            dur = rng.uniform(*seconds)
            _, x = recording(lab, dur, rate, np.random.default_rng([seed, labels.index(lab), k]))
            sessions.append((lab, k, x))
    if stream:
        order = rng.permutation(len(sessions))
        xs = [sessions[i][2] for i in order]
        labs = [sessions[i][0] for i in order for _ in range(len(sessions[i][2]))]
        x = np.concatenate(xs)
        d = os.path.dirname(out)
        if d:
            os.makedirs(d, exist_ok=True)
        _write_csv(out, header + ["label"], np.arange(len(x)) / rate, x, labs)
        return out
    for lab, k, x in sessions:
        d = os.path.join(out, lab)
        os.makedirs(d, exist_ok=True)
        _write_csv(os.path.join(d, f"rec_{k:02d}.csv"), header, np.arange(len(x)) / rate, x)
    return out


GESTURES = ("circle", "flick", "shake")


def gesture(label, n, rng):
    """One take of a hand gesture, n samples (n, 6): the shape of the motion is the label,
    the speed (n), amplitude, mounting and noise vary per take."""
    u = np.linspace(0.0, 1.0, n)
    amp = rng.uniform(0.7, 1.3)
    acc = np.zeros((n, 3))
    gyr = np.zeros((n, 3))
    if label == "circle":  # one loop in the x-y plane
        acc[:, 0] = 4.0 * amp * np.sin(2 * np.pi * u)
        acc[:, 1] = 4.0 * amp * np.cos(2 * np.pi * u) - 4.0 * amp
        gyr[:, 2] = 120.0 * amp * np.sin(np.pi * u)
    elif label == "flick":  # a sharp wrist rotation and back
        bump = np.exp(-((u - 0.35) / 0.08) ** 2) - 0.8 * np.exp(-((u - 0.65) / 0.1) ** 2)
        gyr[:, 0] = 300.0 * amp * bump
        acc[:, 2] = 3.0 * amp * bump
    else:  # shake: three fast oscillations along x
        acc[:, 0] = 6.0 * amp * np.sin(6 * np.pi * u) * np.sin(np.pi * u)
        gyr[:, 1] = 60.0 * amp * np.sin(6 * np.pi * u + 0.5)
    r = _rotation(rng, 10.0, 20.0)
    a = acc @ r.T + (r @ np.array([0, 0, G]))[None, :]
    g = gyr @ r.T
    a += rng.normal(0, rng.uniform(0.05, 0.4), a.shape)
    g += rng.normal(0, rng.uniform(1.0, 8.0), g.shape)
    return np.concatenate([a, g], axis=1).astype(np.float32)


def generate_events(out, takes_per_label=16, seconds=(0.6, 1.6), rate=RATE, seed=0,
                    labels=GESTURES):
    """Gesture takes: out/<label>/take_XX.csv, one short recording per take (t, ax..gz),
    each 0.6-1.6 s long: the event recordings `microformer train` takes one example from."""
    header = ["t"] + list(CHANNELS)
    for li, lab in enumerate(labels):
        d = os.path.join(out, lab)
        os.makedirs(d, exist_ok=True)
        for k in range(takes_per_label):
            rng = np.random.default_rng([seed, 100 + li, k])
            n = max(4, int(rng.uniform(*seconds) * rate))
            _write_csv(os.path.join(d, f"take_{k:02d}.csv"), header, np.arange(n) / rate,
                       gesture(lab, n, rng))
    return out


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m microformer.synth", description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--recordings", type=int, default=40, help="per label (default 40)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stream", action="store_true", help="one CSV with a label column")
    ap.add_argument("--events", action="store_true",
                    help="gesture takes (one short file per take) instead of activity sessions")
    a = ap.parse_args(argv)
    if a.events:
        print(generate_events(a.out, a.recordings, seed=a.seed))
    else:
        print(generate(a.out, a.recordings, seed=a.seed, stream=a.stream))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

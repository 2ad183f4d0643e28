#!/usr/bin/env python3
"""Per defect kind figures of an exported anomaly model, and an independent PRO.

Scores an anomaly model's ONNX export on one split of a YOLO-layout dataset with
masks (MagneticTile: images named `Kind_...`, good parts `Free_...`) with the
product's pre-processing — OpenCV-style bilinear resize (half-pixel centres, no
antialiasing) to the model's input, the map resized back the same way — so the
overall pixel AUROC matches `detective val`. Prints, for each defect kind, the
pixel and image AUROC of that kind's images against the good ones; with `--pro`,
the AUPRO up to 30 % false positives computed here, to check `val`'s `pro`.

    python3 scripts/anomaly-per-kind.py models/magnetictile-anomaly.onnx \
        ../shared/data/MagneticTile val [--pro] [--good Free]

Needs numpy, pillow, scipy, scikit-learn and onnxruntime (pip); not run in CI.
"""

import argparse
import os

import numpy as np
import onnxruntime as ort
from PIL import Image
from scipy import ndimage
from sklearn.metrics import roc_auc_score


def cv_resize(a, dw, dh):
    """Bilinear resize of an H×W×C array as OpenCV's INTER_LINEAR does it."""
    h, w = a.shape[:2]

    def taps(src, dst):
        f = np.maximum((np.arange(dst) + 0.5) * src / dst - 0.5, 0)
        i0 = np.minimum(f.astype(int), src - 1)
        i1 = np.minimum(i0 + 1, src - 1)
        return i0, i1, (f - i0).astype(np.float32)

    y0, y1, fy = taps(h, dh)
    x0, x1, fx = taps(w, dw)
    a = a.astype(np.float32)
    top = a[y0][:, x0] * (1 - fx)[None, :, None] + a[y0][:, x1] * fx[None, :, None]
    bottom = a[y1][:, x0] * (1 - fx)[None, :, None] + a[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def maps_of(model, root, split):
    """(kind, map, truth) of every image of the split, maps at native size."""
    s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    side = inp.shape[2]
    out = []
    for f in sorted(os.listdir(f"{root}/images/{split}")):
        im = np.asarray(Image.open(f"{root}/images/{split}/{f}").convert("RGB"))
        h, w = im.shape[:2]
        x = (np.round(cv_resize(im, side, side)).astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        m = s.run(None, {inp.name: x})[0][0, 0]
        m = cv_resize(m[:, :, None], w, h)[:, :, 0]
        mp = f"{root}/masks/{split}/{f.rsplit('.', 1)[0]}.png"
        t = (np.asarray(Image.open(mp).convert("L")) >= 128) if os.path.exists(mp) else np.zeros((h, w), bool)
        out.append((f.split("_")[0], m, t))
    return out


def aupro(items, limit=0.3, levels=301):
    """Area under the per-region-overlap curve up to `limit` false positives, / limit."""
    neg = np.sort(np.concatenate([m[~t] for _, m, t in items]))
    regions = []
    for _, m, t in items:
        lab, n = ndimage.label(t, structure=np.ones((3, 3)))
        regions += [np.sort(m[lab == k]) for k in range(1, n + 1)]
    fprs, pros = [], []
    for th in np.quantile(neg, 1 - np.linspace(0, limit, levels)):
        fprs.append(1 - np.searchsorted(neg, th, side="left") / len(neg))
        pros.append(np.mean([1 - np.searchsorted(r, th, side="left") / len(r) for r in regions]))
    fprs, pros = np.array(fprs), np.array(pros)
    order = np.argsort(fprs)
    keep = fprs[order] <= limit
    return np.trapezoid(pros[order][keep], fprs[order][keep]) / limit, len(regions)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("split")
    ap.add_argument("--good", default="Free", help="file-name prefix of the good parts")
    ap.add_argument("--pro", action="store_true", help="also the AUPRO up to 30 %% false positives")
    a = ap.parse_args()
    items = maps_of(a.model, a.data, a.split)
    good = [(m, t) for k, m, t in items if k == a.good]
    if not good:
        raise SystemExit(f"no good part (file names starting {a.good}_) in {a.split}")
    good_pixels = np.concatenate([m.ravel() for m, _ in good])
    good_peaks = [m.max() for m, _ in good]
    for kind in sorted({k for k, _, _ in items} - {a.good}):
        its = [(m, t) for k, m, t in items if k == kind]
        pix = np.concatenate([good_pixels] + [m.ravel() for m, _ in its])
        lab = np.concatenate([np.zeros(len(good_pixels))] + [t.ravel() for _, t in its])
        img = good_peaks + [m.max() for m, _ in its]
        img_lab = [0] * len(good_peaks) + [1] * len(its)
        print(f"{kind:10s} ({len(its)}): pixel AUROC {roc_auc_score(lab, pix):.3f}  "
              f"image AUROC {roc_auc_score(img_lab, img):.3f}")
    all_maps = np.concatenate([m.ravel() for _, m, _ in items])
    all_truth = np.concatenate([t.ravel() for _, _, t in items])
    print(f"all: pixel AUROC {roc_auc_score(all_truth, all_maps):.4f}")
    if a.pro:
        area, n = aupro(items)
        print(f"AUPRO to 30 % false positives: {area:.4f} over {n} defect regions")


if __name__ == "__main__":
    main()

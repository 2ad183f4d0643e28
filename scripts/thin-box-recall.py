#!/usr/bin/env python3
"""Recall of a detector split by box thickness: thin boxes against the rest.

Reads `detective predict --json` output (one JSON object per line) and the YOLO
label files of the same images, and counts a labelled box as found when a
prediction of its class with confidence >= --conf overlaps it with IoU >= --iou.
Boxes whose shorter side is under --thin pixels are counted apart: these are the
1-3 px scratches and hairline cracks that limit mAP50 on `detective synth` data.

    detective predict --model M --source data/synth/images/test --imgsz 640 --conf 0.25 --json > preds.jsonl
    python3 scripts/thin-box-recall.py preds.jsonl data/synth/labels/test

Standard library only.
"""

import argparse
import json
import struct
import sys
from pathlib import Path


def image_size(path):
    """Width and height of a PNG or JPEG, read from its header."""
    data = Path(path).read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        seg = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + seg
    raise ValueError(f"{path}: not a PNG or JPEG this script can size")


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", help="detective predict --json output")
    ap.add_argument("labels", help="folder of YOLO label files for the same images")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--thin", type=float, default=8.0, help="shorter side (px) under which a box is thin")
    args = ap.parse_args()

    counts = {"thin": [0, 0], "rest": [0, 0]}  # [boxes, found]
    for line in Path(args.predictions).read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        img = Path(rec["image"])
        label = Path(args.labels) / (img.stem + ".txt")
        if not label.is_file():
            continue
        w, h = image_size(img)
        dets = [d for d in rec["detections"] if d["confidence"] >= args.conf]
        for row in label.read_text().split("\n"):
            parts = row.split()
            if len(parts) != 5:
                continue
            cls = int(parts[0])
            cx, cy, bw, bh = (float(v) for v in parts[1:])
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
            kind = "thin" if min(bw * w, bh * h) < args.thin else "rest"
            counts[kind][0] += 1
            if any(d["class"] == cls and iou(d["bbox"], box) >= args.iou for d in dets):
                counts[kind][1] += 1
    for kind, side in (("rest", f">= {args.thin:g} px"), ("thin", f"< {args.thin:g} px")):
        n, found = counts[kind]
        pct = 100.0 * found / n if n else 0.0
        print(f"shorter side {side}: {found}/{n} found ({pct:.0f} %)")
    if sum(n for n, _ in counts.values()) == 0:
        sys.exit("no labelled boxes matched the predictions' images")


if __name__ == "__main__":
    main()

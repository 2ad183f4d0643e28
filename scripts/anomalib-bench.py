#!/usr/bin/env python3
"""anomalib beside our anomaly model on the same split, at the same budget.

Trains anomalib's DRAEM (no download: given an empty texture folder, its Perlin-shaped
anomalies are filled with noise instead of the DTD textures) on the defect-free train images of a dataset in our
layout (images/{split}, labels/{split}, masks/{split}) and tests it on the test
split, printing image AUROC, pixel AUROC and the wall-clock time. Our side:

    detective train --task anomaly --data DATA ... ; detective val --model RUN/weights/best.bpk --data DATA --split test

Usage (anomalib and torch are large: a venv outside the repository, not in CI):

    python3 -m venv ~/.cache/defect-detective/anomalib-venv
    ~/.cache/defect-detective/anomalib-venv/bin/pip install anomalib torch torchvision
    ~/.cache/defect-detective/anomalib-venv/bin/python scripts/anomalib-bench.py \\
        ../shared/data/MagneticTile --minutes 30 --imgsz 192

`--minutes` stops training at that wall-clock budget (Lightning's max_time), so
both sides get the same time on the same machine.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def stem_files(folder: Path) -> dict:
    return {p.stem: p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}


def layout(data: Path, out: Path) -> None:
    """Links our layout into anomalib's Folder one: train/good, test/good,
    test/defect and masks/defect (a defective test image's mask)."""
    for d in ["train/good", "test/good", "test/defect", "masks/defect"]:
        (out / d).mkdir(parents=True, exist_ok=True)
    for split, target in [("train", "train"), ("test", "test")]:
        labels = stem_files(data / "labels" / split)
        masks = stem_files(data / "masks" / split)
        for img in sorted((data / "images" / split).iterdir()):
            label = labels.get(img.stem)
            defective = label is not None and label.stat().st_size > 0
            if split == "train":
                if not defective:
                    os.symlink(img.resolve(), out / "train/good" / img.name)
                continue
            kind = "defect" if defective else "good"
            os.symlink(img.resolve(), out / target / kind / img.name)
            if defective and img.stem in masks:
                # anomalib finds a mask by the image's file name
                os.symlink(masks[img.stem].resolve(), out / "masks/defect" / (img.stem + masks[img.stem].suffix))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--imgsz", type=int, default=192)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import torch
    from anomalib.data import Folder
    from anomalib.engine import Engine
    from anomalib.models import Draem

    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        layout(a.data, root)
        counts = {d: len(list((root / d).iterdir())) for d in ["train/good", "test/good", "test/defect"]}
        print(f"anomalib Folder layout: {counts}", flush=True)
        dm = Folder(
            name="bench",
            root=root,
            normal_dir="train/good",
            normal_test_dir="test/good",
            abnormal_dir="test/defect",
            mask_dir="masks/defect",
            train_batch_size=a.batch,
            eval_batch_size=a.batch,
            num_workers=0,
            # the whole test split is tested (validation reuses it, for thresholds only)
            val_split_mode="same_as_test",
        )
        # an empty texture folder: anomalib's Perlin-shaped anomalies filled with
        # noise instead of DTD textures (a missing folder would be downloaded)
        textures = Path(tmp) / "no-textures"
        textures.mkdir()
        # the input size is the model's pre-processor's (its default is 256²)
        pre = Draem.configure_pre_processor(image_size=(a.imgsz, a.imgsz))
        model = Draem(dtd_dir=textures, visualizer=False, pre_processor=pre)
        engine = Engine(
            accelerator="cpu",
            devices=1,
            max_time={"minutes": a.minutes},
            max_epochs=10_000,
            logger=False,
            default_root_dir=tmp,
        )
        t0 = time.time()
        engine.fit(model=model, datamodule=dm)
        train_s = time.time() - t0
        results = engine.test(model=model, datamodule=dm)
    r = results[0] if results else {}
    print(
        f"anomalib {__import__('anomalib').__version__} DRAEM at {a.imgsz}², batch {a.batch}, "
        f"{a.threads} threads: trained {train_s / 60:.1f} min; test image AUROC {r.get('image_AUROC', float('nan')):.4f}, "
        f"pixel AUROC {r.get('pixel_AUROC', float('nan')):.4f}"
    )
    print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())

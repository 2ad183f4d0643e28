"""Roboflow's official Python client (PyPI `roboflow`) against the stand-in:
upload an image with a YOLO annotation (classes from a data.yaml labelmap),
a second one with a COCO annotation, generate a version, download it in
YOLOv8 format. Run by tests/official_client.rs with API_URL pointing at the
stand-in; prints one JSON line for the Rust side to check."""
import json
import os
import sys

import roboflow

work, key, ws, proj = sys.argv[1:5]
rf = roboflow.Roboflow(api_key=key)
assert rf.current_workspace == ws, rf.current_workspace
workspace = rf.workspace()
project = workspace.project(proj)
assert rf.project(f"{ws}/{proj}").id == f"{ws}/{proj}"

first = project.upload(
    image_path=os.path.join(work, "a.png"),
    annotation_path=os.path.join(work, "a.txt"),
    annotation_labelmap=os.path.join(work, "data.yaml"),
    split="train",
)
again = project.upload(image_path=os.path.join(work, "a.png"), split="train")
second = project.upload(
    image_path=os.path.join(work, "b.png"),
    annotation_path=os.path.join(work, "coco.json"),
    split="valid",
)
version = project.generate_version(settings={"augmentation": {}, "preprocessing": {}})
versions = [v.version for v in project.versions()]
dataset = project.version(version).download("yolov8", location=os.path.join(work, "download"))
print(json.dumps({
    "first": first, "again": again, "second": second, "version": version,
    "versions": versions, "location": dataset.location,
}, default=str))

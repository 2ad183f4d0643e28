"""Copies libonnxruntime.so out of the onnxruntime wheel in WHEEL_DIR into OUT_DIR.

Used by deploy/Dockerfile (the same steps as scripts/setup-onnxruntime.sh)."""
import glob
import os
import shutil
import sys
import zipfile

wheel_dir, out_dir = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(wheel_dir, "onnxruntime-*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one onnxruntime wheel in {wheel_dir}, found {wheels}")
os.makedirs(out_dir, exist_ok=True)
with zipfile.ZipFile(wheels[0]) as z:
    libs = [n for n in z.namelist() if os.path.basename(n).startswith("libonnxruntime.so")]
    if not libs:
        sys.exit("no libonnxruntime.so in " + wheels[0])
    with z.open(sorted(libs, key=len)[-1]) as f, open(os.path.join(out_dir, "libonnxruntime.so"), "wb") as out:
        shutil.copyfileobj(f, out)

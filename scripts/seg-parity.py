#!/usr/bin/env python3
"""Our segmenter's training path against the PyTorch reference on the same batch (issue 23).

    detective bench parity --data DATA --imgsz 128 --batch 8 --out DIR
    python3 scripts/seg-parity.py DIR            (needs torch, numpy, pillow)

DIR holds what `detective bench parity` wrote: the batch as our loader decodes and resizes it,
a fresh UNetTiny's weights, and our train-mode logits, BCE and Dice, every gradient, the
batch-norm running statistics after the step and the eval-mode logits. This script loads the
same weights into the reference network (scripts/unet_torch.py: PyTorch's Conv2d, BatchNorm2d,
ConvTranspose2d) and compares, on our pixels:
  - logits in train mode (batch statistics), the BCE and the soft Dice over the batch,
  - the gradient of every parameter,
  - the running statistics after one step (PyTorch keeps the unbiased variance there),
  - logits in eval mode with our running statistics;
and separately our decoded pixels and masks against the reference's own loading (PIL: RGB,
bilinear resize, mask resized nearest and > 127). Exits 1 when a network check is off by more
than its tolerance; the pixel comparison is reported, not judged (two resize filters)."""
import json, os, sys
import numpy as np, torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_torch import UNetTiny, loss_parts

torch.set_num_threads(2)
D = sys.argv[1]
meta = json.load(open(os.path.join(D, "parity.json")))
flat = np.fromfile(os.path.join(D, "tensors.f32"), dtype="<f4")
T = {t["name"]: flat[t["offset"]:t["offset"] + int(np.prod(t["shape"]))].reshape(t["shape"]) for t in meta["tensors"]}


def torch_name(ours):
    """Our parameter path -> the reference's state_dict name (None: no counterpart)."""
    p = ours.split(".")
    if p[0] in ("enc", "dec"):
        half = {"a": 0, "b": 3}[p[2]]
        if p[3] == "conv":
            return f"{p[0]}.{p[1]}.{half}.weight"
        leaf = {"gamma": "weight", "weight": "weight", "beta": "bias", "bias": "bias",
                "running_mean": "running_mean", "running_var": "running_var"}[p[4]]
        return f"{p[0]}.{p[1]}.{half + 1}.{leaf}"
    if p[0] == "up":
        return f"up.{p[1]}.{p[3]}"
    if p[0] == "head":
        return f"head.{p[1]}"
    return None


def to_torch(ours, v, grad=False):
    """Our tensor -> the reference's layout. An up-convolution is our 1x1 conv to 4c channels
    (channel c*4 + dy*2 + dx) + depth-to-space; PyTorch's ConvTranspose2d weight is
    [cin, c, 2, 2] and has one bias per c (ours has four, tied; its gradient is their sum)."""
    if ours.startswith("up.") and ours.endswith("weight"):
        c4, cin = v.shape[0], v.shape[1]
        return v.reshape(c4 // 4, 2, 2, cin).transpose(3, 0, 1, 2)
    if ours.startswith("up.") and ours.endswith("bias"):
        g = v.reshape(-1, 4)
        return g.sum(1) if grad else g[:, 0]
    return v


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


m = UNetTiny()
sd = m.state_dict()
params = [n[len("param:"):] for n in T if n.startswith("param:")]
for ours in params:
    name = torch_name(ours)
    assert name in sd, f"no reference tensor for {ours} ({name})"
    v = to_torch(ours, T["param:" + ours])
    assert tuple(sd[name].shape) == v.shape, f"{ours}: {v.shape} vs {tuple(sd[name].shape)}"
    sd[name] = torch.tensor(np.ascontiguousarray(v))
m.load_state_dict(sd)
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.momentum, mod.eps = meta["batch_norm_momentum"], meta["batch_norm_epsilon"]

x = torch.tensor(T["images"])
y = torch.tensor(T["masks"])
m.train()
logits = m(x)
bce, dice = loss_parts(logits, y)
(bce + dice).backward()

rows, failed = [], False


def check(what, err, tol):
    global failed
    ok = err <= tol
    failed |= not ok
    rows.append((what, err, tol, "ok" if ok else "OFF"))


check("logits, train mode (batch statistics)", rel(T["logits_train"], logits.detach().numpy()), 1e-4)
check("BCE", abs(meta["bce"] - bce.item()) / max(bce.item(), 1e-12), 1e-5)
check("soft Dice loss over the batch", abs(meta["dice"] - dice.item()) / max(dice.item(), 1e-12), 1e-5)
named = dict(m.named_parameters())
worst = ("", 0.0)
for ours in params:
    if "grad:" + ours not in T:
        continue
    name = torch_name(ours)
    g = named[name].grad.numpy()
    e = rel(to_torch(ours, T["grad:" + ours], grad=True), g)
    if e > worst[1]:
        worst = (ours, e)
check(f"gradients, {sum(1 for p in params if 'grad:' + p in T)} tensors (worst: {worst[0]})", worst[1], 1e-3)
buffers = dict(m.named_buffers())
mean_err = max(rel(T["after:" + o], buffers[torch_name(o)].numpy()) for o in params if o.endswith("running_mean"))
check("running means after the step", mean_err, 1e-4)
# PyTorch stores the unbiased variance (n / (n - 1)) in running_var; ours the biased one
var_err = max(rel(T["after:" + o], buffers[torch_name(o)].numpy()) for o in params if o.endswith("running_var"))
rows.append(("running variances after the step (PyTorch: unbiased)", var_err, None, "reported"))
with torch.no_grad():
    for o in params:
        if o.endswith("running_mean") or o.endswith("running_var"):
            buffers[torch_name(o)].copy_(torch.tensor(T["after:" + o]))
    m.eval()
    logits_eval = m(x)
check("logits, eval mode (our running statistics)", rel(T["logits_eval"], logits_eval.numpy()), 1e-4)
p_ours = 1 / (1 + np.exp(-T["logits_eval"]))
p_ref = torch.sigmoid(logits_eval).numpy()
check("pixels called defects at 0.5 (ours p >= t, reference p > t): differing",
      float(((p_ours >= 0.5) != (p_ref > 0.5)).sum()), 0)

# the reference's own loading of the same files
S = meta["imgsz"]
px_diff, mask_diff, defect_ours, defect_ref = [], 0, 0, 0
for k, path in enumerate(meta["images"]):
    img = Image.open(path).convert("RGB").resize((S, S), Image.BILINEAR)
    ref = np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0
    px_diff.append(np.abs(ref - T["images"][k]) * 255)
    mp = meta["masks"][k]
    mk = Image.open(mp).convert("L").resize((S, S), Image.NEAREST) if mp else Image.new("L", (S, S))
    ref_m = (np.asarray(mk) > 127).astype(np.float32)
    mask_diff += int((ref_m != T["masks"][k][0]).sum())
    defect_ours += int(T["masks"][k][0].sum())
    defect_ref += int(ref_m.sum())
px = np.concatenate([d.ravel() for d in px_diff])

print(f"parity batch: {len(meta['images'])} images of {meta['split']} at {S}², torch {torch.__version__}")
print(f"{'check':<78} {'max rel. error':>14} {'tolerance':>10}")
for what, err, tol, verdict in rows:
    print(f"{what:<78} {err:>14.2e} {'' if tol is None else f'{tol:.0e}':>10} {verdict}")
print(f"decoded pixels against PIL's bilinear resize: mean |diff| {px.mean():.2f} grey levels, "
      f"max {px.max():.0f}, {100 * (px > 8).mean():.1f} % of values off by more than 8")
print(f"masks against PIL's nearest resize: {mask_diff} of {len(meta['images']) * S * S} pixels differ; "
      f"defect pixels ours {defect_ours}, reference {defect_ref}")
sys.exit(1 if failed else 0)

#!/usr/bin/env python3
# PyTorch reference for the segmenter's training step: the same UNetTiny as
# crates/detective-ml/src/segment/model.rs (16-32-64-128, BN+ReLU, 2x2 pools,
# 2x2 stride-2 transposed convs, 1x1 head), BCE + soft Dice, AdamW, batch B at S².
#   python3 scripts/unet-torch-bench.py [S] [B] [STEPS]   (needs: pip install torch)
import os, sys, time, torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_torch import UNetTiny, loss_parts
S = int(sys.argv[1]) if len(sys.argv) > 1 else 320
B = int(sys.argv[2]) if len(sys.argv) > 2 else 8
N = int(sys.argv[3]) if len(sys.argv) > 3 else 5
torch.set_num_threads(2)
m = UNetTiny(); opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-4)
x = torch.rand(B, 3, S, S); y = (torch.rand(B, 1, S, S) > 0.9).float()
print("parameters", sum(p.numel() for p in m.parameters()))
t = []
for i in range(N + 1):
    t0 = time.perf_counter()
    bce, dice = loss_parts(m(x), y)
    loss = bce + dice
    opt.zero_grad(); loss.backward(); opt.step()
    if i: t.append(time.perf_counter() - t0)
t.sort(); med = t[len(t) // 2]
print(f"PyTorch {torch.__version__} UNetTiny step at {S}², batch {B}, 2 threads: median {med:.2f} s ({B / med:.1f} img/s)")

#!/usr/bin/env python3
# PyTorch reference for the segmenter's training step: the same UNetTiny as
# crates/detective-ml/src/segment/model.rs (16-32-64-128, BN+ReLU, 2x2 pools,
# 2x2 stride-2 transposed convs, 1x1 head), BCE + soft Dice, AdamW, batch B at S².
#   python3 scripts/unet-torch-bench.py [S] [B] [STEPS]   (needs: pip install torch)
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
S = int(sys.argv[1]) if len(sys.argv) > 1 else 320
B = int(sys.argv[2]) if len(sys.argv) > 2 else 8
N = int(sys.argv[3]) if len(sys.argv) > 3 else 5
torch.set_num_threads(2)
def dc(i, o): return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                                   nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
class UNetTiny(nn.Module):
    def __init__(s, ch=(16, 32, 64, 128)):
        super().__init__()
        s.enc = nn.ModuleList([dc(3 if i == 0 else ch[i - 1], c) for i, c in enumerate(ch)])
        s.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, 2) for i in reversed(range(3))])
        s.dec = nn.ModuleList([dc(2 * ch[i], ch[i]) for i in reversed(range(3))])
        s.head = nn.Conv2d(ch[0], 1, 1)
    def forward(s, x):
        skips = []
        for i, e in enumerate(s.enc):
            if i: x = F.max_pool2d(x, 2)
            x = e(x); skips.append(x)
        skips.pop()
        for u, d in zip(s.up, s.dec): x = d(torch.cat([skips.pop(), u(x)], 1))
        return s.head(x)
m = UNetTiny(); opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-4)
x = torch.rand(B, 3, S, S); y = (torch.rand(B, 1, S, S) > 0.9).float()
print("parameters", sum(p.numel() for p in m.parameters()))
t = []
for i in range(N + 1):
    t0 = time.perf_counter()
    logits = m(x); p = torch.sigmoid(logits)
    loss = F.binary_cross_entropy_with_logits(logits, y) + 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    opt.zero_grad(); loss.backward(); opt.step()
    if i: t.append(time.perf_counter() - t0)
t.sort(); med = t[len(t) // 2]
print(f"PyTorch {torch.__version__} UNetTiny step at {S}², batch {B}, 2 threads: median {med:.2f} s ({B / med:.1f} img/s)")

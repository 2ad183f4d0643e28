"""The PyTorch UNetTiny of the issue-23 reference (../shared/tools/unet_magnetictile_torch.py),
shared by scripts/unet-torch-bench.py and scripts/seg-parity.py: 16-32-64-128 channels,
two 3x3 conv + BN + ReLU per level, 2x2 max-pools, 2x2 stride-2 transposed convolutions,
a 1x1 head; and its loss, BCE + soft Dice over the batch (smooth 1)."""
import torch, torch.nn as nn, torch.nn.functional as F


def double_conv(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                         nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())


class UNetTiny(nn.Module):
    def __init__(self, ch=(16, 32, 64, 128)):
        super().__init__()
        self.enc = nn.ModuleList([double_conv(3 if i == 0 else ch[i - 1], c) for i, c in enumerate(ch)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, 2) for i in reversed(range(3))])
        self.dec = nn.ModuleList([double_conv(2 * ch[i], ch[i]) for i in reversed(range(3))])
        self.head = nn.Conv2d(ch[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            if i:
                x = F.max_pool2d(x, 2)
            x = e(x)
            skips.append(x)
        skips.pop()
        for u, d in zip(self.up, self.dec):
            x = d(torch.cat([skips.pop(), u(x)], 1))
        return self.head(x)


def loss_parts(logits, y):
    """(BCE, 1 - soft Dice over the batch), as the reference trains."""
    p = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, y)
    dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    return bce, dice

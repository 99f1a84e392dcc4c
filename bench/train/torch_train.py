"""PyTorch baseline for bench/train: trains the same architecture spec as
`reef train` (stem / mbconv / head / gap / dropout / fc subset of
docs/formats/arch-spec.md) on the same dataset files, with the same recipe
(AdamW, cosine with 5% warm-up, label smoothing 0.05, horizontal flips,
batch 64), and prints one JSON line: images/s over the training steps and
the test accuracy. Run with /usr/bin/python3 (Debian's python3-torch).

Differences from reef, none of which change the work per image: PyTorch
pads symmetrically (k // 2) where reef pads as TFLite SAME does."""
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def load_ds(path):
    """Reads a reef dataset file (docs/formats/dataset.md)."""
    raw = open(path, "rb").read()
    assert raw[:8] == b"REEFDS\r\n", path
    count, h, w, c, k = struct.unpack_from("<5I", raw, 16)
    pix_off, lab_off = struct.unpack_from("<2Q", raw, 56)
    pixels = np.frombuffer(raw, np.uint8, count * h * w * c, pix_off).reshape(count, h, w, c)
    labels = np.frombuffer(raw, np.uint16, count, lab_off).astype(np.int64)
    return pixels, labels, k


def conv_bn(cin, cout, k, s, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return layers


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, e, s, skip):
        super().__init__()
        hidden = cin * e
        layers = conv_bn(cin, hidden, 1, 1) if e != 1 else []
        layers += conv_bn(hidden, hidden, k, s, groups=hidden)
        layers += conv_bn(hidden, cout, 1, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.skip = skip

    def forward(self, x):
        y = self.body(x)
        return x + y if self.skip else y


def build(spec, in_c, classes):
    layers, c = [], in_c
    for line in spec.replace(";", "\n").splitlines():
        words = line.split("#")[0].split()
        if not words or words[0] in ("name", "input"):
            continue
        kind, attrs = words[0], {w[0]: w[1:] for w in words[1:] if w[0] in "kscep" and w[1:].isdigit()}
        if kind in ("stem", "conv", "head"):
            k = int(attrs.get("k", 1 if kind == "head" else 3))
            s = int(attrs.get("s", 2 if kind == "stem" else 1))
            layers += conv_bn(c, int(attrs["c"]), k, s)
            c = int(attrs["c"])
        elif kind == "mbconv":
            k, e, s, o = int(attrs.get("k", 3)), int(attrs.get("e", 6)), int(attrs.get("s", 1)), int(attrs["c"])
            skip = "noskip" not in words and s == 1 and c == o
            layers.append(MBConv(c, o, k, e, s, skip))
            c = o
        elif kind == "gap":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif kind == "dropout":
            layers.append(nn.Dropout(float(words[1])))
        elif kind == "fc":
            layers.append(nn.Linear(c, classes))
        else:
            raise SystemExit("torch_train.py: unsupported statement " + kind)
    return nn.Sequential(*layers)


def main():
    spec_path, train_path, test_path, epochs, threads = sys.argv[1:6]
    epochs, threads = int(epochs), int(threads)
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    xtr, ytr, k = load_ds(train_path)
    xte, yte, _ = load_ds(test_path)
    mean, std = xtr.mean() / 255.0, xtr.std() / 255.0
    to_t = lambda x: ((torch.from_numpy(x.astype(np.float32)) / 255.0 - mean) / std).permute(0, 3, 1, 2).contiguous()
    xtr_t, xte_t = to_t(xtr), to_t(xte)
    ytr_t, yte_t = torch.from_numpy(ytr), torch.from_numpy(yte)
    model = build(open(spec_path).read(), xtr.shape[3], k)
    params = sum(p.numel() for p in model.parameters())
    batch, n = 64, len(ytr)
    steps = epochs * math.ceil(n / batch)
    decay = [p for nm, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for nm, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0}], lr=3e-3)
    warm = int(0.05 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (steps - warm))))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    train_seconds = 0.0
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            x, y = xtr_t[idx], ytr_t[idx]
            flip = torch.rand(len(idx)) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
        train_seconds += time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        acc = (model(xte_t).argmax(1) == yte_t).float().mean().item()
    print(json.dumps({"params": params, "images_per_s": epochs * n / train_seconds, "test_accuracy": acc,
                      "train_seconds": train_seconds, "torch": torch.__version__, "threads": threads, "seed": seed}))


if __name__ == "__main__":
    main()

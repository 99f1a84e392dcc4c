"""PyTorch baseline for bench/train: trains the same architecture spec as
`reef train` (stem / mbconv / head / gap / dropout / fc subset of
docs/formats/arch-spec.md) on the same dataset files, with the same recipe
(AdamW, cosine with 5% warm-up, label smoothing 0.05, horizontal flips,
batch 64), and prints one JSON line: images/s over the training steps and
the test accuracy. Run with /usr/bin/python3 (Debian's python3-torch).

Differences from reef by default, none of which change the work per image:
PyTorch pads symmetrically (k // 2) where reef pads as TFLite SAME does, and
initialises with its own defaults (Kaiming uniform, a = sqrt 5).

key=value arguments after the seed switch one difference at a time:
  pad=same        pad as TFLite SAME (the larger half right/bottom), as reef
  init=reef       reef's initialisation scheme, drawn with PyTorch's generator
  init=reefseed   reef's exact initial weights for the seed (reef's generator)
  init=M.ckpt     a reef checkpoint's weights and statistics (epochs 0: only
                  evaluate it, to check both compute the same network)
  order=reef      reef's batch order and flips for the seed, epoch by epoch
  flip=0          no flips
With pad=same init=reefseed order=reef on a spec without dropout, PyTorch
trains from reef's weights on reef's batches; the per-epoch training losses
("loss" in the JSON) should then track reef train's."""
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


OPTS = {"pad": "sym", "init": "torch", "order": "torch", "flip": "1"}  # key=value arguments after the seed change these


class SameConv2d(nn.Conv2d):
    """A convolution padded as TFLite's SAME: total padding
    max((ceil(in / s) - 1) * s + k - in, 0) per side pair, the larger half
    after (right, bottom), as reef pads."""

    def forward(self, x):
        pads = []
        for size, k, s in ((x.shape[3], self.kernel_size[1], self.stride[1]),
                           (x.shape[2], self.kernel_size[0], self.stride[0])):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(nn.functional.pad(x, pads))


def conv_bn(cin, cout, k, s, groups=1, act=True):
    conv = (SameConv2d(cin, cout, k, s, 0, groups=groups, bias=False) if OPTS["pad"] == "same"
            else nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False))
    layers = [conv, nn.BatchNorm2d(cout)]
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


def init_as_reef(model):
    """reef's initialisation (src/nn/model.c reef_layer_init_params): conv
    weights normal with std sqrt(2 / (out channels * k * k)) (Kaiming normal,
    fan out), depthwise std sqrt(2 / (k * k)), fc std 0.01 with zero bias."""
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            fan = k if mod.groups > 1 else mod.out_channels * k
            nn.init.normal_(mod.weight, 0.0, math.sqrt(2.0 / fan))
        elif isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, 0.0, 0.01)
            nn.init.zeros_(mod.bias)


class ReefRng:
    """reef's generator (src/util/rng.c: xoshiro128** seeded by splitmix64),
    so PyTorch can draw reef's initial weights, batch order and flips."""
    M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF

    def __init__(self, seed):
        x = seed & self.M64
        out = []
        for _ in range(2):
            x = (x + 0x9E3779B97F4A7C15) & self.M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.M64
            out.append(z ^ (z >> 31))
        a, b = out
        self.s = [a & self.M32, a >> 32, b & self.M32, (b >> 32) | 1]

    def u32(self):
        s, M = self.s, self.M32
        rotl = lambda x, k: ((x << k) | (x >> (32 - k))) & M
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 9) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
        return result

    def below(self, n):
        limit = (-n & self.M32) % n
        while True:
            x = self.u32()
            if x >= limit:
                return x % n

    def uniform(self):
        return np.float32(self.u32() >> 8) * np.float32(1.0 / 16777216.0)

    def normal(self):
        u1, u2 = max(self.uniform(), np.float32(1e-12)), self.uniform()
        return np.float32(np.sqrt(np.float32(-2.0) * np.log(u1)) * np.cos(np.float32(6.2831853) * u2))


def reef_derive_seed(seed, epoch, purpose):
    """src/nn/train.c derive_seed."""
    return ((seed * 0x9E3779B97F4A7C15) & ReefRng.M64) ^ (epoch << 20) ^ purpose


def reef_order(n, seed, epoch):
    """The order reef train visits the training set in that epoch."""
    rng, order = ReefRng(reef_derive_seed(seed, epoch, 1)), list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def reef_flips(n, seed, epoch):
    """Which positions of the epoch's order reef flips (its first draw per sample)."""
    return [ReefRng(reef_derive_seed(seed, epoch, 2 + (pos << 32))).u32() & 1 for pos in range(n)]


def reef_init_params(model, seed):
    """reef's initial weights for a seed (src/nn/model.c reef_layer_init_params),
    in checkpoint order: conv normal std sqrt(2 / (OC k k)), depthwise
    sqrt(2 / (k k)), fc 0.01 with zero bias, BN gamma 1 and beta 0."""
    rng, params, stats = ReefRng(seed), [], []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            std = np.float32(np.sqrt(np.float32(2.0) / np.float32(k if mod.groups > 1 else mod.out_channels * k)))
            params += [std * rng.normal() for _ in range(mod.weight.numel())]
        elif isinstance(mod, nn.BatchNorm2d):
            params += [1.0] * mod.num_features + [0.0] * mod.num_features
            stats += [0.0] * mod.num_features + [1.0] * mod.num_features
        elif isinstance(mod, nn.Linear):
            params += [np.float32(0.01) * rng.normal() for _ in range(mod.weight.numel())]
            params += [0.0] * mod.bias.numel()
    return np.array(params, np.float32), np.array(stats, np.float32)


def read_reef_ckpt(path):
    """A reef checkpoint's PARM and STAT sections (docs/formats/checkpoint.md)."""
    raw = open(path, "rb").read()
    assert raw[:8] == b"REEFCKPT", path
    sections, at = {}, 32
    while at < len(raw):
        tag, size = raw[at:at + 4].decode(), struct.unpack_from("<Q", raw, at + 8)[0]
        sections[tag] = raw[at + 16:at + 16 + size]
        at += 16 + (size + 7) // 8 * 8
    return np.frombuffer(sections["PARM"], np.float32), np.frombuffer(sections["STAT"], np.float32)


def load_reef_params(model, params, stats):
    """Copies reef's parameters and batch-norm statistics (model order,
    TFLite layouts) into the PyTorch model built from the same spec."""
    p = s = 0

    def take(src, at, shape):
        n = int(np.prod(shape))
        return torch.from_numpy(src[at:at + n].copy()).reshape(shape), at + n

    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                oc, ic, kh, kw = mod.weight.shape
                if mod.groups > 1:  # depthwise (1, KH, KW, C)
                    w, p = take(params, p, (1, kh, kw, oc))
                    mod.weight.copy_(w.permute(3, 0, 1, 2))
                else:  # (OC, KH, KW, C)
                    w, p = take(params, p, (oc, kh, kw, ic))
                    mod.weight.copy_(w.permute(0, 3, 1, 2))
            elif isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                for t in (mod.weight, mod.bias):
                    v, p = take(params, p, (c,))
                    t.copy_(v)
                for t in (mod.running_mean, mod.running_var):
                    v, s = take(stats, s, (c,))
                    t.copy_(v)
            elif isinstance(mod, nn.Linear):
                for t in (mod.weight, mod.bias):
                    v, p = take(params, p, tuple(t.shape))
                    t.copy_(v)
    assert p == len(params) and s == len(stats), (p, len(params), s, len(stats))


def main():
    spec_path, train_path, test_path, epochs, threads = sys.argv[1:6]
    epochs, threads = int(epochs), int(threads)
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    for kv in sys.argv[7:]:
        key, value = kv.split("=", 1)
        if key not in OPTS:
            raise SystemExit(f"torch_train.py: unknown option {key} ({', '.join(OPTS)})")
        OPTS[key] = value
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    xtr, ytr, k = load_ds(train_path)
    xte, yte, _ = load_ds(test_path)
    mean, std = xtr.mean() / 255.0, xtr.std() / 255.0
    to_t = lambda x: ((torch.from_numpy(x.astype(np.float32)) / 255.0 - mean) / std).permute(0, 3, 1, 2).contiguous()
    xtr_t, xte_t = to_t(xtr), to_t(xte)
    ytr_t, yte_t = torch.from_numpy(ytr), torch.from_numpy(yte)
    model = build(open(spec_path).read(), xtr.shape[3], k)
    if OPTS["init"] == "reef":
        init_as_reef(model)
    elif OPTS["init"] == "reefseed":
        load_reef_params(model, *reef_init_params(model, seed))
    elif OPTS["init"].endswith(".ckpt"):
        load_reef_params(model, *read_reef_ckpt(OPTS["init"]))
    params = sum(p.numel() for p in model.parameters())
    batch, n = 64, len(ytr)
    steps = epochs * math.ceil(n / batch)
    decay = [p for nm, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for nm, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0}], lr=3e-3)
    warm = max(int(0.05 * steps), 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(steps - warm, 1))))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    train_seconds, history = 1e-9, []
    for epoch in range(epochs):
        model.train()
        if OPTS["order"] == "reef":  # reef's batch order and flips, drawn before the clock starts
            perm = torch.tensor(reef_order(n, seed, epoch))
            flips = torch.tensor(reef_flips(n, seed, epoch), dtype=torch.bool)
        else:
            perm = torch.randperm(n)
        loss_sum = 0.0
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            x, y = xtr_t[idx], ytr_t[idx]
            flip = flips[i:i + batch] if OPTS["order"] == "reef" else torch.rand(len(idx)) < 0.5
            if OPTS["flip"] == "1":
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss_sum += loss.item() * len(idx)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
        train_seconds += time.perf_counter() - t0
        history.append(round(loss_sum / n, 5))
    model.eval()
    with torch.no_grad():
        acc = (model(xte_t).argmax(1) == yte_t).float().mean().item()
    print(json.dumps({"params": params, "images_per_s": epochs * n / train_seconds, "test_accuracy": acc,
                      "train_seconds": train_seconds, "torch": torch.__version__, "threads": threads, "seed": seed, **OPTS, "loss": history}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch re-implementation of the SGNAS unified supernet and its training
step (reference §2, §5.1), used only to cross-check train/supernet (tests and
investigations; optional, needs torch). Never needed at run time.

It follows the authors' utils/supernet.py: the expand 1x1 conv + BN + ReLU6
runs at full width 6C, the hidden tensor is split into 6 groups, an active
group runs its own depthwise k x k conv + BN + ReLU6, a skipped group gives
zeros, the project 1x1 conv (no BN) is followed by the SBN indexed by the
number of skipped groups, then the residual. Training step: 4 sampled paths,
forward/backward each with gradients summed, one SGD step (momentum, weight
decay on every parameter), label-smoothed cross-entropy, cosine LR per
iteration.

Modes:
  step DIR   DIR holds spec.json (space, paths, hyper-parameters), params.bin +
             params.json (initial state dict, float32 LE), x.bin (NCHW batch)
             and writes torch_grads.bin/.json (summed gradients of the first
             step), torch_after.bin/.json (state dict after all steps) and
             torch_losses.json. Used by TestTorchReferenceStep.
  train DIR  CIFAR-10 binary dataset in DIR (first --portion trains, the rest
             validates): supernet training with the same recipe and sampler
             semantics as `sgnas search supernet`, printing per-epoch train
             loss/accuracy and random-path validation accuracy.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LAYERS = [(16, 32, 2), (32, 32, 1), (32, 40, 2), (40, 40, 1), (40, 40, 1), (40, 40, 1),
          (40, 80, 2), (80, 80, 1), (80, 80, 1), (80, 80, 1), (80, 96, 1), (96, 96, 1),
          (96, 96, 1), (96, 96, 1), (96, 192, 2), (192, 192, 1), (192, 192, 1),
          (192, 192, 1), (192, 320, 1)]
KERNELS = (3, 5, 7)
SKIP = 3
GROUPS = 6


def space_layers(space):
    """(stem stride, [(cin, cout, stride)]) of a search space."""
    if space == "imagenet":
        return 2, LAYERS
    layers = list(LAYERS)
    layers[0] = (16, 32, 1)
    return 1, layers


def conv_bn(cin, cout, k, stride, groups=1):
    return nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, groups=1):
        super().__init__()
        self.conv, self.bn = conv_bn(cin, cout, k, stride, groups)


class Mixed(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self.blocks = nn.ModuleList([ConvBN(c, c, k, stride, groups=c) for k in KERNELS])


class DW(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self.blocks = nn.ModuleList([Mixed(c, stride) for _ in range(GROUPS)])


class Project(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)


class Layer(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.point_wise = ConvBN(cin, GROUPS * cin, 1, 1)
        self.depthwise = DW(cin, stride)
        self.point_wise_1 = Project(GROUPS * cin, cout)
        self.sbn = nn.ModuleList([nn.BatchNorm2d(cout) for _ in range(GROUPS)])

    def forward(self, x, choice):
        h = F.relu6(self.point_wise.bn(self.point_wise.conv(x)))
        parts = h.chunk(GROUPS, dim=1)
        outs = []
        for b, j in enumerate(choice):
            if j == SKIP:
                n, _, hh, ww = parts[b].shape
                ho = (hh - 1) // self.stride + 1
                outs.append(parts[b].new_zeros(n, self.cin, ho, (ww - 1) // self.stride + 1))
            else:
                blk = self.depthwise.blocks[b].blocks[j]
                outs.append(F.relu6(blk.bn(blk.conv(parts[b]))))
        z = self.point_wise_1.conv(torch.cat(outs, 1))
        skipped = sum(1 for j in choice if j == SKIP)
        if skipped < GROUPS:
            z = self.sbn[skipped](z)
        if self.stride == 1 and self.cin == self.cout:
            z = z + x
        return z


class FirstMB(nn.Module):
    def __init__(self, c, cout):
        super().__init__()
        self.depthwise = nn.Module()
        self.depthwise.blocks = nn.ModuleList([nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)])
        self.depthwise.bn = nn.BatchNorm2d(c)
        self.point_wise_1 = ConvBN(c, cout, 1, 1)

    def forward(self, x):
        x = F.relu6(self.depthwise.bn(self.depthwise.blocks[0](x)))
        return self.point_wise_1.bn(self.point_wise_1.conv(x))


class Supernet(nn.Module):
    def __init__(self, space="cifar10", classes=10):
        super().__init__()
        stem_stride, layers = space_layers(space)
        self.first = ConvBN(3, 32, 3, stem_stride)
        self.first_mb = FirstMB(32, 16)
        self.stages = nn.ModuleList([Layer(*l) for l in layers])
        self.last_stage = nn.Sequential(nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280))
        self.classifier = nn.Linear(1280, classes)
        self.authors_init()

    def authors_init(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.data.normal_(0, 0.01)
                m.bias.data.zero_()

    def forward(self, x, path):
        x = F.relu6(self.first.bn(self.first.conv(x)))
        x = self.first_mb(x)
        for layer, choice in zip(self.stages, path):
            x = layer(x, choice)
        x = F.relu6(self.last_stage[1](self.last_stage[0](x)))
        return self.classifier(x.mean(dim=(2, 3)))


def smoothed_ce(logits, y, eps):
    logp = F.log_softmax(logits, 1)
    c = logits.shape[1]
    target = torch.full_like(logp, eps / c)
    target.scatter_(1, y.view(-1, 1), 1 - eps + eps / c)
    return -(target * logp).sum(1).mean()


class Sampler:
    """The authors' sampler (reference §5.1) on a numpy generator."""

    def __init__(self, rng, layers=19, emin=2, emax=6):
        self.rng = rng
        self.exp = [list(range(emin, emax + 1)) for _ in range(layers)]
        self.eidx = [0] * layers
        self.kord = [[[0, 1, 2] for _ in range(GROUPS)] for _ in range(layers)]
        self.kidx = [[0] * GROUPS for _ in range(layers)]
        self.path = [[SKIP] * GROUPS for _ in range(layers)]

    def step(self, reset):
        for l in range(len(self.exp)):
            if reset:
                self.rng.shuffle(self.exp[l])
                e = self.exp[l][0]
                self.eidx[l] = 1
            else:
                e = self.exp[l][self.eidx[l]]
                self.eidx[l] += 1
                if self.eidx[l] == len(self.exp[l]):
                    self.eidx[l] = 0
                    self.rng.shuffle(self.exp[l])
            active = set(self.rng.permutation(GROUPS)[:e].tolist())
            for b in range(GROUPS):
                if reset:
                    self.rng.shuffle(self.kord[l][b])
                    self.kidx[l][b] = 0
                if b not in active:
                    self.path[l][b] = SKIP
                    continue
                self.kidx[l][b] = (self.kidx[l][b] + 1) % 3
                if self.kidx[l][b] == 0:
                    self.rng.shuffle(self.kord[l][b])
                self.path[l][b] = self.kord[l][b][self.kidx[l][b]]
        return [list(r) for r in self.path]


def read_bin(prefix):
    with open(prefix + ".json") as f:
        index = json.load(f)
    raw = np.fromfile(prefix + ".bin", dtype="<f4")
    out = {}
    for e in index:
        out[e["name"]] = raw[e["offset"]:e["offset"] + int(np.prod(e["shape"]))].reshape(e["shape"])
    return out


def write_bin(prefix, tensors):
    index, off, chunks = [], 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        index.append({"name": name, "shape": list(a.shape), "offset": off})
        off += a.size
        chunks.append(a.ravel())
    np.concatenate(chunks).tofile(prefix + ".bin")
    with open(prefix + ".json", "w") as f:
        json.dump(index, f)


def sgd(model, momentum, wd, nesterov=False):
    # Every gradient starts as zeros (not None) and is zeroed, not set to None,
    # so every parameter is updated (weight decay, momentum) at every step, as
    # in train/nn's SGD. (With the authors' PyTorch 1.x, a parameter no path
    # has used yet has grad None and is skipped until its first use.)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    return torch.optim.SGD(model.parameters(), lr=1.0, momentum=momentum, weight_decay=wd, nesterov=nesterov)


def train_step(model, opt, x, y, paths, eps, lr):
    opt.zero_grad(set_to_none=False)
    losses, correct = [], 0
    for p in paths:
        logits = model(x, p)
        loss = smoothed_ce(logits, y, eps)
        loss.backward()
        losses.append(loss.item())
        correct += (logits.argmax(1) == y).sum().item()
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    return losses, correct


def cmd_step(args):
    torch.set_num_threads(args.threads)
    d = args.dir
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
    model = Supernet(spec["space"], spec["classes"]).double() if args.double else Supernet(spec["space"], spec["classes"])
    init = read_bin(os.path.join(d, "params"))
    sd = model.state_dict()
    load = {}
    for n, v in sd.items():
        if n.endswith("num_batches_tracked"):
            continue
        if n not in init:
            sys.exit(f"params: missing {n}")
        if tuple(init[n].shape) != tuple(v.shape):
            sys.exit(f"params: {n} shape {init[n].shape}, want {tuple(v.shape)}")
        load[n] = torch.from_numpy(init[n].copy()).to(v.dtype)
    model.load_state_dict(load, strict=False)
    model.train()
    n = spec["batch"]
    x = torch.from_numpy(np.fromfile(os.path.join(d, "x.bin"), dtype="<f4").reshape(n, 3, spec["size"], spec["size"]).copy())
    if args.double:
        x = x.double()
    y = torch.tensor(spec["labels"], dtype=torch.long)
    opt = sgd(model, spec["momentum"], spec["weight_decay"])
    all_losses = []
    for k, (paths, lr) in enumerate(zip(spec["steps"], spec["lrs"])):
        opt.zero_grad(set_to_none=False)
        losses = []
        for p in paths:
            loss = smoothed_ce(model(x, p), y, spec["label_smoothing"])
            loss.backward()
            losses.append(loss.item())
        all_losses.append(losses)
        if k == 0:
            write_bin(os.path.join(d, "torch_grads"), {nm: p.grad.detach().float().numpy() for nm, p in model.named_parameters()})
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
    write_bin(os.path.join(d, "torch_after"), {nm: v.detach().float().numpy() for nm, v in model.state_dict().items()
                                               if not nm.endswith("num_batches_tracked")})
    with open(os.path.join(d, "torch_losses.json"), "w") as f:
        json.dump(all_losses, f)


def load_cifar(d):
    xs, ys = [], []
    for i in range(1, 6):
        raw = np.fromfile(os.path.join(d, f"data_batch_{i}.bin"), dtype=np.uint8).reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(xs), np.concatenate(ys)


MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.2023, 0.1994, 0.2010], dtype=np.float32).reshape(1, 3, 1, 1)


def normalise(u8):
    return (u8.astype(np.float32) / 255 - MEAN) / STD


def augment(u8, rng, pad=4):
    n, c, h, w = u8.shape
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=np.uint8)
    padded[:, :, pad:pad + h, pad:pad + w] = u8
    out = np.empty_like(u8)
    for i in range(n):
        dy, dx = rng.integers(0, 2 * pad + 1, 2)
        img = padded[i, :, dy:dy + h, dx:dx + w]
        if rng.integers(0, 2):
            img = img[:, :, ::-1]
        out[i] = img
    return normalise(out)


def evaluate(model, xv, yv, batch, max_batches, seed):
    model.eval()
    smp = Sampler(np.random.default_rng(seed + 1000))
    correct = seen = 0
    with torch.no_grad():
        for k in range(0, len(xv), batch):
            if max_batches and k // batch >= max_batches:
                break
            path = smp.step(k == 0)
            x = torch.from_numpy(normalise(xv[k:k + batch]))
            correct += (model(x, path).argmax(1).numpy() == yv[k:k + batch]).sum()
            seen += len(x)
    model.train()
    return correct / max(seen, 1)


def cmd_train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    X, Y = load_cifar(args.dir)
    ntr = int(len(X) * args.portion)
    xt, yt, xv, yv = X[:ntr], Y[:ntr], X[ntr:], Y[ntr:]
    model = Supernet("cifar10", int(Y.max()) + 1)
    if args.zero_init_residual:  # the smoke recipe's stabiliser (not the authors' init)
        for layer in model.stages:
            if layer.stride == 1 and layer.cin == layer.cout:
                for bn in layer.sbn:
                    bn.weight.data.zero_()
    if args.bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = args.bn_momentum
    opt = sgd(model, args.momentum, args.wd)
    rng = np.random.default_rng(args.seed)
    nb = ntr // args.batch
    if args.max_train_batches:
        nb = min(nb, args.max_train_batches)
    total = nb * args.epochs
    it = 0
    print(f"torch supernet: {ntr} train / {len(xv)} val, batch {args.batch}, {nb} steps/epoch, lr {args.lr}, "
          f"warmup {args.warmup}, wd {args.wd}, paths {args.paths}", flush=True)
    for ep in range(args.epochs):
        t0 = time.time()
        perm = rng.permutation(ntr)
        lsum = lcount = correct = seen = 0
        for k in range(nb):
            idx = perm[k * args.batch:(k + 1) * args.batch]
            x = torch.from_numpy(augment(xt[idx], rng))
            y = torch.from_numpy(yt[idx])
            smp = Sampler(rng)
            paths = [smp.step(i == 0) for i in range(args.paths)]
            if args.fixed_path:
                paths = [[[0] * GROUPS for _ in range(19)]] * args.paths
            lr = cosine_lr(args.lr, it, total, args.warmup)
            losses, c = train_step(model, opt, x, y, paths, args.label_smoothing, lr)
            it += 1
            lsum += sum(losses)
            lcount += len(losses)
            correct += c
            seen += len(y) * len(paths)
            if args.log_every and it % args.log_every == 0:
                print(f"  step {it}: loss {lsum / lcount:.4f} acc {correct / seen:.3f} lr {lr:.4g} "
                      f"({time.time() - t0:.0f}s)", flush=True)
        va = evaluate(model, xv, yv, args.batch, args.max_val_batches, args.seed)
        print(f"epoch {ep}: train loss {lsum / lcount:.4f} acc {correct / seen:.3f}  val acc {va:.3f}  "
              f"({time.time() - t0:.0f}s)", flush=True)


def cosine_lr(base, it, total, warmup):
    if warmup and it < warmup:
        return base * (it + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * it / total))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("step")
    s.add_argument("dir")
    s.add_argument("--double", action="store_true", help="compute in float64")
    s.add_argument("--threads", type=int, default=2)
    t = sub.add_parser("train")
    t.add_argument("dir")
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=0.008)
    t.add_argument("--warmup", type=int, default=0)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--wd", type=float, default=4e-4)
    t.add_argument("--label-smoothing", type=float, default=0.1)
    t.add_argument("--paths", type=int, default=4)
    t.add_argument("--portion", type=float, default=0.8)
    t.add_argument("--bn-momentum", type=float, default=None)
    t.add_argument("--max-train-batches", type=int, default=0)
    t.add_argument("--max-val-batches", type=int, default=8)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--fixed-path", action="store_true")
    t.add_argument("--zero-init-residual", action="store_true")
    args = ap.parse_args()
    {"step": cmd_step, "train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    main()

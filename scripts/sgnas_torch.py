#!/usr/bin/env python3
"""Reference PyTorch model of the SGNAS standalone network (reference §7.1).

Used only by scripts/bench-export.sh (optional: needs torch), never at run
time. It mirrors the authors' utils/model.py modules closely enough to load
their state dicts with strict=True and to be exported with torch.onnx.export
the way an SGNAS user would:

  stem      first.conv / first.bn / act
  first_mb  depthwise 3x3 (expansion 1) + BN + act, [SE], point_wise_1 conv + BN
  stages.l  [point_wise conv + BN + act] -> split -> depthwise k_i per group
            -> cat -> BN -> act -> [SE] -> point_wise_1 conv + BN [+ x]
  head      last_stage = conv 1x1, BN, act; mean over H then W;
            classifier = Dropout(0.2), Linear
  h-swish   x * relu6(x + 3) / 6 ; h-sigmoid relu6(x + 3) / 6 (as the authors)

Usage:
  sgnas_torch.py check  ARCH_JSON STATE_DICT INPUT.npy LOGITS.npy
  sgnas_torch.py export ARCH_JSON STATE_DICT OUT.onnx [--opset 17]
  (STATE_DICT may be seed:N: PyTorch's default init, seeded)
"""
import argparse
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

KERNELS = (3, 5, 7)

# (C_in, C_out, stride) of the 19 searchable layers (reference §1.2).
LAYERS = [(16, 32, 2), (32, 32, 1), (32, 40, 2), (40, 40, 1), (40, 40, 1), (40, 40, 1),
          (40, 80, 2), (80, 80, 1), (80, 80, 1), (80, 80, 1), (80, 96, 1), (96, 96, 1),
          (96, 96, 1), (96, 96, 1), (96, 192, 2), (192, 192, 1), (192, 192, 1),
          (192, 192, 1), (192, 320, 1)]


def load_arch(path):
    """Returns (space, kernel lists, options) of an architecture file."""
    with open(path) as f:
        obj = json.load(f)
    if isinstance(obj, list):
        obj = {"onehot": obj}
    if "layers" in obj:
        kernels = [list(l["kernels"]) for l in obj["layers"]]
    else:
        kernels = []
        for row in obj["onehot"]:
            ks = []
            for b in range(6):
                j = int(np.argmax(row[4 * b:4 * b + 4]))
                if j != 3:
                    ks.append(KERNELS[j])
            kernels.append(ks)
    return obj.get("space", "imagenet"), kernels, obj


class HSwish(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.0) / 6.0


class HSigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


def act_layer(name):
    return HSwish() if name == "hswish" else nn.ReLU6()


class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.squeeze_conv = nn.Conv2d(c, c // 4, 1, bias=True)
        self.relu = nn.ReLU()
        self.excite_conv = nn.Conv2d(c // 4, c, 1, bias=True)
        self.hsigmoid = HSigmoid()

    def forward(self, x):
        s = self.hsigmoid(self.excite_conv(self.relu(self.squeeze_conv(self.avgpool(x)))))
        return x * s


class MixDepthwise(nn.Module):
    def __init__(self, group, kernels, stride, act):
        super().__init__()
        self.group = group
        self.blocks = nn.ModuleList(
            [nn.Conv2d(group, group, k, stride, k // 2, groups=group, bias=False) for k in kernels])
        self.bn = nn.BatchNorm2d(group * len(kernels))
        self.act = act_layer(act)

    def forward(self, x):
        if len(self.blocks) == 1:
            y = self.blocks[0](x)
        else:
            xs = torch.split(x, self.group, dim=1)
            y = torch.cat([b(xi) for b, xi in zip(self.blocks, xs)], dim=1)
        return self.act(self.bn(y))


class MBConv(nn.Module):
    def __init__(self, cin, cout, stride, kernels, act, se):
        super().__init__()
        hidden = cin * len(kernels)
        self.point_wise = None
        if hidden != cin:
            self.point_wise = ConvBN(cin, hidden)
            self.point_wise_act = act_layer(act)
        self.depthwise = MixDepthwise(cin, kernels, stride, act)
        self.se = SE(hidden) if se else None
        self.point_wise_1 = ConvBN(hidden, cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = x
        if self.point_wise is not None:
            y = self.point_wise_act(self.point_wise(y))
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.point_wise_1(y)
        return y + x if self.residual else y


class Stem(nn.Module):
    def __init__(self, stride, act):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(32)
        self.act = act_layer(act)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Model(nn.Module):
    def __init__(self, space, kernels, act="relu6", se=False, classes=1000):
        super().__init__()
        cifar = space != "imagenet"
        self.first = Stem(1 if cifar else 2, act)
        self.first_mb = MBConv(32, 16, 1, [3], act, se)
        stages = []
        for l, (cin, cout, stride) in enumerate(LAYERS):
            if cifar and l == 0:
                stride = 1
            stages.append(MBConv(cin, cout, stride, kernels[l], act, se))
        self.stages = nn.Sequential(*stages)
        self.last_stage = nn.Sequential(nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280), act_layer(act))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x):
        x = self.last_stage(self.stages(self.first_mb(self.first(x))))
        x = x.mean(3).mean(2)
        return self.classifier(x)


def build(arch_path, state_dict_path):
    """STATE_DICT "seed:N" builds the model with PyTorch's default init
    seeded by N (latency comparisons need no particular weights)."""
    space, kernels, obj = load_arch(arch_path)
    act, se = obj.get("activation", "relu6"), bool(obj.get("se", False))
    if state_dict_path.startswith("seed:"):
        torch.manual_seed(int(state_dict_path[5:]))
        m = Model(space, kernels, act, se, obj.get("classes") or 1000)
        return m.eval(), space
    sd = torch.load(state_dict_path, map_location="cpu")
    classes = obj.get("classes") or sd["classifier.1.weight"].shape[0]
    m = Model(space, kernels, act, se, classes)
    m.load_state_dict(sd, strict=True)
    return m.eval(), space


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["check", "export"])
    p.add_argument("arch")
    p.add_argument("state_dict")
    p.add_argument("rest", nargs="+")
    p.add_argument("--opset", type=int, default=17)
    a = p.parse_args()
    model, space = build(a.arch, a.state_dict)
    torch.set_grad_enabled(False)
    if a.cmd == "check":
        x = torch.from_numpy(np.load(a.rest[0]))
        ref = np.load(a.rest[1])
        out = model(x).numpy()
        err = float(np.abs(out - ref).max())
        same = bool((out.argmax(1) == ref.argmax(1)).all())
        print(f"torch model vs reference logits: max abs error {err:.3g}, argmax identical: {same}")
        if err > 1e-4 or not same:
            sys.exit(1)
        return
    size = 224 if space == "imagenet" else 32
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(model, x, a.rest[0], opset_version=a.opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    print(f"torch.onnx.export (torch {torch.__version__}, opset {a.opset}) wrote {a.rest[0]}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference scores of the authors' SGNAS generator, computed with PyTorch.

Re-implements SinGenerator(hc_dim=10, input_dim=1, layer_nums=5, hidden_dim=32)
as described in docs/reference.md §3 (float32, like the authors), loads
the shipped checkpoint and prior pool, and writes the raw 19x24 scores for a
few targets. Used once to produce generator/testdata/scores_ref.json;
nothing at run time needs Python.

usage: /usr/bin/python3 scripts/ref-generator.py GEN.pth PRIOR.json OUT.json [T ...]
"""
import json
import sys

import torch
import torch.nn as nn


class ConvRelu(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)

    def forward(self, x):
        return torch.relu(self.conv(x))


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = ConvRelu(32, 32)
        self.block2 = ConvRelu(32, 32)
        self.block3 = ConvRelu(32, 32)

    def forward(self, x):
        return self.block3(self.block2(self.block1(x)))


class SinGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.hc_head = nn.Sequential(ConvRelu(10, 32), ConvRelu(32, 32), ConvRelu(32, 32))
        self.bb_head = nn.Sequential(ConvRelu(1, 32), ConvRelu(32, 32))
        self.head = ConvRelu(32, 32)
        self.body = Body()
        self.tail = nn.Sequential(nn.Conv2d(32, 1, 3, 1, 1))

    def forward(self, prior, c):
        hc = torch.full((1, 10, 19, 24), float(c))
        p = self.bb_head(prior) + self.hc_head(hc)
        y = self.body(self.head(p))
        return self.tail(y + p)


def main():
    gen_path, prior_path, out_path = sys.argv[1:4]
    targets = [float(t) for t in sys.argv[4:]] or [275.0, 320.0, 365.0, 373.0]
    low, high = 270.0, 450.0
    ck = torch.load(gen_path, map_location="cpu")
    g = SinGenerator()
    g.load_state_dict(ck["model"])
    g.eval()
    pool = {int(k): v for k, v in json.load(open(prior_path)).items()}
    out = {"generator": gen_path.split("/")[-1], "low": low, "high": high, "targets": [], "scores": []}
    with torch.no_grad():
        for t in targets:
            key = min(pool, key=lambda k: abs(k - t))
            prior = torch.tensor(pool[key], dtype=torch.float32).view(1, 1, 19, 24)
            s = g(prior, (t - low) / (high - low)).view(19, 24)
            out["targets"].append(t)
            out["scores"].append([[float(v) for v in row] for row in s.tolist()])
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()

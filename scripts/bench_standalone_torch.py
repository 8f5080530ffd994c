"""PyTorch side of scripts/bench-standalone.sh: times one training step of
the CIFAR recipe (dropout 0.2 + linear classifier, label-smoothed CE, SGD
momentum 0.9, weight decay 4e-4) of the standalone network of an
architecture file, built by scripts/sgnas_torch.py (the authors' modules).

Usage: bench_standalone_torch.py ARCH_JSON THREADS BATCH STEPS
Prints "torch images/s: X"."""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sgnas_torch import Model, load_arch  # noqa: E402

arch, threads, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
space, kernels, obj = load_arch(arch)
torch.manual_seed(0)
net = Model(space, kernels, obj.get("activation", "relu6"), bool(obj.get("se", False)), 10).train()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=4e-4)
size = 224 if space == "imagenet" else 32
x = torch.randn(batch, 3, size, size)
y = torch.randint(0, 10, (batch,))


def step():
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
    loss.backward()
    opt.step()


step()
t0 = time.time()
for _ in range(steps):
    step()
print("torch images/s: %.2f" % (batch * steps / (time.time() - t0)))

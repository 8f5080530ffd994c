"""PyTorch side of scripts/bench-train.sh: times forward+backward+SGD of the
same CIFAR path network as train/nn's BenchmarkTrainStepPath (batch 64,
2 threads). Prints "torch images/s: X" and per-op-type milliseconds."""
import sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
LAYERS = [(16, 32, 1), (32, 32, 1), (32, 40, 2), (40, 40, 1), (40, 40, 1), (40, 40, 1),
          (40, 80, 2), (80, 80, 1), (80, 80, 1), (80, 80, 1), (80, 96, 1), (96, 96, 1),
          (96, 96, 1), (96, 96, 1), (96, 192, 2), (192, 192, 1), (192, 192, 1), (192, 192, 1),
          (192, 320, 1)]


def kernels(l):
    return [3 if (l + g) % 2 == 0 else 5 for g in range(3)]


class IR(nn.Module):
    def __init__(self, cin, cout, stride, ks):
        super().__init__()
        hid = cin * len(ks)
        self.cin, self.res = cin, stride == 1 and cin == cout
        self.expand = nn.Sequential(nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6())
        self.dw = nn.ModuleList([nn.Conv2d(cin, cin, k, stride, k // 2, groups=cin, bias=False) for k in ks])
        self.dwbn = nn.Sequential(nn.BatchNorm2d(hid), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.expand(x)
        parts = torch.split(h, self.cin, dim=1)
        h = torch.cat([c(p) for c, p in zip(self.dw, parts)], 1)
        h = self.project(self.dwbn(h))
        return h + x if self.res else h


class Net(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6())
        self.first = nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
                                   nn.Conv2d(32, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.layers = nn.Sequential(*[IR(i, o, s, kernels(l)) for l, (i, o, s) in enumerate(LAYERS)])
        self.head = nn.Sequential(nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6())
        self.fc = nn.Linear(1280, classes)

    def forward(self, x):
        x = self.head(self.layers(self.first(self.stem(x))))
        return self.fc(x.mean(3).mean(2))


torch.manual_seed(0)
net = Net()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=4e-4)
x = torch.randn(64, 3, 32, 32)
y = torch.randint(0, 10, (64,))


def step():
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
    loss.backward()
    opt.step()


step()
step()
t0 = time.time()
for _ in range(STEPS):
    step()
el = time.time() - t0
print("torch images/s: %.2f" % (64 * STEPS / el))

if "--profile" in sys.argv:
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))

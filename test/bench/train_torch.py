#!/usr/bin/python3
"""PyTorch CPU baseline for test/bench/train.bench.ts: median training-step time (zero_grad + forward +
cross-entropy + backward + SGD-momentum step) of the example CNN and torchvision's resnet18, one thread.
Usage: train_torch.py <model: cnn|resnet18> <batch> <size> <warmup> <runs>; prints one JSON line."""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

torch.set_num_threads(1)
name, batch, size, warmup, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
if name == "cnn":
    def blk(i, o, pool):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()] + ([nn.MaxPool2d(2)] if pool else [])
    model = nn.Sequential(*blk(1, 16, True), *blk(16, 32, True), *blk(32, 64, False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    x = torch.rand(batch, 1, size, size)
    classes = 10
else:
    import torchvision
    model = torchvision.models.resnet18(weights=None)
    x = torch.rand(batch, 3, size, size)
    classes = 1000
y = torch.randint(0, classes, (batch,))
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
times = []
for i in range(warmup + runs):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if i >= warmup:
        times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"median_ms": statistics.median(times), "torch": torch.__version__}))

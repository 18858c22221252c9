#!/usr/bin/python3
"""PyTorch CPU baseline for test/bench/train.bench.ts: training steps (zero_grad + forward + cross-entropy +
backward + SGD-momentum step) of the example CNN and torchvision's resnet18.

Usage: train_torch.py <model: cnn|resnet18> <batch> <size> [threads (default 1)]
Then serves requests on stdin, one per line: "<k>" runs k steps and prints one JSON line
{"wall_ms": [...], "cpu_ms": [...]} (per step); "quit" (or end of input) exits. The bench interleaves these
requests with its ORT steps, so both sides see the same machine load."""
import json
import sys
import time

import torch
import torch.nn as nn

name, batch, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
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
print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    line = line.strip()
    if not line or line == "quit":
        break
    wall, cpu = [], []
    for _ in range(int(line)):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    print(json.dumps({"wall_ms": wall, "cpu_ms": cpu}), flush=True)

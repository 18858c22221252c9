#!/usr/bin/python3
"""Export every classification model of Debian's torchvision the way users do, *without weight data*.

torch.onnx.export with its defaults (constant folding on, eval mode, so BatchNorm is folded into Conv and
identical initializers are de-duplicated behind Identity nodes), opsets 13 and 17, dynamic batch, at each
model's documented input size. Writes test/zoo/models/<name>_op<opset>.onnx and manifest.json.
The product and its tests never run this script; they read the committed files and materialize weights
from the seeded generator (test/corpus/materialize.ts).

Run with Debian's torch: /usr/bin/python3 test/zoo/make_zoo.py [--missing] [model ...]
(--missing: only models the manifest lacks; several runs may share the manifest; ZOO_EXPORT_OPSETS=17: one opset.)

torch's Linear runs on the system BLAS; Debian's reference libblas3 does 2 GFLOPS here (a 1370x1280 by 1280x5120
product), so vit_h_14's two 1 TMAC forwards (the count, the export's trace) take hours. With OpenBLAS (56 GFLOPS on
the same product) they take minutes; without installing it system-wide:
  apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb ob
  OPENBLAS_NUM_THREADS=1 LD_LIBRARY_PATH=$PWD/ob/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 ...
"""
import json
import os
import sys
import tempfile
import time
from collections import Counter

import torch
import torchvision
import onnx
from torchvision import models

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "corpus"))
from make_corpus import FLOAT_TYPES, SMALL_INT_NUMEL, dim_list, name_nodes, numel, strip_weights  # noqa: E402

torch.set_num_threads(1)
OUT_DIR = os.path.join(HERE, "models")


def _zero(g, self):
    """aten::zero (Swin V2's `qkv_bias[length:2 * length].zero_()`) has no ONNX symbolic in torch 1.13: zeros
    shaped like the slice, written back by the exporter's index_put. Checked: swin_v2_t's export matches torch's
    output within 1.3e-6 (onnxruntime-node, seeded weights)."""
    return g.op("Mul", self, g.op("Constant", value_t=torch.tensor(0.0)))


torch.onnx.register_custom_op_symbolic("aten::zero", _zero, 13)
# ZOO_EXPORT_OPSETS=17 exports one opset only (the largest models take ~10 minutes per export on a loaded 2-core box)
OPSETS = [int(o) for o in os.environ.get("ZOO_EXPORT_OPSETS", "13,17").split(",")]


def count_zoo_macs(model, x):
    """make_corpus's count (Conv2d, Linear, MultiheadAttention), with attention sized inside a wrapped forward:
    torchvision's ViT calls its attention with keywords only (query=, key=, value=), which a torch 1.13 forward
    hook does not see."""
    total = [0]
    hooks = []
    wrapped = {}

    def conv_hook(m, inp, out):
        kh, kw = m.kernel_size
        total[0] += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m, inp, out):
        total[0] += (out.numel() // m.out_features) * m.in_features * m.out_features

    def attention(m):
        forward = m.forward

        def call(*args, **kwargs):
            q = args[0] if args else kwargs["query"]
            k = args[1] if len(args) > 1 else kwargs["key"]
            b, l, e = q.shape if m.batch_first else (q.shape[1], q.shape[0], q.shape[2])
            s_len = k.shape[1] if m.batch_first else k.shape[0]
            # in-projection of q, k, v; Q·Kᵀ and attn·V; out-projection (same terms as make_corpus's mha_hook)
            total[0] += b * (l + 2 * s_len) * e * e + 2 * b * l * s_len * e + b * l * e * m.embed_dim
            return forward(*args, **kwargs)
        return call

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, torch.nn.MultiheadAttention):
            wrapped[m] = m.forward
            m.forward = attention(m)
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
        for m, f in wrapped.items():
            m.forward = f
    return total[0]


def input_size(name):
    """The documented evaluation crop of the model's DEFAULT weights (inception 299, efficientnet b1–b7 larger)."""
    try:
        weights = models.get_model_weights(name).DEFAULT
        crop = weights.transforms().crop_size
        return int(crop[0] if isinstance(crop, (list, tuple)) else crop)
    except Exception:
        return 224


def export(model, shape, opset):
    """What a user writes: defaults everywhere except the names, the opset and a dynamic batch. Written to a file
    (not a buffer) because a model over protobuf's 2 GB limit (vit_h_14, regnet_y_128gf) can only be written as a
    file with external data, which torch does by itself for a path; read back without that data (it is stripped)."""
    with tempfile.TemporaryDirectory(prefix="make_zoo-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        torch.onnx.export(model, (torch.randn(*shape),), path, input_names=["input"], output_names=["output"],
                          opset_version=opset, dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        return onnx.load(path, load_external_data=False)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    only = set(sys.argv[1:])
    manifest_path = os.path.join(OUT_DIR, "manifest.json")
    old = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = {e["name"]: e for e in json.load(f)["models"]}
    missing = "--missing" in only
    only.discard("--missing")
    names = [n for n in models.list_models(module=models) if (not only or n in only)
             and not (missing and all(f"{n}_op{o}.onnx" in old for o in OPSETS))]
    for name in names:
        torch.manual_seed(0)
        size = input_size(name)
        # a ViT without weights is built for 224; vit_h_14's DEFAULT weights (SWAG E2E) are at 518, as its figure is
        model = models.get_model(name, weights=None, **({"image_size": size} if name.startswith("vit_") else {})).eval()
        shape = [1, 3, size, size]
        # no_grad: the count needs no autograd record (which held every activation of regnet_y_128gf at 384, 7+ GB);
        # torchvision has no nn.TransformerEncoderLayer whose no-grad fast path would skip the attention hook
        with torch.no_grad():
            macs = count_zoo_macs(model, torch.randn(*shape))
        params = sum(p.numel() for p in model.parameters())
        for opset in OPSETS:
            fname = f"{name}_op{opset}.onnx"
            entry = {"name": fname, "model": name, "opset": opset, "inputSize": size, "torchMacs": macs, "torchParams": params}
            t0 = time.time()
            try:
                m = export(model, shape, opset)
            except Exception as e:  # recorded in the manifest: the zoo table says why
                entry["exportError"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                old[fname] = entry
                print(f"FAILED {fname}: {entry['exportError']}", flush=True)
                continue
            name_nodes(m.graph)
            hist = Counter(n.op_type for n in m.graph.node)
            big_const = sum(1 for n in m.graph.node if n.op_type == "Constant" and any(
                a.t.data_type in FLOAT_TYPES and numel(a.t) > SMALL_INT_NUMEL for a in n.attribute if a.name == "value"))
            strip_weights(m)
            path = os.path.join(OUT_DIR, fname)
            onnx.save(m, path)
            entry.update({
                "inputShape": dim_list(m.graph.input[0]),
                "outputShape": dim_list(m.graph.output[0]),
                "nodeCount": len(m.graph.node),
                "identityCount": hist.get("Identity", 0),
                "bigFloatConstants": big_const,
                "opTypes": dict(sorted(hist.items())),
                "bytes": os.path.getsize(path),
            })
            old[fname] = entry
            print(f"{fname:32s} {entry['bytes']:>8d} B nodes={entry['nodeCount']:5d} identity={entry['identityCount']:4d} "
                  f"macs={macs / 1e9:.3f}G {time.time() - t0:.0f}s", flush=True)
        write_manifest(manifest_path, [old[f"{name}_op{o}.onnx"] for o in OPSETS if f"{name}_op{o}.onnx" in old])


def write_manifest(manifest_path, entries):
    """Merge these entries into the manifest on disk (several exports may run side by side) and write it."""
    merged = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            merged = {e["name"]: e for e in json.load(f)["models"]}
    for e in entries:
        merged[e["name"]] = e
    tmp = manifest_path + f".tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"generator": "test/zoo/make_zoo.py",
                   "torchVersion": torch.__version__,
                   "torchvisionVersion": torchvision.__version__,
                   "onnxVersion": onnx.__version__,
                   "note": "torch.onnx.export defaults (constant folding on, eval mode), dynamic batch; weights "
                           "stripped as in test/corpus. torchMacs: forward-hook count over Conv2d, Linear and "
                           "MultiheadAttention at batch 1 and inputSize.",
                   "models": sorted(merged.values(), key=lambda e: e["name"])}, f, indent=1)
        f.write("\n")
    os.replace(tmp, manifest_path)


if __name__ == "__main__":
    main()

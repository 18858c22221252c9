"""Writes resources/fashion-mnist/: a gzipped IDX copy of Fashion-MNIST from Debian's dataset-fashion-mnist.

  resources/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
      the first 10 000 training images/labels and the full 10 000-image test set, in the same
      layout as resources/mnist/ (gzip with mtime=0 and no file name: byte-identical on every run).

Run with Debian's python3 (no third-party modules): /usr/bin/python3 test/corpus/make_fashion_mnist.py
"""
import gzip
import io
import os
import struct

SRC = "/usr/share/datasets/fashion-mnist"
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "fashion-mnist")
SUBSET_TRAIN = 10000


def subset_idx(raw, count):
    """Keeps the first `count` items of an IDX byte string, rewriting the count in its header."""
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = list(struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim]))
    item = 1
    for d in dims[1:]:
        item *= d
    n = min(count, dims[0])
    dims[0] = n
    head = struct.pack(">I", magic) + struct.pack(">" + "I" * ndim, *dims)
    body = raw[4 + 4 * ndim: 4 + 4 * ndim + n * item]
    assert len(body) == n * item, "truncated IDX file"
    return head + body


def write_gz(path, data):
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    with open(path, "wb") as f:
        f.write(raw.getvalue())


def main():
    os.makedirs(OUT, exist_ok=True)
    for split, count in (("train", SUBSET_TRAIN), ("t10k", 10000)):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            with gzip.open(os.path.join(SRC, name), "rb") as f:
                raw = f.read()
            write_gz(os.path.join(OUT, name), subset_idx(raw, count))
            print(name)


if __name__ == "__main__":
    main()

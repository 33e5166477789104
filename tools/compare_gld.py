#!/usr/bin/env python3
"""Compare two GLD1 arrays (e.g. `gemma4c logits --out` against a fixture golden).

Independent of the C code: reads both files with the struct module only.
Prints max |a-b|, the relative error max|a-b|/max|b|, and the top-1 agreement per row
(for [rows, cols] arrays, rows where the golden's top1-top2 margin exceeds --margin).
Exit status 1 when max |a-b| > --atol (if given) or when a top-1 disagreement happens on
a row with a margin above --margin (if given).

usage: compare_gld.py GOT.gld GOLDEN.gld [--atol X] [--margin M]
"""
import struct
import sys


def read_gld(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GLD1":
        sys.exit(f"{path}: not a GLD1 file")
    dtype, ndim = struct.unpack_from("<II", data, 4)
    dims = list(struct.unpack_from(f"<{ndim}I", data, 12))
    off = 12 + 4 * ndim
    n = 1
    for d in dims:
        n *= d
    fmt = "<%d%s" % (n, "f" if dtype == 0 else "i")
    vals = struct.unpack_from(fmt, data, off)
    return dims, vals


def main():
    args = sys.argv[1:]
    atol = margin = None
    if "--atol" in args:
        i = args.index("--atol"); atol = float(args[i + 1]); del args[i:i + 2]
    if "--margin" in args:
        i = args.index("--margin"); margin = float(args[i + 1]); del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    da, a = read_gld(args[0])
    db, b = read_gld(args[1])
    if da != db:
        sys.exit(f"shape mismatch: {da} vs {db}")
    maxd = max(abs(x - y) for x, y in zip(a, b))
    maxb = max(abs(y) for y in b) or 1.0
    cols = da[-1]
    rows = len(a) // cols
    agree = checked = 0
    bad = []
    for r in range(rows):
        ra, rb = a[r * cols:(r + 1) * cols], b[r * cols:(r + 1) * cols]
        ia = max(range(cols), key=lambda i: ra[i])
        srt = sorted(rb, reverse=True)
        ib = max(range(cols), key=lambda i: rb[i])
        m = srt[0] - srt[1] if cols > 1 else 0.0
        if margin is None or m > margin:
            checked += 1
            if ia == ib:
                agree += 1
            else:
                bad.append((r, ia, ib, m))
    print(f"shape={da} max_abs_diff={maxd:.6g} rel={maxd / maxb:.3g} "
          f"top1_agree={agree}/{checked}" + (f" (rows with margin > {margin})" if margin is not None else ""))
    for r, ia, ib, m in bad[:10]:
        print(f"  row {r}: got {ia}, golden {ib} (golden margin {m:.3f})")
    fail = (atol is not None and maxd > atol) or (margin is not None and bad)
    sys.exit(1 if fail else 0)


if __name__ == "__main__":
    main()

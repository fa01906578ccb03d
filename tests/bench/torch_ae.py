#!/usr/bin/python3
"""torch_ae.py — the PyTorch peer of tests/bench/bench_ae_net.c: the same LSTM autoencoder, data
shapes and loss, trained and run with PyTorch on the CPU, at its best:

  * torch.nn.LSTM (the fused ATen kernel, time-major) for encoder and decoder, nn.Linear output.
    nn.LSTM has two biases per gate (b_ih + b_hh) where ae_net.c has one; we accept the redundant
    one: it costs 4H adds per step and removing it would only slow torch down.
  * The decoder's input is z repeated over the T steps (expand, no copy) as in the usual LSTM-AE.
  * Inputs are built before timing (one-hot ids + number per step, [T][B][64]), so only the model
    is measured; the loss (Brier score of the softmax over the 63 slots + squared error of the
    number, masked means over present fields and valid steps) is the one of core/ae_net.h.
  * Training: Adam (lr 0.005) after clip_grad_norm_(5.0), batch 64, as train.c does.
    Inference: torch.no_grad(), window errors, batch 1024.
  * Threads: Debian's torch does its matrix products in OpenBLAS, whose own thread count
    torch.set_num_threads does not change (it stays at the number of cores). For "threads": n the
    script sets torch.set_num_threads(n) and, through ctypes, OpenBLAS to 1 and to n threads, and
    reports the better of the two for each metric (blas_threads_* say which won): torch's intra-op
    threads and OpenBLAS's both spin while waiting, and with both at n > 1 on n cores torch can be
    10 times slower, which would not be a fair peer.

Shape: T = 10, one categorical field of 63 slots + 1 numeric field (D = 64), H = 64, L = 1.
Prints one JSON line per thread count:
  {"peer":"torch","threads":n,"train_windows_per_s":...,"infer_windows_per_s":...}

  /usr/bin/python3 tests/bench/torch_ae.py [--windows 20000] [--infer-windows 50000] [--threads 1,2]
"""
import argparse
import ctypes
import json
import sys
import time

import torch
import torch.nn.functional as F

T, V0, N, H, L = 10, 63, 1, 64, 1
D = O = V0 + N
BT, BI = 64, 1024


class AE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.LSTM(D, H, L)
        self.dec = torch.nn.LSTM(H, H, L)
        self.out = torch.nn.Linear(H, O)

    def forward(self, x, lens):
        he, _ = self.enc(x)  # [T][B][H]
        z = he[lens - 1, torch.arange(x.shape[1])]  # top h at step len-1
        hd, _ = self.dec(z.unsqueeze(0).expand(x.shape[0], -1, -1))
        return self.out(hd)  # [T][B][O]


def window_errors(y, cat, num, ok, lens):
    """The loss of core/ae_net.h: per-field errors, mean over present fields, over valid steps."""
    prob = torch.softmax(y[..., :V0], dim=-1)
    brier = ((prob - F.one_hot(cat, V0).to(y.dtype)) ** 2).sum(-1)  # [T][B]
    sq = torch.where(ok, (y[..., V0:] - num) ** 2, torch.zeros_like(num))  # [T][B][N]
    present = 1 + ok.sum(-1)
    step = (brier + sq.sum(-1)) / present
    valid = torch.arange(y.shape[0])[:, None] < lens[None, :]
    return (step * valid).sum(0) / valid.sum(0)


def make_data(nb, B, g):
    """nb batches like bench_ae_net.c's: a noisy cycle through the slots, a number that tracks
    the slot. Returns (x one-hot+number [T][B][D], cat, num, ok, lens) per batch."""
    batches = []
    for _ in range(nb):
        start = torch.randint(1, V0, (B,), generator=g)
        stride = torch.randint(1, 4, (B,), generator=g)
        ids = 1 + (start[None, :] - 1 + stride[None, :] * torch.arange(T)[:, None]) % (V0 - 1)
        jump = torch.rand(T, B, generator=g) < 0.1
        ids = torch.where(jump, torch.randint(1, V0, (T, B), generator=g), ids)
        ids = torch.where(torch.rand(T, B, generator=g) < 0.02, torch.zeros_like(ids), ids)
        num = (ids.float() / V0 + 0.1 * (torch.rand(T, B, generator=g) - 0.5)).unsqueeze(-1)
        ok = torch.ones(T, B, N, dtype=torch.bool)
        lens = torch.full((B,), T, dtype=torch.long)
        x = torch.cat([F.one_hot(ids, V0).float(), num], dim=-1).contiguous()
        batches.append((x, ids, num, ok, lens))
    return batches


def openblas():
    """The OpenBLAS torch is linked with (the same library object), or None."""
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_set_num_threads  # noqa: B018 (raises if absent)
            return lib
        except (OSError, AttributeError):
            pass
    return None


def run(threads, train_windows, infer_windows):
    """(train windows/s, inference windows/s) with torch at `threads` intra-op threads."""
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    g = torch.Generator().manual_seed(5)
    nbt = (train_windows + BT - 1) // BT
    nbi = (infer_windows + BI - 1) // BI
    train = make_data(min(nbt, 256), BT, g)
    infer = make_data(nbi, BI, g)
    model = AE()
    opt = torch.optim.Adam(model.parameters(), lr=0.005)

    def step(b):
        x, cat, num, ok, lens = b
        opt.zero_grad(set_to_none=True)
        loss = window_errors(model(x, lens), cat, num, ok, lens).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss

    for k in range(10):  # warm-up
        step(train[k % len(train)])
    t0 = time.perf_counter()
    for k in range(nbt):
        loss = step(train[k % len(train)])
    tt = time.perf_counter() - t0
    with torch.no_grad():
        x, cat, num, ok, lens = infer[0]
        window_errors(model(x, lens), cat, num, ok, lens)
        t1 = time.perf_counter()
        for x, cat, num, ok, lens in infer:
            window_errors(model(x, lens), cat, num, ok, lens)
        ti = time.perf_counter() - t1
    print(f"threads {threads}: final loss {float(loss):.4f}; {1e3 * tt / nbt:.3f} ms/step",
          file=sys.stderr)
    return nbt * BT / tt, nbi * BI / ti


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=20000, help="training windows to time")
    ap.add_argument("--infer-windows", type=int, default=50000, help="inference windows to time")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    a = ap.parse_args()
    lib = openblas()
    for n in (int(x) for x in a.threads.split(",")):
        best = {}
        for b in sorted({1, n}) if lib else [None]:
            if lib:
                lib.openblas_set_num_threads(b)
            tr, inf = run(n, a.windows, a.infer_windows)
            print(f"  (OpenBLAS threads {b}: train {tr:.0f}/s, infer {inf:.0f}/s)", file=sys.stderr)
            if tr > best.get("train_windows_per_s", 0):
                best["train_windows_per_s"], best["blas_threads_train"] = round(tr, 1), b
            if inf > best.get("infer_windows_per_s", 0):
                best["infer_windows_per_s"], best["blas_threads_infer"] = round(inf, 1), b
        print(json.dumps({"peer": "torch", "threads": n, **best}), flush=True)


if __name__ == "__main__":
    main()

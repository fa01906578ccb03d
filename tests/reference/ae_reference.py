#!/usr/bin/python3
"""ae_reference.py — the PyTorch twin of core/ae_net.c, and the reference file the C test reads.

Builds the LSTM autoencoder of core/ae_net.h with explicit tensor ops (a hand-written LSTM cell,
gates i,f,g,o, one bias per gate, parameters laid out exactly as ae_param_layout lays them out),
in float64 so that it gives the exact answer for the float32 parameters it writes. For each of
two configurations it writes the shape, parameters, a batch, the window errors, the loss, the
gradient of every parameter, and the losses after each of 5 Adam steps (torch.optim.Adam, lr 0.01,
after torch.nn.utils.clip_grad_norm_) to tests/reference/ae_reference.bin. The layout of that file
is in tests/reference/README.md; tests/unit/test_ae_reference.c checks the C code against it.

Run by hand (CI has no torch) from the repo root:   /usr/bin/python3 tests/reference/ae_reference.py
and commit the .bin it writes. It is deterministic: rerunning it gives the same bytes.
"""
import os
import struct
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ae_reference.bin")
MAGIC = b"FGAEREF\0"
VERSION = 1
STEPS, LR = 5, 0.01

CONFIGS = [
    # one-hot input, one layer; the gradient norm (0.24) is below the clip norm 1.0
    dict(T=5, H=6, L=1, E=0, V=[5, 4], N=2, B=4, lens=[5, 3, 1, 4], seed=1, clip=1.0),
    # embeddings, two layers; clip norm 0.05 is below the gradient norm (about 0.1), so clipping
    # really scales the gradients in every step
    dict(T=6, H=8, L=2, E=3, V=[5, 4, 7], N=2, B=5, lens=[6, 2, 4, 1, 5], seed=2, clip=0.05),
]


def layout(cfg):
    """(name, shape) of every tensor in ae_param_layout order."""
    T, H, L, E, V, N = cfg["T"], cfg["H"], cfg["L"], cfg["E"], cfg["V"], cfg["N"]
    C, G, sv = len(V), 4 * H, sum(V)
    D = (C * E if E > 0 else sv) + N
    O = sv + N
    t = []
    if E > 0:
        t.append(("emb", (sv, E)))
    t.append(("enc_wx0", (D, G)))
    t += [(f"enc_wh{l}", (H, G)) for l in range(L)]
    t += [(f"enc_b{l}", (G,)) for l in range(L)]
    t += [(f"enc_wx{l}", (H, G)) for l in range(1, L)]
    t += [(f"dec_wx{l}", (H, G)) for l in range(L)]
    t += [(f"dec_wh{l}", (H, G)) for l in range(L)]
    t += [(f"dec_b{l}", (G,)) for l in range(L)]
    t += [("out_w", (H, O)), ("out_b", (O,))]
    return t


def views(flat, cfg):
    """Named views into the flat parameter vector (gradients flow back into it)."""
    p, off = {}, 0
    for name, shape in layout(cfg):
        n = 1
        for d in shape:
            n *= d
        p[name] = flat[off:off + n].view(*shape)
        off += n
    assert off == flat.numel()
    return p


def init_params(cfg, gen):
    """Like ae_init (not the same numbers: the C test reads these from the file): uniform(-k, k),
    k = 1/sqrt(H), forget-gate biases +1, embeddings uniform(-sqrt 3, sqrt 3). Scaled by 2 so the
    gradients of the deep parameters are not tiny and a wrong one cannot hide."""
    H = cfg["H"]
    k = 1.0 / H ** 0.5
    n = sum(int(torch.tensor(s).prod()) for _, s in layout(cfg))
    flat = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * k * 2
    p = views(flat, cfg)
    if "emb" in p:
        p["emb"].copy_((torch.rand(p["emb"].shape, generator=gen, dtype=torch.float64) * 2 - 1) * 3 ** 0.5)
    for name in p:
        if name.startswith(("enc_b", "dec_b")):
            p[name][H:2 * H] += 1.0
    return flat.float()  # the model is float32; the C code gets exactly these values


def make_batch(cfg, gen):
    T, B, V, N = cfg["T"], cfg["B"], cfg["V"], cfg["N"]
    C = len(V)
    cat = torch.stack([torch.randint(0, v, (T, B), generator=gen) for v in V], dim=-1).to(torch.int32)
    ok = (torch.rand(T, B, N, generator=gen) > 0.25).to(torch.uint8)
    num = torch.randn(T, B, N, generator=gen, dtype=torch.float64).float()
    lens = torch.tensor(cfg["lens"], dtype=torch.int32)
    valid = (torch.arange(T)[:, None] < lens[None, :].long())
    # 0 where missing (the featurizer's promise); steps past len keep junk, which must not matter.
    num = torch.where(valid[..., None] & (ok == 0), torch.zeros_like(num), num)
    return cat.reshape(T, B, C), num, ok, lens


def lstm(xw, wh, b, T):
    """One layer. xw: [T][B][4H] input projections, or [B][4H] for the same input at every step."""
    H = wh.shape[0]
    B = xw.shape[-2]
    h = torch.zeros(B, H, dtype=wh.dtype)
    c = torch.zeros(B, H, dtype=wh.dtype)
    hs = []
    for t in range(T):
        a = (xw[t] if xw.dim() == 3 else xw) + h @ wh + b
        i, f, g, o = a.split(H, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs)  # [T][B][H]


def forward(flat, cfg, cat, num, ok, lens):
    """Returns (batch loss, window errors [B])."""
    T, H, L, E, V, N, B = cfg["T"], cfg["H"], cfg["L"], cfg["E"], cfg["V"], cfg["N"], cfg["B"]
    C = len(V)
    p = views(flat, cfg)
    offs = [sum(V[:c]) for c in range(C)]
    # Encoder input x_t: one-hot (or embedding) per categorical field, then the numbers.
    parts = []
    for c in range(C):
        ids = cat[..., c].long()
        if E > 0:
            parts.append(p["emb"][offs[c] + ids])  # [T][B][E]
        else:
            parts.append(torch.nn.functional.one_hot(ids, V[c]).to(flat.dtype))
    parts.append(num.to(flat.dtype))
    x = torch.cat(parts, dim=-1)  # [T][B][D]
    h = lstm(x @ p["enc_wx0"], p["enc_wh0"], p["enc_b0"], T)
    for l in range(1, L):
        h = lstm(h @ p[f"enc_wx{l}"], p[f"enc_wh{l}"], p[f"enc_b{l}"], T)
    z = h[lens.long() - 1, torch.arange(B)]  # [B][H]: top h at step len-1
    h = lstm(z @ p["dec_wx0"], p["dec_wh0"], p["dec_b0"], T)
    for l in range(1, L):
        h = lstm(h @ p[f"dec_wx{l}"], p[f"dec_wh{l}"], p[f"dec_b{l}"], T)
    y = h @ p["out_w"] + p["out_b"]  # [T][B][O]
    # Field errors: Brier score per categorical field, squared error per present numeric.
    fe = []
    for c in range(C):
        prob = torch.softmax(y[..., offs[c]:offs[c] + V[c]], dim=-1)
        onehot = torch.nn.functional.one_hot(cat[..., c].long(), V[c]).to(flat.dtype)
        fe.append(((prob - onehot) ** 2).sum(-1))
    sv = sum(V)
    okf = ok.to(torch.bool)
    for j in range(N):
        d = y[..., sv + j] - num[..., j].to(flat.dtype)
        fe.append(torch.where(okf[..., j], d * d, torch.zeros_like(d)))
    fe = torch.stack(fe, dim=-1)  # [T][B][C+N]
    present = C + okf.sum(-1)  # [T][B]
    valid = torch.arange(T)[:, None] < lens[None, :].long()
    counted = valid & (present > 0)
    step = fe.sum(-1) / present.clamp(min=1)
    steps = counted.sum(0)
    win = torch.where(counted, step, torch.zeros_like(step)).sum(0) / steps.clamp(min=1)
    return win.mean(), win


def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy().tobytes()


def main():
    torch.set_num_threads(1)
    out = [MAGIC, struct.pack("<II", VERSION, len(CONFIGS))]
    for cfg in CONFIGS:
        gen = torch.Generator().manual_seed(cfg["seed"])
        params32 = init_params(cfg, gen)
        cat, num, ok, lens = make_batch(cfg, gen)
        C = len(cfg["V"])
        out.append(struct.pack("<7i", cfg["T"], cfg["H"], cfg["L"], cfg["E"], C, cfg["N"], cfg["B"]))
        out.append(struct.pack(f"<{C}i", *cfg["V"]))
        out.append(struct.pack("<iff", STEPS, LR, cfg["clip"]))
        out.append(struct.pack("<Q", params32.numel()))
        out.append(f32(params32))
        out.append(cat.contiguous().numpy().astype("<i4").tobytes())
        out.append(f32(num))
        out.append(ok.contiguous().numpy().astype("u1").tobytes())
        out.append(lens.numpy().astype("<i4").tobytes())

        flat = params32.to(torch.float64).clone().requires_grad_(True)
        loss, win = forward(flat, cfg, cat, num, ok, lens)
        loss.backward()
        out.append(f32(win))
        out.append(struct.pack("<f", float(loss)))
        out.append(f32(flat.grad))
        print(f"config T={cfg['T']} H={cfg['H']} L={cfg['L']} E={cfg['E']} V={cfg['V']} N={cfg['N']}"
              f" B={cfg['B']}: {params32.numel()} params, loss {float(loss):.7f},"
              f" |grad| {float(flat.grad.norm()):.5f}")

        # Adam: the losses after each of STEPS updates (clipping the global norm first).
        flat = params32.to(torch.float64).clone().requires_grad_(True)
        opt = torch.optim.Adam([flat], lr=LR, betas=(0.9, 0.999), eps=1e-8)
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            loss, _ = forward(flat, cfg, cat, num, ok, lens)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([flat], cfg["clip"])
            opt.step()
            with torch.no_grad():
                losses.append(float(forward(flat, cfg, cat, num, ok, lens)[0]))
        out.append(struct.pack(f"<{STEPS}f", *losses))
        print("  losses after Adam steps:", " ".join(f"{l:.7f}" for l in losses))
    data = b"".join(out)
    with open(OUT, "wb") as f:
        f.write(data)
    print(f"wrote {OUT} ({len(data)} bytes)")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The scaling model of README "Scaling across machines": step time of H hosts × R ranks
from parts measured by `ft-dist bench` on one host, checked against the namespace-host
measurements of bench/compare_overlap.sh.

A global batch of 16 is split evenly over the hosts. With the parts of one host's step
(bench's median split; R ranks on that host):
    C  = forward + head + backward      compute of the whole global batch on one host
    th = forward + head                 when the head's gradients (63% of the bytes) are final
    L  = the host-local shared-memory sum (one-host bench's exchange at R ranks; 0 at R = 1)
    U  = clipping norm + AdamW (+ other)  on the host's slices, the same at any H
    N  = 2·(H−1)/H · G·w / rate         the ring between hosts: G trained floats, w bytes each
                                        on the wire (4 fp32, 2 bf16), rate in bytes/s
  after the backward (--no-overlap):   step = C/H + L + N + U
  overlapped (the default):            step = C/H + L + max(N·s, th/H + N − C/H) + U
where s is the last stage's share of the bytes (layer 0's gradient, sent after the backward
ends). Efficiency = step(1 host) / (H · step(H hosts)).

With one rank per host, overlapped, full fine-tuning, the head's gradient travels as its
factors (OverlappedReduction): the ring carries G − V·C + M·(V + C) floats (M label rows of
the global batch, ≈112; V·C the tied embedding), the backward no longer computes the host's
share of dE, and after the backward every host multiplies the whole batch's factors,
P = 2·V·C·M flop — at the rate of the head's own two products (logits and dx, 4·V·C·M/H flop
in the measured head time), P = head · H / 2:
  overlapped, factored head:           step = L + max(C/H + P + N·s, th/H + N) + U

Usage:
  python3 bench/scaling_model.py check RATE_GBIT BENCH_JSON...
      predicted vs measured for namespace-host runs (BENCH_JSON from compare_overlap.sh; the
      compute parts come from each run itself, since the namespace hosts share 2 cores);
      RATE_GBIT: the link's payload rate (1 for --rate 1gbit; for the unshaped veth the
      ring's rate measured by `ft-dist doctor`).
  python3 bench/scaling_model.py project FULL_JSON LORA_JSON
      projection for 2, 4, 8 hosts × 1 rank at 1, 10 and 25 Gbit/s, full fine-tuning and LoRA,
      from one-host np=1 bench JSONs (e.g. runs/bench-methods/full-np1-1.json).
"""
import json
import sys

LAST_STAGE_SHARE_FULL = 5_573_632 / 268_098_176   # layer 0's floats / all (Gemma 3 270M)
LAST_STAGE_SHARE_LORA = 1 / 18                      # one layer's adapters of 18
VOCAB, WIDTH = 262_144, 640                         # the tied embedding [V, C]
LABEL_ROWS = 112                                    # M: label rows of a recipe global batch (≈)


def parts(bench):
    s = bench["medianSplit"]
    compute = s["forward"] + s["head"] + s["backward"]
    head_end = s["forward"] + s["head"]
    update = s["optimizer"] + s.get("other", 0)
    return compute, head_end, update


def ring_seconds(hosts, floats, wire_bytes, rate_bytes):
    return 0.0 if hosts == 1 else 2 * (hosts - 1) / hosts * floats * wire_bytes / rate_bytes


def step(hosts, compute, head_end, update, local, ring, last_share, overlap):
    per_host = compute / hosts
    if not overlap:
        return per_host + local + ring + update, ring
    exposed = max(ring * last_share, head_end / hosts + ring - per_host)
    return per_host + local + exposed + update, exposed


def factored_step(hosts, compute, head_end, head, update, local, ring, last_share):
    """Overlapped with the head as factors: the product of the whole batch's factors (P) runs
    after the backward while the ring goes on. `ring` is the time of the factored bytes."""
    per_host = compute / hosts
    product = head / 2  # `head`: one host's logits and dx of all M rows, 4·V·C·M flop; P is 2·V·C·M
    end = max(per_host + product + ring * last_share, head_end / hosts + ring)
    return local + end + update, end - per_host


def factored_floats(floats, label_rows):
    return floats - VOCAB * WIDTH + label_rows * (VOCAB + WIDTH)


def check(rate_gbit, files, label_rows=LABEL_ROWS):
    rate = rate_gbit * 1e9 / 8
    print(f"| run | overlap | measured s/step | model s/step | measured exposed (s) | model exposed (s) |")
    print("|---|---|---|---|---|---|")
    for f in files:
        b = json.load(open(f))
        floats = b["trainableParameters"]
        overlap = "overlapped" in b["gradientExchange"]
        factored = "as its factors" in b["gradientExchange"]
        wire = 2 if "bf16" in b["gradientExchange"] else 4
        share = LAST_STAGE_SHARE_FULL if floats > 1e8 else LAST_STAGE_SHARE_LORA
        # the namespace hosts' own compute split, already per host (8 examples each at H = 2)
        compute, head_end, update = parts(b)
        if factored:
            ring = ring_seconds(2, factored_floats(floats, label_rows), wire, rate)
            head = b["medianSplit"]["head"]
            # per-host parts scaled up to the whole batch, as below; P = the head's time (its
            # two products over this host's rows) · H / 2
            predicted, exposed = factored_step(2, 2 * compute, 2 * head_end, 2 * head, update, 0.0, ring, share)
        else:
            ring = ring_seconds(2, floats, wire, rate)
            # the model's terms are per host for the whole batch: scale the measured per-host
            # parts back up by H = 2 and let step() divide them again
            predicted, exposed = step(2, 2 * compute, 2 * head_end, update, 0.0, ring, share, overlap)
        measured_exposed = b["medianSplit"].get("exposedExchange") or 0
        print(f"| {f} | {'on' if overlap else 'off'} | {b['medianStepSeconds']:.2f} | {predicted:.2f} | "
              f"{measured_exposed:.2f} | {exposed:.2f} |")


def project(full_json, lora_json):
    print("| method | link | overlap | 1 host s/step | 2 hosts | 4 hosts | 8 hosts | efficiency at 2 / 4 / 8 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, path, share in (("full", full_json, LAST_STAGE_SHARE_FULL), ("LoRA", lora_json, LAST_STAGE_SHARE_LORA)):
        b = json.load(open(path))
        floats = b["trainableParameters"]
        compute, head_end, update = parts(b)
        one = compute + update
        for gbit in (1, 10, 25):
            for overlap, factors in ((True, True), (True, False), (False, False)):
                if factors and name != "full":
                    continue
                rate = gbit * 1e9 / 8
                if factors:
                    # the head as factors: the one-host head (logits, dx, dE: 6·V·C·M flop)
                    # loses its dE share on each host and gains the whole product after
                    head = b["medianSplit"]["head"]
                    two_products = head * 2 / 3
                    steps = [factored_step(h, compute - head / 3, head_end - head / 3, two_products, update, 0.0,
                                           ring_seconds(h, factored_floats(floats, LABEL_ROWS), 4, rate), share)[0]
                             for h in (2, 4, 8)]
                    label = "on (head as factors)"
                else:
                    steps = [step(h, compute, head_end, update, 0.0, ring_seconds(h, floats, 4, rate), share, overlap)[0]
                             for h in (2, 4, 8)]
                    label = "on" if overlap else "off"
                eff = " / ".join(f"{one / (h * s):.0%}" for h, s in zip((2, 4, 8), steps))
                print(f"| {name} | {gbit} Gbit/s | {label} | {one:.2f} | "
                      + " | ".join(f"{s:.2f}" for s in steps) + f" | {eff} |")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "check":
        check(float(sys.argv[2]), sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "project":
        project(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

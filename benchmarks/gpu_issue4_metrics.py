"""GPU check of the issue-4 metrics at full size (50k × 50k, d = 2048), float64 on the device.

Prints timings, peak GPU memory, and GPU-vs-CPU agreement on a 3k subset. Run on a GPU machine:
    python benchmarks/gpu_issue4_metrics.py
"""

import time

import torch

from ganeval.metrics.bootstrap import bootstrap_fid, weighted_moments
from ganeval.metrics.kid import kid
from ganeval.metrics.prdc import prdc


def timed(label, fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = fn()
    torch.cuda.synchronize()
    print(f"{label}: {time.perf_counter() - start:.2f} s, peak GPU memory "
          f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB -> {result}", flush=True)
    return result


def main():
    g = torch.Generator(device="cuda").manual_seed(0)
    n, d = 50_000, 2048
    # Non-negative, correlated, pool3-like features (float32, as stored).
    mix = torch.randn(d, d, device="cuda", generator=g) / d**0.5
    real = torch.relu(torch.randn(n, d, device="cuda", generator=g) @ mix + 0.3)
    fake = torch.relu(torch.randn(n, d, device="cuda", generator=g) @ mix + 0.35)
    print(torch.cuda.get_device_name(), flush=True)

    small_r, small_f = real[:3000], fake[:3000]
    gpu_small = timed("prdc 3k x 3k cuda", lambda: prdc(small_r, small_f))
    cpu_small = timed("prdc 3k x 3k cpu", lambda: prdc(small_r.cpu(), small_f.cpu()))
    print("3k cuda == cpu:", tuple(gpu_small) == tuple(cpu_small), flush=True)
    timed("prdc 50k x 50k cuda", lambda: prdc(real, fake))
    timed("kid 100 x 1000 cuda", lambda: kid(real, fake))
    k_cpu = timed("kid 10 x 1000 cpu (3k rows)", lambda: kid(small_r.cpu(), small_f.cpu(), num_subsets=10))
    k_gpu = timed("kid 10 x 1000 cuda (3k rows)", lambda: kid(small_r, small_f, num_subsets=10))
    print(f"kid cuda vs cpu relative difference: {abs(k_gpu.mean - k_cpu.mean) / abs(k_cpu.mean):.2e}", flush=True)
    timed("weighted_moments 50k cuda", lambda: weighted_moments(real)[1].shape)
    timed("bootstrap FID 50k, 3 resamples, cuda moments", lambda: bootstrap_fid(real, fake, num_resamples=3)[:5])


if __name__ == "__main__":
    main()

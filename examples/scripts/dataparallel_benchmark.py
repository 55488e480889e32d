"""Throughput of a compiled ResNet-50 with torch_neuronx.DataParallel over four NeuronCores.

DataParallel puts one copy of the model on every NeuronCore the process sees and splits each
batch between them. Several client threads keep the copies busy.

Replay it: ncplace replay examples/scripts/dataparallel_benchmark.py
               --mix examples/scripts/dataparallel_benchmark.yaml
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch_neuronx

os.environ.setdefault("NEURON_RT_VISIBLE_CORES", "0-3")

BATCH = 16
REQUESTS = 200
CLIENTS = 4


def benchmark(model, batch):
    latencies = []

    def one_request(_):
        start = time.perf_counter()
        model(batch)
        latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(one_request, range(REQUESTS)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return REQUESTS * BATCH / elapsed, latencies[len(latencies) // 2]


def main():
    model = torch.jit.load("resnet50_neuronx.pt")
    model_parallel = torch_neuronx.DataParallel(model)
    model_parallel.disable_dynamic_batching()

    batch = torch.rand(BATCH, 3, 224, 224)
    for _ in range(10):  # warm-up
        model_parallel(batch)

    throughput, p50 = benchmark(model_parallel, batch)
    print(f"{throughput:.1f} images/s, p50 latency {p50 * 1000:.2f} ms")


if __name__ == "__main__":
    main()

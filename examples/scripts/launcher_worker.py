"""One worker of a data-parallel inference job; a launcher starts four of them.

The launcher (``torchrun --nproc-per-node 4 launcher_worker.py``, or a shell loop) sets
LOCAL_RANK and LOCAL_WORLD_SIZE; each worker takes its quarter of the NeuronCores and puts one
copy of the model on each of them.

Replay the four workers: ncplace replay examples/scripts/launcher_worker.py:4
                             --mix examples/scripts/launcher_worker.yaml
"""

import os

import torch
import torch_neuron


def pin_to_my_cores(total_cores=16):
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    workers = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    per_worker = total_cores // workers
    first = rank * per_worker
    os.environ["NEURON_RT_VISIBLE_CORES"] = f"{first}-{first + per_worker - 1}"
    return rank


def main():
    rank = pin_to_my_cores()
    with torch_neuron.experimental.multicore_context():
        model = torch.jit.load("yolov5s_neuron.pt")
    images = torch.zeros(8, 3, 640, 640)
    detections = model(images)
    print(f"worker {rank}: {len(detections)} detections")
    return model


if __name__ == "__main__":
    served = main()

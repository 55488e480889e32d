"""Serve Llama-2-7B with transformers-neuronx, sharded over 8 NeuronCores (tensor parallelism).

Each of the 8 ranks holds an eighth of every weight matrix on its own NeuronCore. Restricting
the process to 8 cores leaves the rest of an inf2.48xlarge to two more copies of this script.

Replay three copies: ncplace replay examples/scripts/tensor_parallel_llama.py:3
                         --mix examples/scripts/tensor_parallel_llama.yaml
"""

import os
import time

import torch
from transformers import AutoTokenizer
from transformers_neuronx.llama.model import LlamaForSampling

os.environ["NEURON_RT_NUM_CORES"] = "8"
CHECKPOINT = "./Llama-2-7b-split"

neuron_model = LlamaForSampling.from_pretrained(
    CHECKPOINT, batch_size=1, tp_degree=8, amp="f16", n_positions=2048
)
neuron_model.to_neuron()

tokenizer = AutoTokenizer.from_pretrained("meta-llama/Llama-2-7b-hf")
prompt = "The best way to place models on NeuronCores is"
input_ids = tokenizer.encode(prompt, return_tensors="pt")

with torch.inference_mode():
    start = time.time()
    generated = neuron_model.sample(input_ids, sequence_length=256, top_k=50)
    print(f"generated in {time.time() - start:.2f} s")
    print(tokenizer.decode(generated[0]))

"""A TorchServe handler serving a compiled BERT, one NeuronCore per worker.

TorchServe starts one Python process per worker and gives each a ``gpu_id`` (0, 1, ...); the
handler pins its worker to that NeuronCore before loading, so that four workers use four cores.

Replay the four workers:
    ncplace replay examples/scripts/torchserve_handler.py:4 --entry NeuronBertHandler.initialize
        --mix examples/scripts/torchserve_handler.yaml
"""

import logging
import os

import torch
import torch_neuron  # noqa: F401  (registers the Neuron operators)
from transformers import AutoTokenizer
from ts.torch_handler.base_handler import BaseHandler

logger = logging.getLogger(__name__)


class NeuronBertHandler(BaseHandler):
    """Sequence classification on Inferentia."""

    def __init__(self):
        super().__init__()
        self.initialized = False

    def initialize(self, context):
        properties = context.system_properties
        model_dir = properties.get("model_dir")
        core = properties.get("gpu_id", 0)
        os.environ["NEURON_RT_VISIBLE_CORES"] = str(core)

        serialized_file = context.manifest["model"]["serializedFile"]
        model_path = os.path.join(model_dir, serialized_file)
        self.tokenizer = AutoTokenizer.from_pretrained("bert-base-cased-finetuned-mrpc")
        self.model = torch.jit.load(model_path)
        self.model.eval()
        logger.info("worker on NeuronCore %s loaded %s", core, model_path)
        self.initialized = True

    def preprocess(self, data):
        text = data[0].get("data") or data[0].get("body")
        return self.tokenizer.encode_plus(text, max_length=128, padding="max_length")

    def inference(self, inputs):
        with torch.no_grad():
            return self.model(*inputs)

    def postprocess(self, outputs):
        return [int(outputs[0].argmax())]

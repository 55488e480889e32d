"""A Triton python-backend model serving a BERT compiled as a 2-core NeuronCore Pipeline.

The model configuration asks for two instances (``instance_group [{count: 2, kind:
KIND_MODEL}]``); Triton starts one Python process per instance and names them ``bert_0_0`` and
``bert_0_1``. Each instance takes its own block of NeuronCores from its index.

Replay both instances:
    ncplace replay examples/scripts/triton/bert/1/model.py:2
        --entry TritonPythonModel.initialize --mix examples/scripts/triton.yaml
"""

import json
import os

import torch
import torch.neuron  # noqa: F401
import triton_python_backend_utils as pb_utils

CORES_PER_INSTANCE = 2


class TritonPythonModel:
    def initialize(self, args):
        self.model_config = json.loads(args["model_config"])
        instance = int(args["model_instance_name"].split("_")[-1])
        first = instance * CORES_PER_INSTANCE
        last = first + CORES_PER_INSTANCE - 1
        os.environ["NEURON_RT_VISIBLE_CORES"] = f"{first}-{last}"

        model_file = os.path.join(args["model_repository"], args["model_version"], "model.pt")
        self.model = torch.jit.load(model_file)

        output = pb_utils.get_output_config_by_name(self.model_config, "logits")
        self.output_dtype = pb_utils.triton_string_to_numpy(output["data_type"])

    def execute(self, requests):
        responses = []
        for request in requests:
            ids = pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy()
            logits = self.model(torch.as_tensor(ids))
            tensor = pb_utils.Tensor("logits", logits.numpy().astype(self.output_dtype))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses

    def finalize(self):
        self.model = None

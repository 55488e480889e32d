#!/usr/bin/env python
# coding: utf-8

# # ResNet-50 on Inferentia with torch-neuron
#
# This notebook compiles a torchvision ResNet-50 for one NeuronCore, saves the compiled model,
# loads it back and classifies an image. Exported from Jupyter with `nbconvert --to script`.
#
# Replay it: ncplace replay examples/scripts/tutorial_resnet50.py
#            --mix examples/scripts/tutorial_resnet50.yaml

# In[ ]:


get_ipython().system('pip install --upgrade torch-neuron neuron-cc[tensorflow] torchvision')


# ## Compile the model
#
# `torch.neuron.trace` compiles the model for Inferentia; the compiled model is only placed on
# a NeuronCore when it first runs.

# In[ ]:


import os
import time

import torch
import torch_neuron
from torchvision import models

os.environ["NEURON_RT_NUM_CORES"] = "1"

model = models.resnet50(pretrained=True)
model.eval()
image = torch.zeros([1, 3, 224, 224], dtype=torch.float32)

model_neuron = torch.neuron.trace(model, example_inputs=[image])
model_neuron.save("resnet50_neuron.pt")


# ## Load the compiled model and run it

# In[ ]:


model_neuron = torch.jit.load("resnet50_neuron.pt")

with torch.no_grad():
    start = time.time()
    results = model_neuron(image)
    print(f"first inference took {time.time() - start:.3f} s")

top5 = results[0].sort()[1][-5:]
print("top-5 classes:", [int(i) for i in top5])

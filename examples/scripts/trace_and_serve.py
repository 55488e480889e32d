"""Compile two models at start-up and serve them over HTTP from the same process.

torch_neuronx.trace loads each compiled model onto a NeuronCore as soon as it is traced, so
this server never writes a compiled file. With two NeuronCores, the two models get one each.

Replay it: ncplace replay examples/scripts/trace_and_serve.py
               --mix examples/scripts/trace_and_serve.yaml
"""

import torch
import torch_neuronx
from flask import Flask, jsonify, request
from torchvision.models import resnet50
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("distilbert-base-uncased-finetuned-sst-2-english")
text_model = AutoModelForSequenceClassification.from_pretrained(
    "distilbert-base-uncased-finetuned-sst-2-english", torchscript=True
)
encoded = tokenizer("placement matters", max_length=128, padding="max_length", return_tensors="pt")
example = (encoded["input_ids"], encoded["attention_mask"])

sentiment = torch_neuronx.trace(text_model.eval(), example)
vision = torch_neuronx.trace(resnet50(weights="DEFAULT").eval(), torch.rand(1, 3, 224, 224))

app = Flask(__name__)


@app.route("/sentiment", methods=["POST"])
def classify_text():
    tokens = tokenizer(request.json["text"], max_length=128, padding="max_length",
                       return_tensors="pt")
    logits = sentiment(tokens["input_ids"], tokens["attention_mask"])[0]
    return jsonify(label=int(logits.argmax()))


@app.route("/vision", methods=["POST"])
def classify_image():
    pixels = torch.tensor(request.json["pixels"]).reshape(1, 3, 224, 224)
    return jsonify(label=int(vision(pixels).argmax()))


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8080)

"""Classify product reviews with a DistilBERT compiled for Inferentia2.

The script uses packages a replay does not need (transformers, requests, OpenCV, pandas-like
helpers from the data team): a replay stands in for the ones that are not installed and lists
them.

Replay it: ncplace replay examples/scripts/missing_packages.py
               --mix examples/scripts/missing_packages.yaml
"""

import json
import os

import cv2
import requests
import torch
import torch_neuronx
from reviews_toolkit.cleaning import normalise_text
from transformers import AutoModelForSequenceClassification, AutoTokenizer

MODEL_ID = "distilbert-base-uncased-finetuned-sst-2-english"
COMPILED = "distilbert_neuronx.pt"

reviews = requests.get("https://example.com/reviews.json", timeout=10).json()
banner = cv2.imread("banner.png")

tokenizer = AutoTokenizer.from_pretrained(MODEL_ID)
model = AutoModelForSequenceClassification.from_pretrained(MODEL_ID, torchscript=True).eval()
inputs = tokenizer("a sample review", max_length=128, padding="max_length", return_tensors="pt")

if os.path.exists(COMPILED):
    classifier = torch.jit.load(COMPILED)
else:
    classifier = torch_neuronx.trace(model, (inputs["input_ids"], inputs["attention_mask"]))
    torch.jit.save(classifier, COMPILED)

labels = []
for review in reviews:
    encoded = tokenizer(normalise_text(review), max_length=128, padding="max_length",
                        return_tensors="pt")
    logits = classifier(encoded["input_ids"], encoded["attention_mask"])[0]
    labels.append(int(logits.argmax()))

with open("labels.json", "w") as out:
    json.dump(labels, out)

#!/usr/bin/env bash
# Freshly initialised (untrained) checkpoints for the five families, exported with
# `landscape export` into runs/untrained/. They exercise every command before trained
# models ship; their pictures are noise. Needs the `train` extras.
#   bash scripts/make_untrained_models.sh [OUT_DIR]
set -euo pipefail
out=${1:-runs/untrained}
mkdir -p "$out"
python -m landscape.trainers.init_checkpoint dcgan -o "$out/dcgan.safetensors"
python -m landscape.trainers.init_checkpoint pix2pix -o "$out/pix2pix.safetensors"
python -m landscape.trainers.init_checkpoint glcic -o "$out/glcic.safetensors"
python -m landscape.trainers.init_checkpoint esrgan -o "$out/esrgan.safetensors"
python -m landscape.trainers.init_checkpoint segmenter -o "$out/segmenter.safetensors"
landscape export "$out/dcgan.safetensors" -o "$out/generate.onnx"
landscape export "$out/pix2pix.safetensors" -o "$out/translate.onnx"
landscape export "$out/glcic.safetensors" -o "$out/inpaint.onnx"
landscape export "$out/esrgan.safetensors" -o "$out/upscale.onnx"
landscape export "$out/segmenter.safetensors" -o "$out/label.onnx"

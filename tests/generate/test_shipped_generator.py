"""The shipped Fashion-MNIST pair works offline at once: `npq generate --class sneaker` writes a
grid and images with no --checkpoint, and what it draws is what was asked for, judged by the
shipped classifier (an independent network trained on real images: 92.5% test accuracy)."""

import pytest
import torch
from PIL import Image

from npq.apps.generation import sample_images
from npq.cli.main import main
from npq.metrics.classifier import class_consistency, load_classifier
from npq.zoo import load_generator


def test_npq_generate_works_offline_with_the_shipped_pair(tmp_path, capsys):
    out = tmp_path / "sneakers.png"
    assert main(["generate", "--class", "sneaker", "--n", "4", "--out", str(out), "--quiet"]) == 0
    assert Image.open(out).size[0] >= 4 * 32 and len(list((tmp_path / "sneakers").glob("*_sneaker.png"))) == 4


@pytest.mark.parametrize("name, tokenizer, head, cfg, floor", [
    (None, "fmnist_bsq18", "bits", 2.0, 0.8),  # the default; its card: 92.2% at guidance 2 over 2,000 samples
    ("fmnist-leech", "fmnist_leech", "coordinates", 3.0, 0.7),  # the Λ24-SQ pair; its card: 83.6% at guidance 3
])
def test_the_shipped_generators_draw_the_asked_classes(name, tokenizer, head, cfg, floor):
    gen, tok, info = load_generator(name)
    assert info["tokenizer"] == tokenizer and info["head"] == head
    classes = torch.arange(10).repeat_interleave(6)
    images = sample_images(gen, tok, classes, cfg, seed=0)
    clf, acc = load_classifier()
    assert acc > 0.9
    assert class_consistency(clf, images, classes) >= floor  # the cards' figures over 2,000+ samples are higher

"""``npq eval-generator``: how good a class-conditional Fashion-MNIST generator is.

For each guidance scale: ``samples`` images (equal numbers per class, seeded) decoded by the
generator's tokenizer, then class consistency and the classifier Fréchet distance against the
test split (:mod:`npq.metrics.classifier`). Once: the generator's bits per token on the test
split's tokens, the tokenizer's reconstruction PSNR on the test split, and sampling speed with
and without the key/value cache.
"""

from __future__ import annotations

import math
import time

import torch

from ..data.fashion_mnist import CLASSES, load_split, to_images
from ..metrics.classifier import class_consistency, classifier_frechet, feature_stats, load_classifier
from ..utils.progress import progress_bar

__all__ = ["evaluate_generator", "sample_images", "sampling_speed"]


@torch.no_grad()
def sample_images(gen, tok, classes: torch.Tensor, cfg_scale: float, seed: int, batch_size: int = 250, progress: bool = False,
                  **sampling) -> torch.Tensor:
    """Decoded samples ``(n, 3, H, W)`` in [-1, 1] for ``classes (n,)``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    bar = progress_bar(None, f"sampling (cfg {cfg_scale:g})", progress, total=len(classes))
    for i in range(0, len(classes), batch_size):
        c = classes[i : i + batch_size]
        out.append(tok.decode(gen.sample(c, cfg_scale, generator=g, **sampling)).clamp(-1, 1))
        bar.update(len(c))
    bar.close()
    return torch.cat(out)


@torch.no_grad()
def sampling_speed(gen, batch: int = 16, repeats: int = 1) -> dict:
    """Tokens per second of :meth:`Generator.sample` with and without the key/value cache
    (guidance on: two sequences per image; the same seed, so the same tokens)."""
    classes = torch.arange(batch) % gen.cfg.num_classes
    res = {}
    for cached in (True, False):
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            gen.sample(classes, 2.0, generator=torch.Generator().manual_seed(0), use_cache=cached)
            best = min(best, time.perf_counter() - t0)
        res["cached" if cached else "uncached"] = batch * gen.cfg.length / best
    res["speedup"] = res["cached"] / res["uncached"]
    return {f"tokens_per_s_{k}" if k != "speedup" else "kv_cache_speedup": v for k, v in res.items()}


def evaluate_generator(checkpoint=None, samples: int = 10_000, cfg_scales=(2.0,), test_tokens=None, seed: int = 0,
                       batch_size: int = 250, progress: bool = True, speed: bool = True, max_test: int | None = None) -> dict:
    """The metrics of the module docstring as a dict (see ``npq eval-generator --help``)."""
    from ..zoo import load_generator

    gen, tok, info = load_generator(checkpoint)
    if [c.lower() for c in info["classes"]] != list(CLASSES):
        raise ValueError(f"eval-generator measures Fashion-MNIST generators; this one's classes are {info['classes'][:5]}...")
    clf, acc = load_classifier()
    grey, labels = load_split("test")
    test = to_images(grey)
    labels = torch.from_numpy(labels)
    res = {"generator": str(info["source"]), "head": info["head"], "tokenizer": info["tokenizer"], "step": info["step"],
           "classifier_test_accuracy": acc, "samples": samples, "seed": seed}
    # tokenizer reconstruction and the generator's bits per token on the test split
    with torch.no_grad():
        toks, sq = [], 0.0
        for i in range(0, len(test), 500):
            t = tok.encode(test[i : i + 500])
            toks.append(t)
            rec = tok.decode(t).clamp(-1, 1)
            sq += float(((rec - test[i : i + 500]) * 127.5).round().pow(2).sum())
        res["tokenizer_psnr_db"] = 10 * math.log10(255**2 / (sq / test.numel()))
        if test_tokens:
            from ..generate.tokens import TokenDataset

            ds = TokenDataset(test_tokens)
            tokens, tlabels = ds.get(range(len(ds)))
        else:
            tokens, tlabels = torch.cat(toks), labels
        if max_test:  # bits per token on the first max_test grids (a 196,560-way softmax costs 50 MFLOP a token)
            tokens, tlabels = tokens[:max_test], tlabels[:max_test]
        res["test_grids"] = len(tokens)
        nll = torch.cat([gen.nll(tokens[i : i + 500], tlabels[i : i + 500]) for i in range(0, len(tokens), 500)])
        res["test_bits_per_token"] = float(nll.double().mean() / math.log(2))
        res["test_bits_per_token_is_upper_bound"] = info["head"] == "coordinates"  # label vectors off the code also decode to tokens
    ref = feature_stats(clf, test)
    per = max(1, samples // len(CLASSES))
    classes = torch.arange(len(CLASSES)).repeat_interleave(per)
    res["by_cfg"] = {}
    for s in cfg_scales:
        imgs = sample_images(gen, tok, classes, s, seed, batch_size, progress)
        res["by_cfg"][f"{s:g}"] = {"class_consistency": class_consistency(clf, imgs, classes),
                                   "classifier_frechet": classifier_frechet(clf, imgs, ref)}
    if speed:
        res.update(sampling_speed(gen))
    return res

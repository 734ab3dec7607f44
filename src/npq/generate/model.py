"""A class-conditional autoregressive generator of npq token grids: transformer trunk + output head.

``Generator(cfg, quantizer, head="index")``: the head is any label scheme the quantizer offers
(``quantizer.label_schemes()``: ``"index"`` for every quantizer, ``"coordinates"`` for Λ24-SQ,
``"bits"`` for BSQ / LFQ, ``"levels"`` for FSQ). The quantizer embeds input tokens
(``quantizer.decode``) and is not part of the generator's weights: it comes with the tokenizer.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from ..quantize.base import Quantizer
from .heads import Head
from .transformer import GeneratorConfig, Transformer

__all__ = ["Generator"]


class Generator(nn.Module):
    """Predicts the token grid ``(b, h, w)`` of an image of class ``c`` in raster order.

    Args:
        cfg: :class:`~npq.generate.transformer.GeneratorConfig`.
        quantizer: the tokenizer's quantizer (input embeddings, label schemes).
        head: a key of ``quantizer.label_schemes()``.
        chunk: rows of logits alive at once in the index head's loss.
    """

    def __init__(self, cfg: GeneratorConfig, quantizer: Quantizer, head: str = "index", chunk: int = 1024):
        super().__init__()
        schemes = quantizer.label_schemes()
        if head not in schemes:
            raise ValueError(f"head {head!r} is not offered by {type(quantizer).__name__}: choose one of {sorted(schemes)}")
        self.cfg, self.head_name = cfg, head
        self.trunk = Transformer(cfg, quantizer.dim)
        self.head = Head(cfg.width, schemes[head], chunk)
        self.__dict__["quantizer"] = quantizer.eval()  # not a submodule: its state belongs to the tokenizer

    def _codes(self, tokens: Tensor) -> Tensor:
        q = self.quantizer
        dev = next(itertools.chain(q.buffers(), q.parameters()), tokens).device
        return q.decode(tokens.to(dev)).to(self.head.proj.weight.device)

    def _check(self, tokens: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
        h, w = self.cfg.grid
        if not isinstance(tokens, Tensor) or tokens.ndim not in (2, 3) or tokens.shape[1:] not in ((h, w), (h * w,)):
            raise ValueError(f"tokens must have shape (b, {h}, {w}), got {getattr(tokens, 'shape', type(tokens))}")
        classes = torch.as_tensor(classes, device=tokens.device).long().reshape(-1)
        if len(classes) != len(tokens):
            raise ValueError(f"{len(tokens)} token grids but {len(classes)} classes")
        if len(classes) and (int(classes.min()) < 0 or int(classes.max()) > self.cfg.num_classes):
            raise ValueError(f"classes must be 0..{self.cfg.num_classes - 1} (or {self.cfg.num_classes}: unconditional)")
        return tokens.reshape(len(tokens), h * w).long(), classes

    def hidden(self, tokens: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
        """Hidden states ``(b, L, width)`` predicting each token, and the flat tokens ``(b, L)``."""
        t, c = self._check(tokens, classes)
        return self.trunk(c, self._codes(t[:, :-1])), t

    def forward(self, tokens: Tensor, classes: Tensor) -> Tensor:
        """The training loss (scalar, nats per token; see :meth:`Head.loss`) of token grids ``tokens``
        (int64 ``(b, h, w)`` or ``(b, h, w, stages)``, the tokenizer's indices) for class
        ids ``classes`` (int64 ``(b,)``); in training mode each class is replaced by the
        null class with probability ``cfg.class_dropout``."""
        t, c = self._check(tokens, classes)
        if self.training and self.cfg.class_dropout > 0:
            drop = torch.rand(c.shape, device=c.device) < self.cfg.class_dropout
            c = c.masked_fill(drop, self.trunk.null_class)
        h = self.trunk(c, self._codes(t[:, :-1]))
        return self.head.loss(h, t)

    @torch.no_grad()
    def nll(self, tokens: Tensor, classes: Tensor) -> Tensor:
        """Negative log-likelihood of every token ``(b, L)`` in nats (see :meth:`Head.nll`)."""
        h, t = self.hidden(tokens, classes)
        return self.head.nll(h.reshape(-1, h.shape[-1]), t.reshape(-1)).view(t.shape)

    @torch.no_grad()
    def sample(self, classes: Tensor | list[int], cfg_scale: float = 1.0, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, generator: torch.Generator | None = None, use_cache: bool = True) -> Tensor:
        """Token grids ``(b, h, w)`` for ``classes (b,)`` (the null class: unconditional).

        ``cfg_scale``: classifier-free guidance, logits ``u + s (c - u)`` (1: none; the
        unconditional pass runs only when s != 1). ``generator``: a CPU ``torch.Generator`` for the
        draws (the same seed gives the same tokens with and without the cache)."""
        dev = self.head.proj.weight.device
        classes = torch.as_tensor(classes, device=dev).long().reshape(-1)
        b, L = len(classes), self.cfg.length
        guided = cfg_scale != 1.0
        cls = torch.cat([classes, torch.full_like(classes, self.trunk.null_class)]) if guided else classes
        cache = self.trunk.new_cache(len(cls), dev, self.head.proj.weight.dtype) if use_cache else None
        tokens = torch.zeros(b, 0, dtype=torch.long, device=dev)
        for i in range(L):
            if use_cache:
                codes = None if i == 0 else self._codes(tokens[:, -1:])
                if codes is not None and guided:
                    codes = torch.cat([codes, codes])
                h = self.trunk(cls if i == 0 else None, codes, cache, i)[:, -1]
            else:
                codes = self._codes(tokens)
                if guided:
                    codes = torch.cat([codes, codes])
                h = self.trunk(cls, codes)[:, -1]
            hc, hu = (h[:b], h[b:]) if guided else (h, None)
            nxt = self.head.sample(hc, hu, cfg_scale, temperature, top_k, top_p, generator).to(dev)
            tokens = torch.cat([tokens, nxt[:, None]], 1)
        return tokens.view(b, *self.cfg.grid)

"""Training class-conditional generators on token datasets (``npq train-generator CONFIG``).

The same conventions as tokenizer training: YAML config + ``key=value`` overrides, one process or
torchrun (DDP, or FSDP2 with ``train.strategy=fsdp``), EMA weights, atomic resumable checkpoints
(``--resume``), per-rank seeds. What runs at the end of a run (test-set bits per token, a sample
grid decoded by the tokenizer) also runs at step 0, so a broken evaluation fails in the first
minute instead of after the last step.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..generate.model import Generator
from ..generate.tokens import TokenDataset, token_batches
from ..generate.transformer import GENERATOR_PRESETS, GeneratorConfig
from ..utils.config import ConfigError, from_dict
from ..utils.fileio import atomic_write_text
from ..utils.progress import progress_bar
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import config_dict
from .trainer import (_check_out_dir, _gather_objects, _rng_state, _set_rng_state, clip_global_norm, ema_decay, full_state, load_module_state,
                      load_optimizer_state, lr_lambda, optimizer_state, rank_seed, setup_distributed)

__all__ = ["GenConfig", "load_generator_config", "GeneratorTrainer", "build_generator"]


@dataclass
class GenData:
    tokens: str = "runs/tokens/train"  # a token dataset folder (npq tokenize-dataset)
    eval_tokens: str | None = None  # held-out token dataset: bits per token at the start and the end
    eval_max: int = 2000  # grids evaluated at the end (the start: one batch)
    batch_size: int = 64  # global


@dataclass
class GenModel:
    preset: str | None = "tiny"  # a key of GENERATOR_PRESETS or null
    transformer: dict = field(default_factory=dict)  # GeneratorConfig overrides (width, depth, heads, dropout, ...)
    head: str = "index"  # a label scheme of the tokenizer's quantizer: index, coordinates, bits, levels
    class_dropout: float = 0.1
    chunk: int = 1024  # rows of logits alive at once in the index head's loss


@dataclass
class GenOptim:
    lr: float = 3e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    weight_decay: float = 0.05
    warmup: int = 100
    steps: int = 2000
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0


@dataclass
class GenTrain:
    out_dir: str = "runs/generator"
    ema: float = 0.999
    ema_warmup_power: float = 0.75
    strategy: str = "ddp"  # or "fsdp" (multi-process only)
    log_every: int = 20
    ckpt_every: int = 500
    image_every: int = 1000
    keep_checkpoints: int = 2
    threads: int | None = None
    sample_cfg: float = 2.0  # guidance scale of the preview grids
    sample_per_class: int = 4  # images per class (row) in the preview grids


@dataclass
class GenConfig:
    """A generator training run (``npq train-generator CONFIG``): the tokenizer and token dataset, the
    transformer and its output head, optimizer, EMA, sampling for previews and the run's
    mechanics."""
    name: str = "generator"
    seed: int = 0
    tokenizer: str | None = None  # null: the one that made data.tokens (its meta.json)
    tokenizer_config: str | None = None  # the tokenizer's training config: the dry run's stand-in copies its quantizer and grid
    data: GenData = field(default_factory=GenData)
    model: GenModel = field(default_factory=GenModel)
    optim: GenOptim = field(default_factory=GenOptim)
    train: GenTrain = field(default_factory=GenTrain)

    def to_dict(self) -> dict:
        """The config as nested plain dicts (what checkpoints and ``config.json`` store)."""
        return asdict(self)

    def transformer_config(self, grid, num_classes: int) -> GeneratorConfig:
        """The transformer's :class:`GeneratorConfig` for token grids of ``grid`` (h, w) and
        ``num_classes`` classes: the preset, then the config's explicit sizes."""
        m = self.model
        base = {}
        if m.preset is not None:
            if m.preset not in GENERATOR_PRESETS:
                raise ConfigError(f"model.preset must be one of {sorted(GENERATOR_PRESETS)} or null, got {m.preset!r}")
            base = dict(GENERATOR_PRESETS[m.preset])
        base.update(m.transformer)
        base.update(grid=tuple(grid), num_classes=int(num_classes), class_dropout=m.class_dropout)
        try:
            return GeneratorConfig(**base)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"model.transformer: {e}") from None


def load_generator_config(path: str | Path | None, overrides=()) -> GenConfig:
    """A generator config from YAML (or the defaults) with ``key=value`` overrides, validated."""
    cfg = from_dict(GenConfig, config_dict(path, overrides))
    _validate(cfg)
    return cfg


def _validate(c: GenConfig) -> None:
    def num(name, v, lo, integer=False):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (not integer or isinstance(v, int))
        if not ok or v < lo:
            raise ConfigError(f"{name} must be {'an integer' if integer else 'a number'} >= {lo}, got {v!r}")

    num("seed", c.seed, 0, True)
    num("data.batch_size", c.data.batch_size, 1, True)
    num("data.eval_max", c.data.eval_max, 1, True)
    num("model.chunk", c.model.chunk, 1, True)
    if not 0 <= c.model.class_dropout < 1:
        raise ConfigError(f"model.class_dropout must be in [0, 1), got {c.model.class_dropout!r}")
    for k in ("lr", "weight_decay", "min_lr_ratio", "grad_clip"):
        num(f"optim.{k}", getattr(c.optim, k), 0)
    num("optim.warmup", c.optim.warmup, 0, True)
    num("optim.steps", c.optim.steps, 1, True)
    if not 0 <= c.train.ema < 1:
        raise ConfigError(f"train.ema must be in [0, 1), got {c.train.ema!r}")
    if c.train.strategy not in ("ddp", "fsdp"):
        raise ConfigError(f"train.strategy must be 'ddp' or 'fsdp', got {c.train.strategy!r}")
    for k in ("log_every", "ckpt_every", "image_every", "keep_checkpoints", "sample_per_class"):
        num(f"train.{k}", getattr(c.train, k), 1, True)


def build_generator(cfg: GenConfig, quantizer, grid, num_classes: int) -> Generator:
    """The :class:`Generator` of a config for a tokenizer's ``quantizer`` (which picks the output
    head), token grids ``grid`` (h, w) and ``num_classes`` classes; ConfigError for a head the
    quantizer does not offer."""
    try:
        return Generator(cfg.transformer_config(grid, num_classes), quantizer, cfg.model.head, cfg.model.chunk)
    except ValueError as e:
        raise ConfigError(f"model.head: {e}") from None


class GeneratorTrainer:
    """Trains a :class:`~npq.generate.model.Generator` from a token dataset (see the module docstring)."""

    def __init__(self, cfg: GenConfig, resume: bool = False, progress: bool = True, force: bool = False):
        from ..zoo import load_tokenizer

        self.cfg = cfg
        self.out_dir = Path(cfg.train.out_dir)
        _check_out_dir(self.out_dir, resume, force)
        self.rank, self.world, self.device = setup_distributed()
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        if self.world > 1 and cfg.train.strategy == "fsdp" and cfg.train.ema <= 0:
            raise ValueError("train.strategy=fsdp needs train.ema > 0 (evaluation and samples use the unsharded EMA weights)")
        if cfg.data.batch_size % self.world:
            raise ValueError(f"data.batch_size ({cfg.data.batch_size}) must be divisible by the world size ({self.world})")
        self.progress = progress and self.rank == 0
        self.data = TokenDataset(cfg.data.tokens)
        self.eval_data = TokenDataset(cfg.data.eval_tokens) if cfg.data.eval_tokens else None
        if self.eval_data is not None and (self.eval_data.grid != self.data.grid or self.eval_data.meta.get("tokenizer") != self.data.meta.get("tokenizer")):
            raise ValueError(f"data.eval_tokens={cfg.data.eval_tokens} was made by another tokenizer or grid than data.tokens")
        self.tokenizer_source = cfg.tokenizer or self.data.meta.get("tokenizer")
        if not self.tokenizer_source:
            raise ValueError("no tokenizer: set tokenizer= (the token dataset's meta.json names none)")
        self.tokenizer = load_tokenizer(self.tokenizer_source)[0]
        if self.tokenizer.quantizer.codebook_size != self.data.meta.get("codebook_size", self.tokenizer.quantizer.codebook_size):
            raise ValueError(f"tokenizer {self.tokenizer_source} has another codebook than the one that made {cfg.data.tokens}")
        torch.manual_seed(cfg.seed)
        self.model = build_generator(cfg, self.tokenizer.quantizer, self.data.grid, len(self.data.classes)).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False) if cfg.train.ema > 0 else None
        if self.ema is not None:
            self.ema.__dict__["quantizer"] = self.model.quantizer
        self.wrapped = self._wrap(self.model)
        if self.rank > 0:
            torch.manual_seed(rank_seed(cfg.seed, self.rank))
        oc = cfg.optim
        # after wrapping: FSDP2 has replaced the parameters by their shards (DTensors) in place
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2 and "emb" not in n]
        rest = [p for n, p in self.model.named_parameters() if not (p.ndim >= 2 and "emb" not in n)]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": oc.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                                     lr=oc.lr, betas=tuple(oc.betas))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(oc.warmup, oc.steps, oc.min_lr_ratio))
        self.step = 0
        if resume:
            path = latest_checkpoint(self.out_dir)
            if path is not None:
                self.load_state(load_checkpoint(path))

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.world == 1:
            return module
        if self.cfg.train.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            for blk in module.trunk.blocks:
                fully_shard(blk)
            return fully_shard(module)
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        """The full checkpoint dict (step, config, weights, EMA, optimizer, every rank's RNG state); a
        collective under FSDP: call on every rank."""
        return {
            "format": "npq-generator-checkpoint",
            "step": self.step,
            "config": self.cfg.to_dict(),
            "generator": self.describe(),
            "model": full_state(self.wrapped, self.model),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt": optimizer_state(self.wrapped, self.opt),
            "sched": self.sched.state_dict(),
            "rng": _rng_state(),
            "rng_ranks": _gather_objects(_rng_state()),
        }

    def describe(self) -> dict:
        """What a generator file records to be rebuilt: transformer config, head, classes, tokenizer."""
        return {"transformer": asdict(self.model.cfg), "head": self.model.head_name, "chunk": self.cfg.model.chunk,
                "classes": self.data.classes, "tokenizer": str(self.tokenizer_source), "grid": list(self.data.grid)}

    def load_state(self, st: dict) -> None:
        """Restore a checkpoint dict from :meth:`state`; ValueError when its weights do not fit this
        config's generator."""
        try:
            load_module_state(self.wrapped, self.model, st["model"])
        except RuntimeError as e:
            raise ValueError(f"the checkpoint's weights do not fit this config's generator ({str(e).splitlines()[0]}): "
                             "resume with the config the run was started with") from None
        if self.ema is not None and st.get("ema") is not None:
            self.ema.load_state_dict(st["ema"])
        load_optimizer_state(self.wrapped, self.opt, st["opt"])
        self.sched.load_state_dict(st["sched"])
        self.step = int(st["step"])
        ranks = st.get("rng_ranks")
        _set_rng_state(ranks[self.rank] if ranks is not None and len(ranks) == self.world else st["rng"])

    # ------------------------------------------------------------------ steps
    def train_step(self, tokens: torch.Tensor, labels: torch.Tensor) -> dict:
        """One optimizer step on token grids (int64 ``(b, h, w[, stages])``) and class ids (int64
        ``(b,)``); returns the logged scalars (loss in nats per token, gradient norm,
        learning rate)."""
        self.wrapped.train()
        loss = self.wrapped(tokens.to(self.device), labels.to(self.device))
        loss.backward()
        gn = 0.0
        if self.cfg.optim.grad_clip > 0:
            gn = clip_global_norm(self.wrapped, self.cfg.optim.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.sched.step()
        self._update_ema()
        self.step += 1
        return {"loss": float(loss.detach()), "grad_norm": gn, "lr": self.sched.get_last_lr()[0]}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        d = ema_decay(self.step, self.cfg.train.ema, self.cfg.train.ema_warmup_power)
        src = full_state(self.wrapped, self.model)  # whole tensors (a collective under FSDP)
        for k, v in self.ema.state_dict().items():
            s = src[k].to(v.device, v.dtype)
            if v.is_floating_point():
                v.mul_(d).add_(s, alpha=1 - d)
            else:
                v.copy_(s)

    def _eval_model(self) -> Generator:
        return self.ema if self.ema is not None else self.model

    @torch.no_grad()
    def evaluate(self, max_items: int) -> dict:
        """Bits per token of the (EMA) generator on the held-out tokens (every rank its share)."""
        if self.eval_data is None:
            return {}
        model = self._eval_model()
        was = model.training
        model.eval()
        n = min(max_items, len(self.eval_data))
        idx = torch.arange(n)[self.rank :: self.world].numpy()
        total, count = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        for i in range(0, len(idx), 256):
            t, c = self.eval_data.get(idx[i : i + 256])
            nll = model.nll(t.to(self.device), c.to(self.device))
            total += nll.double().sum().cpu()
            count += nll.numel()
        if self.world > 1:
            v = torch.stack([total, count]).to(self.device)
            dist.all_reduce(v)
            total, count = v.cpu()
        model.train(was)
        return {"eval_bits_per_token": float(total / max(float(count), 1.0) / math.log(2)), "eval_grids": n}

    @torch.no_grad()
    def sample_grid(self, per_class: int | None = None):
        """A grid of ``per_class`` samples for each class (rows), decoded by the tokenizer, as a
        PIL image; written to ``images/samples_<step>.png`` by rank 0."""
        from ..generate.grid import image_grid

        if self.rank != 0:
            return None
        model = self._eval_model()
        per_class = per_class or self.cfg.train.sample_per_class
        k = len(self.data.classes)
        classes = torch.arange(min(k, 10)).repeat_interleave(per_class)
        g = torch.Generator().manual_seed(self.cfg.seed)
        was = model.training
        model.eval()
        tokens = model.sample(classes, self.cfg.train.sample_cfg, generator=g)
        model.train(was)
        images = self.tokenizer.decode(tokens.cpu())
        grid = image_grid(images, [self.data.classes[int(c)] for c in classes[::per_class]], per_class)
        from ..utils.fileio import atomic_write

        atomic_write(self.out_dir / "images" / f"samples_{self.step:08d}.png", lambda f: grid.save(f, format="PNG"))
        return grid

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0 writes; every rank must call); its path on
        rank 0, else None."""
        st = self.state()
        if self.rank == 0:
            return save_checkpoint(st, self.out_dir, self.step, self.cfg.train.keep_checkpoints)
        return None

    def _log(self, logs: dict) -> None:
        if self.rank == 0:
            with open(self.out_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(logs) + "\n")

    def run(self, steps: int | None = None) -> dict:
        """Train to ``steps`` (default ``optim.steps``); evaluation and a sample grid at the start
        (one batch) and at the end; returns a summary with the final figures."""
        cfg = self.cfg
        total = steps if steps is not None else cfg.optim.steps
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))
        if self.step == 0:  # the end's work, once, before the first step
            start = self.evaluate(min(cfg.data.eval_max, 64))
            self.sample_grid(per_class=1)
            self._log({"step": 0, **start})
        it = token_batches(self.data, cfg.data.batch_size, self.rank, self.world, cfg.seed, self.step)
        bar = progress_bar(None, cfg.name, self.progress, total=total, initial=self.step)
        t0, seen, last = time.perf_counter(), 0, {}
        while self.step < total:
            tokens, labels = next(it)
            logs = self.train_step(tokens, labels)
            seen += len(tokens) * self.world * tokens[0].numel()
            if self.step % cfg.train.log_every == 0 or self.step == total:
                logs.update(step=self.step, tokens_per_s=seen / max(time.perf_counter() - t0, 1e-9))
                if self.world > 1:
                    v = torch.tensor([logs["loss"]], dtype=torch.float64, device=self.device)
                    dist.all_reduce(v)
                    logs["loss"] = float(v) / self.world
                last = logs
                self._log(logs)
                bar.set_postfix(loss=f"{logs['loss']:.3f}")
            if self.step % cfg.train.image_every == 0 and self.step != total:
                self.sample_grid()
            if self.step % cfg.train.ckpt_every == 0 or self.step == total:
                self.save()
            bar.update(1)
        bar.close()
        final = self.evaluate(cfg.data.eval_max)
        self.sample_grid()
        if final:
            self._log({"step": self.step, **final})
        return {"steps": self.step, "seconds": time.perf_counter() - t0, "last": last, **final, "out_dir": str(self.out_dir)}

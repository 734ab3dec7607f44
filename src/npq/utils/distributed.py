"""torch.distributed helpers (codebook statistics, metrics); no-ops without an initialized group.

Every helper is a collective that all ranks call the same number of times with tensors of the
same shape, whatever their local data (empty batches included), so nothing can hang.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["is_distributed", "world_size", "rank", "all_reduce_sum", "gather_samples"]


def is_distributed() -> bool:
    """Whether a torch.distributed process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of ranks (1 outside torch.distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 outside torch.distributed)."""
    return dist.get_rank() if is_distributed() else 0


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum ``t`` (any shape) over ranks, in place; returns ``t`` (unchanged outside torch.distributed)."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_samples(x: Tensor, max_per_rank: int, seed: int = 0) -> Tensor:
    """Up to ``max_per_rank`` random rows of ``x`` (n, d) from every rank, concatenated in rank order.

    Ranks with fewer (or zero) rows contribute what they have. Identical on all ranks. The local
    choice uses its own generator (seeded by ``seed`` and the rank), so that callers' shared
    generators stay in step across ranks whatever the local batch sizes.
    """
    n, d = x.shape
    take = min(n, max_per_rank)
    rank = dist.get_rank() if is_distributed() else 0
    local_gen = torch.Generator().manual_seed(int(seed) * 1009 + rank)
    perm = torch.randperm(n, generator=local_gen, device="cpu")[:take].to(x.device)
    local = x.new_zeros(max_per_rank, d)
    local[:take] = x[perm]
    if not is_distributed():
        return local[:take]
    count = torch.tensor([take], device=x.device)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    bufs = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(bufs, local.contiguous())
    return torch.cat([b[: int(c)] for b, c in zip(bufs, counts)])

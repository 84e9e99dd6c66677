"""One training code path for 1 to N processes: which process this is, its device, who writes.

Under `torchrun --nproc_per_node N` (or any launcher that sets RANK, WORLD_SIZE and LOCAL_RANK)
`World.from_env()` joins the process group: NCCL on GPUs, gloo on CPUs. Each process trains on its
own device (GPU `LOCAL_RANK`) and on its own share of every global batch; DistributedDataParallel
averages the gradients, so N processes of `per_device_batch_size` b step like one process of b x N.
Only rank 0 writes (checkpoints, the adapter, metrics); every rank reads the same checkpoint on
resume. Without those variables it is the single process of before, world size 1, and nothing
is initialised.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The one process that writes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls) -> World:
        """This process's place, joining the process group when launched as one of several."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        import torch
        import torch.distributed as dist

        world = cls(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
        if torch.cuda.is_available():
            torch.cuda.set_device(world.local_rank)  # "cuda" then means this process's GPU
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        log.info("rank %d of %d (local rank %d)", world.rank, world.world_size, world.local_rank)
        return world

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def shard(self, items: list, per_device: int) -> list:
        """This rank's share of a global micro-batch of up to `per_device` x world size items:
        consecutive slices, rank 0 first (a short last batch leaves the last ranks fewer, or none)."""
        return items[self.rank * per_device : (self.rank + 1) * per_device]

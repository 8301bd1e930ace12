"""Networks that read a molecule column (features.molecule): graph encoders over its atoms and bonds, and
an MLP over its Morgan fingerprint. Each gives one feature vector per row, which joins the table encoder's
output in nets.columns.ColumnNetwork, as an image's CNN features do.

Message passing is PyTorch Geometric's (imported lazily: the `molecules` extra), which runs in pure
PyTorch without its compiled extensions:
- GINE (Hu et al. 2020, "Strategies for pre-training graph neural networks"): GIN layers whose messages
  add the bond's embedding, with residual connections; sum and mean pooling.
- AttentiveFP (Xiong et al. 2020): graph attention over atoms, then attention over the molecule as a
  super-node for a few timesteps; the strongest published graph network on ESOL and Tox21.

A graph encoder works in two steps so explanations can integrate along the embeddings: `embed(slots)`
gives one vector per atom or bond slot [rows, slots, width] (zero on padding), `read(embedded, slots)`
passes messages and pools.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from lamina.features.molecule import ATOM, BOND


class CodeEmbedding(nn.Module):
    """One embedding per field, summed (as OGB's AtomEncoder): codes [..., fields] → [..., width]."""

    def __init__(self, codes: list[int], width: int):
        super().__init__()
        self.fields = nn.ModuleList(nn.Embedding(n, width) for n in codes)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return sum(embedding(codes[..., i]) for i, embedding in enumerate(self.fields))


class GraphEncoder(nn.Module):
    def __init__(self, spec: dict, layout: Literal["gine", "attentivefp"], width: int, depth: int, dropout: float):
        """`width`: dimensions of every atom, bond and hidden vector; `depth`: message-passing layers."""
        super().__init__()
        self.layout = layout
        self.atoms = CodeEmbedding(spec["atom_codes"], width)
        self.bonds = CodeEmbedding(spec["bond_codes"], width)
        if layout == "attentivefp":
            from torch_geometric.nn.models import AttentiveFP

            # 2 timesteps of molecule-level attention, as the paper's ESOL and Tox21 settings.
            self.passing = AttentiveFP(width, width, width, edge_dim=width, num_layers=depth, num_timesteps=2,
                                       dropout=dropout)
            self.features = width
        else:
            from torch_geometric.nn import GINEConv

            self.layers = nn.ModuleList(
                GINEConv(nn.Sequential(_before_norm(nn.Linear(width, width)), nn.BatchNorm1d(width), nn.ReLU(),
                                       _before_norm(nn.Linear(width, width))), train_eps=True)
                for _ in range(depth))  # each layer's output goes through its norm below
            self.norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(depth))
            self.dropout = nn.Dropout(dropout)
            self.features = 2 * width  # sum and mean pooling side by side

    def forward(self, slots: torch.Tensor) -> torch.Tensor:
        slots = slots[:, :int((slots[..., 0] != 0).sum(dim=1).max())]  # the batch's padding beyond its largest
        is_atom, is_bond = slots[..., 0] == ATOM, slots[..., 0] == BOND
        atoms = self.atoms(slots[is_atom][:, 1:1 + len(self.atoms.fields)].long())
        bonds = self.bonds(slots[is_bond][:, 3:3 + len(self.bonds.fields)].long())
        return self._pass_messages(atoms, bonds, slots)

    def embed(self, slots: torch.Tensor) -> torch.Tensor:
        """int16 slots [rows, slots, SLOT_WIDTH] → float [rows, slots, width]: atom slots hold their atom's
        embedding, bond slots their bond's, padding zero (what explanations integrate along)."""
        embedded = torch.zeros(*slots.shape[:2], self.atoms.fields[0].embedding_dim)
        is_atom, is_bond = slots[..., 0] == ATOM, slots[..., 0] == BOND
        embedded[is_atom] = self.atoms(slots[is_atom][:, 1:1 + len(self.atoms.fields)].long())
        embedded[is_bond] = self.bonds(slots[is_bond][:, 3:3 + len(self.bonds.fields)].long())
        return embedded

    def read(self, embedded: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """Embedded slots [rows, slots, width] (from `embed`) → molecule vectors [rows, features]."""
        return self._pass_messages(embedded[slots[..., 0] == ATOM], embedded[slots[..., 0] == BOND], slots)

    def _pass_messages(self, atoms: torch.Tensor, bonds: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """Atom vectors [atoms in the batch, width] and bond vectors [bonds, width], row by row in slot order,
        → molecule vectors [rows, features]. Every row has at least one atom (features.molecule)."""
        from torch_geometric.nn import global_add_pool, global_mean_pool

        rows = len(slots)
        is_atom, is_bond = slots[..., 0] == ATOM, slots[..., 0] == BOND
        per_row = is_atom.sum(dim=1)
        first = per_row.cumsum(0) - per_row  # index of each row's first atom among the batch's atoms
        batch = torch.repeat_interleave(torch.arange(rows, device=slots.device), per_row)
        ends = slots[is_bond][:, 1:3].long() + first[is_bond.nonzero()[:, 0], None]
        edges = torch.cat([ends.T, ends.flip(1).T], dim=1)  # both directions
        bonds = bonds.repeat(2, 1)
        if self.layout == "attentivefp":
            return self.passing(atoms, edges, bonds, batch)
        hidden = atoms
        for conv, norm in zip(self.layers, self.norms, strict=True):
            hidden = hidden + self.dropout(torch.relu(norm(conv(hidden, edges, bonds))))
        return torch.cat([global_add_pool(hidden, batch, rows), global_mean_pool(hidden, batch, rows)], dim=1)


def _before_norm(dense: nn.Linear) -> nn.Linear:
    """`dense`, its bias held at its initial value, as a batch norm follows (nets.mlp does the same): the norm
    subtracts the batch mean, so the bias gets only rounding noise as gradient, which Adam scales up to
    learning-rate-sized steps that move the eval-mode outputs, and a run would depend on the thread count its sums
    were taken with. Kept, not removed: saved models keep their tensors, the random initialisation stays the same."""
    dense.bias.requires_grad_(False)
    return dense


class FingerprintMLP(nn.Module):
    """Morgan fingerprint bits [rows, bits] → [rows, width] through `depth` ReLU layers: the fast baseline."""

    def __init__(self, bits: int, width: int, depth: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        for layer in range(depth):
            layers += [nn.Linear(bits if layer == 0 else width, width), nn.ReLU(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.features = width

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        return self.body(bits.float())


def example_inputs(name: str, spec: dict, rows: int) -> dict[str, torch.Tensor]:
    """Random chain molecules of 1 to 5 atoms for the molecule column `name`: the registry test's inputs."""
    from lamina.features.molecule import SLOT_WIDTH

    generator = torch.Generator().manual_seed(0)
    atoms = [1 + i % 5 for i in range(rows)]
    slots = torch.zeros(rows, 2 * max(atoms) - 1, SLOT_WIDTH, dtype=torch.int16)
    for row, count in enumerate(atoms):
        for atom in range(count):
            codes = [int(torch.randint(0, n, (1,), generator=generator)) for n in spec["atom_codes"]]
            slots[row, atom, :1 + len(codes)] = torch.tensor([ATOM, *codes])
        for bond in range(count - 1):
            codes = [int(torch.randint(0, n, (1,), generator=generator)) for n in spec["bond_codes"]]
            slots[row, count + bond, :3 + len(codes)] = torch.tensor([BOND, bond, bond + 1, *codes])
    bits = torch.randint(0, 2, (rows, spec["fingerprint_bits"]), generator=generator, dtype=torch.uint8)
    return {f"molecule:{name}": slots, f"fingerprint:{name}": bits}

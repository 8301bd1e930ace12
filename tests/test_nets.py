import pytest
import torch

from lamina.errors import LaminaError
from lamina.nets.build import ARCHITECTURES, build_network

SPEC = {"numbers": 5, "categories": [4, 7], "texts": {"review.text": {"vocabulary": 50, "pad": 0, "length": 9}},
        "images": {}}
IMAGE = {"channels": 3, "size": 12, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]}
# Per architecture: the inputs it reads and small hyperparameters. A new registry entry needs a line here.
CASES = {
    "mlp": (SPEC, {"width": 8, "depth": 2, "dropout": 0.1, "norm": "batch"}),
    "resnet": ({**SPEC, "images": {"photo.file": IMAGE}},
               {"width": 4, "depth": 2, "dropout": 0.1, "crop_padding": 2, "flip": True, "cutout": 4}),
    "resnet18": ({**SPEC, "images": {"photo.file": IMAGE}},
                 {"dropout": 0.1, "crop_padding": 2, "flip": True, "cutout": 4}),
    "gru": (SPEC, {"width": 8, "depth": 2, "dropout": 0.1}),
    "lstm": (SPEC, {"width": 8, "depth": 1, "dropout": 0.1}),
    "transformer": (SPEC, {"width": 16, "depth": 2, "dropout": 0.1}),
    "pretrained": (SPEC, {"dropout": 0.1, "config": {
        "model_type": "bert", "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 32, "max_position_embeddings": 16, "pad_token_id": 0}}),
}


def batch(rows=6):
    return {
        "numbers": torch.randn(rows, 5),
        "categories": torch.stack([torch.randint(0, 4, (rows,)), torch.randint(0, 7, (rows,))], dim=1),
        # Right-padded like the tokenizer's output: rows of 1 to 9 tokens.
        "text:review.text": torch.randint(1, 50, (rows, 9)) * (torch.arange(9) < torch.arange(1, rows + 1).view(-1, 1) % 10),
        "image:photo.file": torch.randint(0, 256, (rows, 3, 12, 12), dtype=torch.uint8),
    }


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_runs_forward_and_backward(name):
    torch.manual_seed(0)
    spec, hyperparameters = CASES[name]
    network = build_network(name, spec, 3, **hyperparameters)
    out = network(batch())
    assert out.shape == (6, 3)
    out.sum().backward()
    grads = [p.grad for p in network.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_an_unknown_architecture_names_the_registered_ones():
    with pytest.raises(LaminaError, match="'mpl'.*Did you mean 'mlp'"):
        build_network("mpl", SPEC, 2)

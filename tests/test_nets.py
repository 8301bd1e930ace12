import pytest
import torch

from lamina.errors import LaminaError
from lamina.nets.build import ARCHITECTURES, TABLE_EXAMPLE, build_network, example_batch

SPEC = TABLE_EXAMPLE


@pytest.mark.parametrize("key", sorted(ARCHITECTURES), ids=lambda key: ":".join(key))
def test_every_architecture_runs_forward_and_backward(key):
    """Iterates the registry itself: an entry is tested the moment it is registered, with its own example."""
    torch.manual_seed(0)
    reads, name = key
    spec, hyperparameters = ARCHITECTURES[key].example
    network = build_network(name, spec, 3, reads=reads, **hyperparameters)
    inputs, shape = example_batch(reads, spec, 3)
    out = network(inputs)
    assert out.shape == shape
    out.sum().backward()
    grads = [p.grad for p in network.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_an_unknown_architecture_names_the_registered_ones():
    with pytest.raises(LaminaError, match="'mpl'.*Did you mean 'mlp'"):
        build_network("mpl", SPEC, 2)

import itertools

import pytest
import torch
from torch import nn

from lamina.errors import LaminaError
from lamina.nets.build import ARCHITECTURES, TABLE_EXAMPLE, build_network, example_batch

SPEC = TABLE_EXAMPLE


@pytest.mark.parametrize("key", sorted(ARCHITECTURES), ids=lambda key: ":".join(key))
def test_every_architecture_runs_forward_and_backward_with_no_trainable_bias_before_a_batch_norm(key):
    """Iterates the registry itself: an entry is tested the moment it is registered, with its own example. A batch
    norm subtracts the batch mean: a bias before it gets only rounding noise as gradient, which Adam turns into
    steps that make a run depend on its thread count, so none is trained (layers read in the order they run)."""
    torch.manual_seed(0)
    reads, name = key
    spec, hyperparameters = ARCHITECTURES[key].example
    network = build_network(name, spec, 3, reads=reads, **hyperparameters)
    ran = []
    for module in network.modules():
        if not list(module.children()):
            module.register_forward_hook(lambda module, inputs, output: ran.append(module))
    inputs, shape = example_batch(reads, spec, 3)
    out = network(inputs)
    assert out.shape == shape
    trained_bias = [f"{type(layer).__name__} {i}" for i, (layer, following) in enumerate(itertools.pairwise(ran))
                    if isinstance(layer, (nn.Linear, nn.modules.conv._ConvNd)) and layer.bias is not None
                    and layer.bias.requires_grad and isinstance(following, nn.modules.batchnorm._BatchNorm)]
    assert not trained_bias, trained_bias
    out.sum().backward()
    grads = [p.grad for p in network.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_an_unknown_architecture_names_the_registered_ones():
    with pytest.raises(LaminaError, match="'mpl'.*Did you mean 'mlp'"):
        build_network("mpl", SPEC, 2)

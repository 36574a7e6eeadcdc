"""The oracle for lesson 5: hand-written SGD equals torch.optim.SGD on the same torch.nn net."""

from __future__ import annotations

import pytest
import torch

from rung.scratch.mirrors import ScalarBias, torch_module, train_torch
from rung.scratch.nets import COURSE_NETS, train_net


@pytest.mark.parametrize("name", list(COURSE_NETS))
def test_manual_sgd_equals_torch_optim_sgd(lesson5, name):
    net = COURSE_NETS[name]
    init = net.init(12, torch.Generator().manual_seed(442))
    module = torch_module(name, init)
    torch.testing.assert_close(  # the same function before training
        module(lesson5.train_x).reshape(-1), net.predict(init, lesson5.train_x).reshape(-1)
    )
    trained = train_net(net, lesson5.train_x, lesson5.train_y, params=init)
    library_losses = train_torch(module, lesson5.train_x, lesson5.train_y, net.lr, net.epochs)

    assert library_losses == pytest.approx(trained.losses, rel=1e-5)
    # parameter by parameter: rebuild a module from the scratch result and compare weights
    expected = torch_module(name, trained.params).state_dict()
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-5, atol=1e-6)


def test_scalar_bias_has_one_gradient_for_all_units():
    bias = ScalarBias(0.0)
    bias(torch.zeros(4, 10)).sum().backward()
    assert bias.bias.shape == () and bias.bias.grad.item() == 40.0


def test_torch_module_names_the_nets_it_knows():
    with pytest.raises(KeyError, match="choose one of"):
        torch_module("resnet", [])

"""Building on the meta device within a budget: every registered builder builds there (so a
model file is checked before anything is allocated), round-trips through a model file, and a
build that asks for too much is stopped before it allocates."""

from __future__ import annotations

import pytest
import torch

from rung.modelfile import load_model_file, save_model_file
from rung.models.meta import (
    BudgetExceededError,
    DoesNotFitError,
    TensorBudget,
    build_checked,
    build_for_real,
    build_within,
    layout_problems,
    state_numel,
)
from rung.models.registry import build_model, list_models, rebuild_model

LINEAR = {"name": "tabular_linear", "kwargs": {"cardinalities": [3, 4], "n_cont": 2, "n_out": 2}}
NET = {"name": "tabular", "kwargs": {"emb_szs": [[3, 2], [4, 3]], "n_cont": 2, "n_out": 2, "layers": [8]}}  # fmt: skip
# An example of every model rung registers: a new builder fails test_every_builder_has_an_example
EXAMPLES = {
    "mlp": {"n_in": 3, "n_out": 2, "layers": [4], "batchnorm": True},
    "timm": {"arch": "test_vit", "n_classes": 3, "pretrained": False},
    "tabular": NET["kwargs"],
    "tabular_linear": LINEAR["kwargs"],
    "tabular_trees": {"n_nodes": 7, "n_trees": 2, "n_features": 4, "n_out": 2, "max_depth": 2},
    "tabular_ensemble": {"members": [LINEAR, NET], "weights": [1, 2]},
    "hf_text": {
        "hf_config": {"model_type": "bert", "vocab_size": 50, "hidden_size": 8,
                      "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16},
        "n_out": 1, "y_range": [0.0, 1.0],
    },
}  # fmt: skip


def test_every_builder_has_an_example():
    assert {name for name in list_models() if not name.startswith(("test_", "doc_"))} == set(
        EXAMPLES
    )


def layout(model: torch.nn.Module) -> dict:
    return {k: (v.dtype, tuple(v.shape)) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_builder_builds_on_meta_and_round_trips_through_a_model_file(tmp_path, name):
    torch.manual_seed(0)
    model = build_model(name, **EXAMPLES[name]).eval()
    with torch.no_grad():  # distinct values everywhere, buffers too (trees are all zeros)
        for i, tensor in enumerate(model.state_dict().values()):
            tensor.copy_(torch.arange(tensor.numel()).reshape(tensor.shape) % 7 + i)
    spec = {"name": name, "kwargs": EXAMPLES[name]}
    checked = build_checked(lambda: rebuild_model(spec), layout(model))
    assert all(t.is_meta for t in checked.state_dict().values())  # no memory, no fallback
    assert state_numel(checked) == state_numel(model)

    loaded, _ = load_model_file(save_model_file(tmp_path / "m.rung", model))
    state = loaded.state_dict()
    assert layout(loaded) == layout(model)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_the_budget_charges_factories_before_they_allocate_and_views_not_at_all():
    with TensorBudget(max_numel=10**6, max_tensors=10) as budget:
        x = torch.zeros(100, 100)
        x.view(-1).add_(1).t()  # a view, an in-place op, a view: free
        torch.cat([x, x])  # a fresh output: charged after
    assert (budget.numel, budget.tensors) == (30_000, 2)
    with pytest.raises(BudgetExceededError, match="more than 1,000,000 numbers"):
        with TensorBudget(max_numel=10**6, max_tensors=10):
            torch.empty(10**12)  # would fail in the allocator, or worse, succeed
    with pytest.raises(BudgetExceededError, match="more than 1,000,000 numbers"):
        with TensorBudget(max_numel=10**6, max_tensors=10):
            torch.empty(0).resize_(10**7)  # in place, but allocating
    with pytest.raises(BudgetExceededError, match="more than 10 tensors") as e:
        build_within(
            lambda: torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(100)]), 10**6, 10
        )
    assert (e.value.what, e.value.limit) == ("tensors", 10)


def test_a_builder_that_fails_on_meta_is_built_on_the_cpu_within_the_weights_budget():
    def reads_a_value(width: int) -> torch.nn.Module:
        torch.ones(1).item()  # raises on meta
        return torch.nn.Linear(width, width, bias=False)

    built = build_checked(lambda: reads_a_value(4), {"weight": (torch.float32, (4, 4))})
    assert built.weight.device.type == "cpu" and build_for_real(lambda: 0, built) is built
    with pytest.raises(BudgetExceededError):  # 8 * 16 + 2**20 numbers allowed, 2**22 asked
        build_checked(lambda: reads_a_value(2**11), {"weight": (torch.float32, (4, 4))})


def test_buffers_outside_the_state_dict_count_towards_what_a_model_declares():
    class Hidden(torch.nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))
            self.register_buffer("cache", torch.zeros(n), persistent=False)

    found = {"w": (torch.float32, (2,))}
    assert state_numel(build_checked(lambda: Hidden(1000), found)) == 1002
    with pytest.raises(DoesNotFitError, match="numbers in buffers the weights don't hold") as e:
        build_checked(lambda: Hidden(2**25), found)
    assert (e.value.declared, e.value.held) == (2**25 + 2, 2)


def test_layout_problems_name_keys_shapes_and_dtypes():
    f32, f16, i64 = torch.float32, torch.float16, torch.int64
    expected = {"a": (f32, (2,)), "b": (i64, ()), "c": (f32, (3,))}
    assert layout_problems(expected, {"a": (f16, (2,)), "b": (i64, ()), "c": (f32, (3,))}) == []
    assert layout_problems(expected, {"a": (f32, (2,)), "b": (f32, ()), "d": (f32, (1,))}) == [
        "1 missing keys (c)",
        "1 unexpected keys (d)",
        "1 dtype mismatches (b: file float32 vs model int64)",
    ]

"""The hf_text model: a transformer rebuilt from its JSON config with no hub, body/head groups,
scores clipped to the training range when predicting."""

from __future__ import annotations

import json

import pytest
import torch

from rung.models.registry import build_model, model_spec, rebuild_model
from rung.param_groups import freeze_to
from rung.text.models import CPU_ATTENTION, cpu_float32_attention, resolve_source, text_model

TINY = {
    "model_type": "bert", "vocab_size": 200, "hidden_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64,
}  # fmt: skip


def _batch():
    ids = torch.tensor([[101, 5, 6, 102], [101, 7, 102, 0]])
    return ids, (ids != 0).long()


def test_forward_gives_one_logit_per_output():
    torch.manual_seed(0)
    model = build_model("hf_text", hf_config=TINY, n_out=3).eval()
    assert model(*_batch()).shape == (2, 3)


def test_padding_does_not_change_a_row(tiny_model_dir):
    model = text_model(tiny_model_dir, n_out=1).eval()
    ids = torch.tensor([[101, 5, 6, 102]])
    padded = torch.tensor([[101, 5, 6, 102, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    assert torch.allclose(model(ids, torch.ones_like(ids)), model(padded, mask), atol=1e-5)


def test_scores_are_clipped_to_the_range_when_not_training():
    torch.manual_seed(0)
    model = build_model("hf_text", hf_config=TINY, n_out=1, y_range=[0.0, 1.0])
    model.init_output_bias(torch.tensor([5.0]))  # every raw score far above the range
    assert (model.train()(*_batch()) > 1).all()  # training sees raw outputs (their gradient)
    assert model.eval()(*_batch()).tolist() == [[1.0], [1.0]]


def test_param_groups_are_embeddings_body_head_and_cover_every_parameter():
    model = build_model("hf_text", hf_config=TINY, n_out=2)
    groups = model.param_groups()
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    head = {id(p) for p in model.model.classifier.parameters()}
    assert {id(p) for p in groups[2]} == head
    embeddings = {id(p) for p in model.body.embeddings.parameters()}
    assert {id(p) for p in groups[0]} == embeddings
    freeze_to(model, groups, -1, train_bn=False)  # Learner.freeze(): the head alone trains
    assert [p.requires_grad for p in model.parameters()].count(True) == len(head)


def test_rebuilding_from_the_spec_needs_no_files_and_gives_the_same_outputs(tiny_model_dir):
    model = text_model(tiny_model_dir, n_out=2).eval()
    spec = json.loads(json.dumps(model_spec(model)))  # what a model file holds
    assert spec["kwargs"]["pretrained"] == str(tiny_model_dir)
    architecture = spec["kwargs"]["hf_config"]  # the architecture travels as JSON
    assert architecture["model_type"] == "bert" and architecture["hidden_size"] == 32
    rebuilt = rebuild_model(spec)  # pretrained=None on load: no folder, no hub
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(rebuilt.eval()(*_batch()), model(*_batch()))
    assert model_spec(rebuilt) == spec


def test_the_pretrained_weights_are_loaded_and_the_head_is_fresh(minilm_path):
    from safetensors.torch import load_file

    model = text_model(minilm_path, n_out=1)
    pretrained = load_file(str(minilm_path / "model.safetensors"))
    w = model.body.embeddings.word_embeddings.weight
    assert torch.equal(w, pretrained["embeddings.word_embeddings.weight"])
    assert model.model.classifier.weight.shape == (1, 384)


def test_the_default_model_is_the_offline_package():
    path, description = resolve_source()
    assert path.endswith("model") and "no download" in description
    with pytest.raises(FileNotFoundError, match="no model folder at './nowhere'"):
        resolve_source("./nowhere")
    assert resolve_source("org/model")[0] == "org/model"  # a hub name, fetched when built


def test_dropout_is_set_in_the_config_so_the_model_file_rebuilds_it(tiny_model_dir):
    model = text_model(tiny_model_dir, n_out=1, dropout=0.0)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
    rebuilt = rebuild_model(json.loads(json.dumps(model_spec(model))))
    assert {m.p for m in rebuilt.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
    kept = text_model(tiny_model_dir, n_out=1)
    assert {m.p for m in kept.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.5"):
        text_model(tiny_model_dir, n_out=1, dropout=1.5)


def test_attention_on_a_cpu_runs_in_float32_when_autocast_gives_it_bf16():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 24, 32, dtype=torch.bfloat16, requires_grad=True) for _ in "qkv")
    module = torch.nn.Module()
    out, _ = cpu_float32_attention(module, q, k, v, None, is_causal=False)
    float32, _ = sdpa_attention_forward(module, q.float(), k.float(), v.float(), None,
                                        is_causal=False)  # fmt: skip
    bf16, _ = sdpa_attention_forward(module, q, k, v, None, is_causal=False)
    assert out.dtype == torch.bfloat16 and torch.equal(out, float32.to(torch.bfloat16))
    assert not torch.equal(out, bf16)  # the two paths differ, so the check above can fail
    out.float().sum().backward()  # and it trains
    assert q.grad is not None and q.grad.dtype == torch.bfloat16
    fp32 = q.detach().float()
    assert torch.equal(
        cpu_float32_attention(module, fp32, fp32, fp32, None, is_causal=False)[0],
        sdpa_attention_forward(module, fp32, fp32, fp32, None, is_causal=False)[0],
    )


def test_text_models_and_their_rebuilds_use_it(tiny_model_dir):
    """(test_padding_does_not_change_a_row checks its masks: without them padding is attended.)"""
    model = text_model(tiny_model_dir, n_out=1)
    rebuilt = rebuild_model(json.loads(json.dumps(model_spec(model))))
    assert model.model.config._attn_implementation == CPU_ATTENTION
    assert rebuilt.model.config._attn_implementation == CPU_ATTENTION

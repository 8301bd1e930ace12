"""The seq2seq networks (nets/seq2seq.py) and their decoding (nets/seq2seq_search.py) on a toy task made here:
copy a short sequence of word ids."""

import pytest
import torch
import torch.nn.functional as F

from lamina.features.subwords import BOS, EOS, PAD
from lamina.nets.build import build_network
from lamina.nets.seq2seq import default_hyperparameters
from lamina.nets.seq2seq_search import beam_search, greedy, max_lengths, sequence_log_prob

WORDS = 10  # word ids 4..13 after PAD, BOS, EOS, UNK
VOCABULARY = 4 + WORDS
SPEC = {"source_vocabulary": VOCABULARY, "target_vocabulary": VOCABULARY, "shared": True, "max_source": 8,
        "max_target": 10}
SIZES = {"transformer": {"width": 32, "depth": 1, "dropout": 0.0, "heads": 2},
         "gru": {"width": 32, "depth": 1, "dropout": 0.0}}


def copies(rows: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sources of 2-7 word ids (right-padded) and their copies as targets [BOS, words, EOS, PAD...]."""
    lengths = torch.randint(2, 8, (rows,), generator=generator)
    words = torch.randint(4, VOCABULARY, (rows, 7), generator=generator)
    keep = torch.arange(7) < lengths.unsqueeze(1)
    source = words * keep
    target = torch.cat([torch.full((rows, 1), BOS), source, torch.zeros(rows, 1, dtype=torch.long)], dim=1)
    target[torch.arange(rows), lengths + 1] = EOS
    return source, target


def network(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_network(arch, SPEC, VOCABULARY, reads="pairs", **SIZES[arch])


@pytest.fixture(scope="module", params=["transformer", "gru"])
def trained(request):
    """A network taught to copy by a short hand-written teacher-forcing loop (label-smoothed cross entropy)."""
    model = network(request.param)
    model.arch = request.param
    generator = torch.Generator().manual_seed(1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(200):
        source, target = copies(64, generator)
        logits = model({"source": source, "target_in": target[:, :-1]})
        loss = F.cross_entropy(logits.flatten(0, 1), target[:, 1:].flatten(), ignore_index=PAD, label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def held_out(rows: int = 40):
    source, target = copies(rows, torch.Generator().manual_seed(99))
    return source, [[t for t in row[1:].tolist() if t not in (PAD, EOS)] for row in target]


def test_a_short_loop_learns_to_copy(trained):
    source, expected = held_out()
    assert sum(a == b for a, b in zip(greedy(trained, source).ids, expected, strict=True)) >= 0.9 * len(expected)
    assert sum(a == b for a, b in zip(beam_search(trained, source, beam=4).ids, expected, strict=True)) >= 0.9 * len(expected)


def test_beam_never_scores_below_greedy_on_the_models_log_probability(trained):
    """On untrained networks (near-flat distributions, many long answers) and on a trained one."""
    source, _ = held_out()
    for model in (network(trained.arch, 0), network(trained.arch, 1), trained):
        quick, wide = greedy(model, source, max_length=8), beam_search(model, source, 5, 0.0, max_length=8)
        assert torch.all(wide.log_prob >= quick.log_prob - 1e-4)
        # The answers' scores are the model's own: the same log-probability as one teacher-forced pass gives.
        torch.testing.assert_close(sequence_log_prob(model, source, quick.tokens), quick.log_prob, atol=1e-4, rtol=0)
        torch.testing.assert_close(sequence_log_prob(model, source, wide.tokens), wide.log_prob, atol=1e-4, rtol=0)


def test_batched_beam_search_equals_one_sentence_at_a_time(trained):
    source, _ = held_out(12)
    batched = beam_search(trained, source, beam=3)
    for row in range(len(source)):
        length = int((source[row] != PAD).sum())
        alone = beam_search(trained, source[row: row + 1, :length], beam=3)
        assert alone.ids[0] == batched.ids[row]
        assert abs(float(alone.log_prob[0] - batched.log_prob[row])) < 1e-4


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_no_answer_runs_past_its_maximum_length(arch):
    model = network(arch)
    source, _ = held_out(8)
    limits = torch.arange(8) % 3 + 1
    for answer in (greedy(model, source, limits), beam_search(model, source, 3, max_length=limits)):
        assert all(len(ids) <= int(n) for ids, n in zip(answer.ids, limits, strict=True))
    lengths = torch.tensor([0, 4, 20])
    assert max_lengths(lengths).tolist() == [10, 16, 40]
    assert all(len(ids) <= 2 * 7 + 3 for ids in greedy(model, source, max_lengths((source != PAD).sum(1), 2, 3)).ids)


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_cross_attention_weighs_only_the_real_source_tokens_without_dropout_in_either_mode(arch):
    torch.manual_seed(0)
    model = build_network(arch, SPEC, VOCABULARY, reads="pairs", **{**SIZES[arch], "dropout": 0.5})
    source, _ = held_out(5)
    target_in = torch.randint(4, VOCABULARY, (5, 6))
    target_in[:, 0] = BOS
    weights = model.cross_attention(source, target_in)
    assert weights.shape == (5, 6, source.shape[1])
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(5, 6))
    assert torch.all(weights.masked_select((source == PAD).unsqueeze(1).expand_as(weights)) == 0)
    assert model.training  # the mode it had
    torch.testing.assert_close(model.cross_attention(source, target_in), weights)  # dropout 0.5 was off both times
    assert torch.equal(model.eval().cross_attention(source, target_in), weights) and not model.training
    model.train()
    with pytest.raises(IndexError):  # a token id past the vocabulary
        model.cross_attention(source, target_in + VOCABULARY)
    assert model.training  # given back even when it raised


def test_shared_vocabularies_share_one_embedding_table_and_separate_ones_do_not():
    shared = network("transformer")
    names = list(shared.state_dict())
    assert [n for n in names if "embed" in n] == ["target_embed.weight"]  # one table, saved once (safetensors)
    with torch.no_grad():
        shared.target_embed.weight[5] += 1.0  # the source reads the same table
    assert torch.equal(shared.embed_source(torch.tensor([5])), shared.embed_target(torch.tensor([5])))
    separate = build_network("gru", {**SPEC, "shared": False, "source_vocabulary": 9}, VOCABULARY, reads="pairs",
                             **SIZES["gru"])
    assert separate.source_embed.weight.shape[0] == 9 and separate.target_embed.weight.shape[0] == VOCABULARY
    with pytest.raises(ValueError, match="target vocabulary"):
        build_network("gru", SPEC, VOCABULARY + 1, reads="pairs", **SIZES["gru"])


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_default_sizes_grow_with_the_data(arch):
    small, large = default_hyperparameters(arch, 500, 10_000), default_hyperparameters(arch, 200_000, 3_000_000)
    assert small["width"] < large["width"] and small["depth"] <= large["depth"]
    model = build_network(arch, SPEC, VOCABULARY, reads="pairs", **large)
    assert model({"source": torch.tensor([[5, 6]]), "target_in": torch.tensor([[BOS]])}).shape == (1, 1, VOCABULARY)

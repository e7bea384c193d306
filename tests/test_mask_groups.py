"""benchmarks/mask_groups.py: every target counted once, and without dropout the loss of G = 1."""
import sys
from pathlib import Path

import torch

from gru4recf.data.sequence_batches import SequenceBatch
from gru4recf.models.registry import model_spec
from gru4recf.models.spec import Catalogue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import mask_groups  # noqa: E402 (a benchmark script, importable once its folder is on the path)


def batch() -> SequenceBatch:
    inputs = torch.tensor([[3, 1, 4, 1, 5, 9], [2, 7, 1, 8, 0, 0]])
    targets = torch.tensor([[1, 4, 1, 5, 9, 2], [7, 1, 8, 2, 0, 0]])
    return SequenceBatch(inputs, targets, torch.tensor([6, 4]))


def test_each_copy_keeps_every_gth_target_and_each_target_is_kept_once():
    copies = mask_groups.replicate(batch(), 3)
    assert copies.inputs.tolist() == [[3, 1, 4, 1, 5, 9]] * 3 + [[2, 7, 1, 8, 0, 0]] * 3
    assert copies.targets[:3].tolist() == [[1, 0, 0, 5, 0, 0], [0, 4, 0, 0, 9, 0], [0, 0, 1, 0, 0, 2]]
    assert copies.targets[3:].tolist() == [[7, 0, 0, 2, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 8, 0, 0, 0]]
    assert copies.num_targets == batch().num_targets == 10


def test_without_dropout_the_copies_give_the_loss_of_one_pass():
    torch.manual_seed(0)
    spec = model_spec("SASRec")
    model = spec.build(spec.parse({"hidden_size": 8, "inner_size": 16, "n_heads": 2, "n_layers": 1}),
                       Catalogue(10, max_history=6)).eval()
    losses = [sum(model.sequence_loss(chunk, None)[0] for chunk in source.chunks(6))
              for source in (batch(), mask_groups.replicate(batch(), 3))]
    assert torch.allclose(losses[0], losses[1], rtol=1e-6) and losses[0] > 0

"""The contract every model of the registry meets (scikit-learn's shared estimator checks, for models).

`check_model(spec, values)` runs all checks for one model and settings; tests/test_models.py runs it
over every registered model, and tests/test_plugins.py over models that a plugin adds.
"""
from pathlib import Path

import numpy as np
import torch

from gru4recf.data.batching import Batch, Candidates
from gru4recf.data.dataset import SequenceDataset
from gru4recf.data.features import FeatureField
from gru4recf.data.sequence_batches import Chunk
from gru4recf.data.split import leave_one_out
from gru4recf.models.base import SequentialRecommender
from gru4recf.models.losses import BATCH_LOSSES
from gru4recf.models.spec import Catalogue, ModelSpec
from gru4recf.training.checkpoint import read_checkpoint, save_checkpoint

N_ITEMS = 12
SMALL = {"embedding_size": 8, "hidden_size": 6}  # applied to the models that have these keys


def features() -> list:
    """One table of each kind: token_seq 'class', token 'kind', float 'year', float_seq 'vec'."""
    genres = [[]] + [[1 + (item + k) % 5 for k in range(1 + item % 3)] for item in range(1, N_ITEMS)]
    kind = np.array([0] + [1 + item % 2 for item in range(1, N_ITEMS)], dtype=np.int64)
    year = np.linspace(0, 1, N_ITEMS).astype(np.float32)
    vec = np.random.default_rng(0).normal(size=(N_ITEMS, 5)).astype(np.float32)
    vec[0] = 0
    return [FeatureField.from_token_lists("class", genres, np.array(["[PAD]", "a", "b", "c", "d", "e"], dtype=object)),
            FeatureField("kind", "token", kind, np.array(["[PAD]", "x", "y"], dtype=object)),
            FeatureField("year", "float", year), FeatureField("vec", "float_seq", vec)]


def dataset() -> SequenceDataset:
    """Three users' sequences over the N_ITEMS catalogue (for fitting)."""
    items = np.array([1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2], dtype=np.int64)
    offsets = np.array([0, 5, 10, 15], dtype=np.int64)
    tokens = np.array(["[PAD]"] + [str(i) for i in range(1, N_ITEMS)], dtype=object)
    return SequenceDataset("contract", np.array(["[PAD]", "u1", "u2", "u3"], dtype=object), tokens, offsets, items,
                           features())


def shared() -> Candidates:
    """Three shared negatives for the batch losses (log-Q corrections of 0.5 and 1)."""
    return Candidates(torch.tensor([5, 7, 2]), torch.full((3,), 0.5), torch.ones(3))


def batch(negatives: bool = False, candidates: bool = False) -> Batch:
    history = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    return Batch(history, torch.tensor([3, 2, 4]), torch.tensor([4, 6, 10]),
                 torch.tensor([[5, 7], [1, 2], [3, 11]]) if negatives else None, shared() if candidates else None,
                 users=torch.tensor([1, 2, 3]))


def build(spec: ModelSpec, values: dict) -> torch.nn.Module:
    settings = spec.parse({**SMALL, **values})
    model = spec.build(settings, Catalogue(N_ITEMS, features(), n_users=4))
    if spec.fitted:
        data = dataset()
        model.fit(data, leave_one_out(data.user_offsets)["train"])
    return model


def check_model(spec: ModelSpec, values: dict, tmp_path: Path) -> None:
    """Every check of the contract for `spec` with settings `values`."""
    check_scores_and_padding(spec, values)
    check_checkpoint_round_trip(spec, values, tmp_path)
    if not spec.fitted:
        check_losses(spec, values)
        check_one_step_changes_every_weight(spec, values)
    if "sequence" in spec.train_modes:
        check_sequence_loss(spec, values)


def check_scores_and_padding(spec: ModelSpec, values: dict) -> None:
    torch.manual_seed(0)
    model = build(spec, values).eval()
    scores = model.full_scores(batch())
    assert scores.shape == (3, N_ITEMS) and torch.isfinite(scores[:, 1:]).all()
    padded = Batch(torch.tensor([[1, 2, 3, 0, 0]]), torch.tensor([3]), torch.tensor([4]), users=torch.tensor([1]))
    plain = Batch(torch.tensor([[1, 2, 3]]), torch.tensor([3]), torch.tensor([4]), users=torch.tensor([1]))
    assert torch.allclose(model.full_scores(plain), model.full_scores(padded), atol=1e-6)


def allowed_losses(spec: ModelSpec) -> list:
    """The `loss_type` values the model's settings accept (none without the key)."""
    keys = spec.settings.keys()
    return keys["loss_type"][1].allowed.split(", ") if "loss_type" in keys else []


def check_losses(spec: ModelSpec, values: dict) -> None:
    """A finite scalar loss for every loss the model's settings allow (CE, BPR with negatives, and
    the batch losses with shared negatives), with a gradient for the item table."""
    losses = [loss for loss in ["CE", "BPR", *BATCH_LOSSES] if loss in allowed_losses(spec)] or [None]
    for loss_type in losses:
        torch.manual_seed(0)
        model = build(spec, values if loss_type is None else {**values, "loss_type": loss_type})
        model.loss_params = type(model.loss_params)(logq=1.0)
        loss = model.loss(batch(negatives=loss_type == "BPR", candidates=loss_type in BATCH_LOSSES))
        assert loss.dim() == 0 and torch.isfinite(loss), loss_type
        loss.backward()
        assert torch.isfinite(model.item_embedding.weight.grad).all(), loss_type


# Weights whose gradient is zero by construction, kept because RecBole has them (its state_dict copies
# over): FDSA's last attention bias adds the same score to every feature before a softmax over them.
# Rounding used to give it a tiny gradient, so whether Adam moved it depended on the platform.
NO_GRADIENT = {"FDSA": {"feature_att_layer.projection.2.bias"}}


def check_one_step_changes_every_weight(spec: ModelSpec, values: dict) -> None:
    torch.manual_seed(0)
    model = build(spec, values)
    before = {k: v.clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.loss(batch()).backward()
    optimizer.step()
    exempt = NO_GRADIENT.get(spec.name, set())
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k]) and k not in exempt]
    assert not unchanged, unchanged


def check_checkpoint_round_trip(spec: ModelSpec, values: dict, tmp_path: Path) -> None:
    """Weights (or fitted arrays) saved and loaded into a fresh, unfitted model give identical scores."""
    torch.manual_seed(0)
    model = build(spec, values).eval()
    save_checkpoint(tmp_path / "m.pth", model.state_dict(), {"model": spec.name})
    torch.manual_seed(1)
    fresh = spec.build(spec.parse({**SMALL, **values}), Catalogue(N_ITEMS, features(), n_users=4)).eval()
    fresh.load_state_dict(read_checkpoint(tmp_path / "m.pth").state_dict)
    assert torch.equal(model.full_scores(batch()), fresh.full_scores(batch()))


def reads_step_by_step(spec: ModelSpec) -> bool:
    """Whether the model's 'sequence' mode reads a row in order (it overrides `encode_steps`), so
    that each step's output is that of its prefix; BERT4Rec's bidirectional windows do not."""
    return spec.module.encode_steps is not SequentialRecommender.encode_steps


def check_sequence_loss(spec: ModelSpec, values: dict) -> None:
    """train_mode 'sequence': a finite summed loss, and, for a model that `reads_step_by_step`, the
    step outputs at the last item equal the representation that full ranking scores."""
    torch.manual_seed(0)
    model = build(spec, values).eval()
    inputs, targets = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]]), torch.tensor([[2, 3, 4, 5], [6, 7, 0, 0]])
    users = torch.tensor([1, 2]) if spec.needs_users else None
    loss, _ = model.sequence_loss(Chunk(inputs, targets, None, users=users), None)
    assert loss.dim() == 0 and torch.isfinite(loss)
    for loss_type in [loss for loss in BATCH_LOSSES if loss in allowed_losses(spec)]:  # a chunk's targets + samples
        model.loss_type = loss_type
        candidates = Candidates(torch.tensor([5, 7, 2]), torch.zeros(3), torch.zeros(2, 4))
        batch_loss, _ = model.sequence_loss(Chunk(inputs, targets, None, candidates, users), None)
        assert batch_loss.dim() == 0 and torch.isfinite(batch_loss), loss_type
    if not reads_step_by_step(spec):
        return
    steps, _ = model.encode_steps(inputs, users=users) if spec.needs_users else model.encode_steps(inputs)
    last = steps[torch.arange(2), torch.tensor([3, 1])] @ model.item_embedding.weight.t()
    if getattr(model, "item_bias", None) is not None:
        last = last + model.item_bias.weight.t()
    history = Batch(inputs, torch.tensor([4, 2]), torch.tensor([5, 7]), users=users)
    assert torch.allclose(last, model.full_scores(history), atol=1e-5)

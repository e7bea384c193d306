"""The promise of train_mode 'sequence' for a model whose output depends only on the prefix: with
dropout off, the loss at every target of a sequence row, read in chunks as the trainer reads it
(state carried with `model.carry`, rows leaving as their sequences end), equals `model.loss` of
the augment example whose history is the row's prefix up to that target."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from gru4recf.data.batching import Batch
from gru4recf.data.sequence_batches import SequenceBatch


def chunked_target_losses(model, rows: Sequence[Sequence[int]], chunk_length: int,
                          negatives: Optional[Dict[Tuple[int, int], List[int]]] = None,
                          users: Optional[Sequence[int]] = None) -> Dict[Tuple[int, int], float]:
    """{(row, step): loss} for every target of `rows` (item ids, longest first; step t predicts
    row[t + 1]; `users` the rows' user ids, for models that need them), each from its own walk over
    the batch's chunks with only that target kept."""
    width = max(len(row) for row in rows) - 1
    inputs = torch.tensor([list(row[:-1]) + [0] * (width - len(row) + 1) for row in rows])
    targets = torch.tensor([list(row[1:]) + [0] * (width - len(row) + 1) for row in rows])
    lengths = torch.tensor([len(row) - 1 for row in rows])
    found = {}
    for row, step in (targets != 0).nonzero().tolist():
        only = torch.zeros_like(targets)
        only[row, step] = targets[row, step]
        drawn = None
        if negatives is not None:
            drawn = torch.zeros(targets.shape + (len(negatives[row, step]),), dtype=torch.long)
            drawn[row, step] = torch.tensor(negatives[row, step])
        batch = SequenceBatch(inputs, only, lengths, drawn, users=None if users is None else torch.tensor(users))
        total, state = 0.0, None
        for chunk in batch.chunks(chunk_length):
            if state is not None:
                state = model.carry(state, chunk.inputs.shape[0])
            loss, state = model.sequence_loss(chunk, state)
            total += float(loss)
        found[row, step] = total
    return found


def augment_loss(model, row: Sequence[int], step: int, negatives: Optional[List[int]] = None,
                 user: Optional[int] = None) -> float:
    """`model.loss` of the example whose history is row[: step + 1] and target row[step + 1]."""
    history = torch.tensor([list(row[: step + 1])])
    drawn = None if negatives is None else torch.tensor([negatives])
    users = None if user is None else torch.tensor([user])
    return float(model.loss(Batch(history, torch.tensor([step + 1]), torch.tensor([row[step + 1]]), drawn,
                                  users=users)))


def assert_chunks_equal_augment(model, rows, chunk_length: int, negatives=None, tolerance: float = 1e-5,
                                users: Optional[Sequence[int]] = None) -> int:
    """Asserts the promise for every target of `rows`; returns how many targets it checked."""
    model.eval()
    with torch.no_grad():
        chunked = chunked_target_losses(model, rows, chunk_length, negatives, users)
        for (row, step), loss in chunked.items():
            expected = augment_loss(model, rows[row], step, None if negatives is None else negatives[row, step],
                                    None if users is None else users[row])
            assert abs(loss - expected) <= tolerance * max(1.0, abs(expected)), (row, step, loss, expected)
    return len(chunked)

"""Which activations a step of many rows really needs: rows that agree on their input and slots share them.

A row is one (input batch, assignment) pair: LWS runs lambda sampled assignments x T tasks as lambda*T rows,
and the rows of one task repeat the same 16 images. Up to layer l, two rows whose input and first l slots
agree compute the same activation (and, in training, the same batch-norm statistics), so each distinct
prefix, a *key*, is computed once. At the first layer of the DKL ConvNet (K = 3 slots, T = 3 tasks, 8
samples) 24 rows need at most 9 keys; once the search distribution has converged, the 8 samples of a task
mostly coincide and every layer shrinks the same way. Gradients are unchanged: a key's output feeds every
row that uses it and autograd sums their contributions. Batch-norm running moments are still updated once
per row, in row order (`BankedBatchNorm.fold_running_moments`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyLayer:
    """One layer of a plan: the distinct prefixes at this layer and how the rows map onto them."""

    parent: list[int]    # key -> its key at the previous layer (at layer 0: the input index)
    slot: list[int]      # key -> weight slot
    norm_row: list[int]  # key -> batch-norm row (the slot, or the task for domain-specific BN)
    row_key: list[int]   # row -> its key

    @property
    def num_keys(self) -> int:
        return len(self.slot)

    def keys_by_slot(self) -> list[tuple[int, list[int]]]:
        """(slot, its keys in increasing order), slots in order of first use."""
        groups: dict[int, list[int]] = {}
        for key, slot in enumerate(self.slot):
            groups.setdefault(slot, []).append(key)
        return list(groups.items())

    def row_norm_rows(self) -> list[int]:
        """The batch-norm row each row uses, in row order."""
        return [self.norm_row[k] for k in self.row_key]


def plan_rows(row_inputs: list[int], row_slots: list[list[int]], row_norms: list[list[int]]) -> list[KeyLayer]:
    """Keys of every layer for rows with input indices `row_inputs` [R], slots `row_slots` [R][L] and
    batch-norm rows `row_norms` [R][L]. Keys are numbered in order of first appearance among the rows."""
    previous = list(row_inputs)
    plan = []
    for layer in range(len(row_slots[0]) if row_slots else 0):
        index: dict[tuple[int, int, int], int] = {}
        parent, slot, norm, row_key = [], [], [], []
        for r, prev in enumerate(previous):
            key = (prev, row_slots[r][layer], row_norms[r][layer])
            if key not in index:
                index[key] = len(parent)
                parent.append(prev)
                slot.append(key[1])
                norm.append(key[2])
            row_key.append(index[key])
        plan.append(KeyLayer(parent, slot, norm, row_key))
        previous = row_key
    return plan

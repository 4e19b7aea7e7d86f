"""Seed packing: the S seeds of one arm trained as one banked model (issue 8, the GPU path).

A tiny ConvNet leaves a GPU idle: one DKL LWS step is a few hundred small kernels, so a job is bound by
launches, not arithmetic. Weight banks make packing exact: copy s of an arm keeps its K_l slots of layer l
at slots s*K_l .. s*K_l + K_l - 1 of the packed bank, its T tasks become tasks s*T .. s*T + T - 1, and its
assignment is shifted by s*K_l. Every kernel then runs S times the rows at about the cost of one.

Why it changes nothing but speed:
- the packed loss is the sum of the copies' losses, and no parameter is used by two copies, so each copy's
  gradient is the one it would get alone (banks keep batch-norm statistics per task row);
- Adam and SGD (and the learning-rate schedule) act element by element, so one optimiser over the packed
  tensors equals one per copy;
- the copies start from the weights their own seeds give (each built unpacked first) and read the batches
  of their own seeds' streams (the runner's job). LWS draws the assignments of all copies in one
  multinomial call, so a packed LWS run is a different draw from the same distributions as the unpacked
  runs: statistically, not bitwise, the same (tests/test_packing.py checks one step exactly with the same
  draws; the GPU notes compare packed and unpacked seeds with a Mann-Whitney test).

`pack(copies)` builds the packed model from S freshly built methods; `unpack_into(packed, copies)` writes
each copy's slice back (weights, moments, assignment, LWS' probabilities) for evaluation and records.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from sharebench.methods.hard_sharing import BankedMethod
from sharebench.methods.networks import BankedNet
from sharebench.methods.registry import Method, TaskSpec


def packable(cls: type[Method]) -> bool:
    """Whether seeds of this method can share one model: a banked method without a shared classifier whose
    update touches each task's weights only."""
    return issubclass(cls, BankedMethod) and cls.PACKABLE and not cls.SHARED_HEAD


def packed_spec(spec: TaskSpec, copies: int) -> TaskSpec:
    """The suite's tasks repeated once per copy; copy s's task t is named `t#s`."""
    def rep(values: tuple | list) -> tuple:
        return tuple(values) * copies
    return TaskSpec([f"{n}#{s}" for s in range(copies) for n in spec.names], list(rep(spec.num_classes)),
                    spec.image_shape, rep(spec.roles), rep(spec.label_semantics), rep(spec.native_shapes),
                    rep(spec.holes))


def _slot_offsets(method: BankedMethod, copies: int) -> Tensor:
    """[S*T, L]: what copy s adds to its slot indices (s * K_l in layer l)."""
    per_layer = torch.tensor([unit.num_slots for unit in method.net.layers])
    T = method.tasks.num_tasks
    return (torch.arange(copies).repeat_interleave(T).unsqueeze(1) * per_layer.unsqueeze(0)).long()


def pack(copies: list[Method]) -> BankedMethod:
    """One model holding every copy's weights (see the module docstring); a fresh optimiser."""
    first = copies[0]
    if not all(packable(type(m)) for m in copies):
        raise ValueError(f"method {first.name!r} cannot be packed (packing needs a banked method without a shared "
                         "classifier whose update touches each task's weights only: isolated, shareall, deep, "
                         "partial, lws)")
    if len({type(m) for m in copies}) != 1 or any(m.hparams != first.hparams for m in copies):
        raise ValueError("packing needs copies of one arm (same method and hyperparameters)")
    S, T = len(copies), first.tasks.num_tasks
    packed = copy.copy(first)  # shares the read-only settings (hparams, layers); everything stateful is rebuilt
    packed.copies = S
    packed.tasks = packed_spec(first.tasks, S)
    packed.net = BankedNet(first.layers, packed.tasks.num_classes, [u.num_slots * S for u in first.net.layers],
                           norm=first.hparams["norm"], init=first.hparams["init"]).to(first.device)
    states = [m.net.state_dict() for m in copies]
    with torch.no_grad():
        for key, target in packed.net.state_dict().items():
            if target.is_floating_point():  # integer buffers (the heads' task index) are the packed net's own
                target.copy_(torch.cat([s[key] for s in states]))
    offsets = _slot_offsets(first, S)
    packed.copy_offsets = offsets  # CPU, as the assignments it shifts
    packed.register_assignment(torch.cat([m.assignment.cpu() for m in copies]) + offsets)
    packed.all_tasks = torch.arange(S * T, device=first.device)
    packed.optimizer, packed.scheduler = packed.make_optimizer()
    packed.pack_extra(copies)
    return packed


@torch.no_grad()
def unpack_into(packed: BankedMethod, copies: list[Method]) -> None:
    """Write copy s's slice of the packed model into `copies[s]` (its optimiser is left alone: only the
    packed model trains)."""
    S = len(copies)
    if getattr(packed, "copies", 1) != S:
        raise ValueError(f"the packed model holds {getattr(packed, 'copies', 1)} copies, got {S}")
    T = copies[0].tasks.num_tasks
    state = packed.net.state_dict()
    offsets = packed.copy_offsets
    for s, m in enumerate(copies):
        for key, target in m.net.state_dict().items():
            if target.is_floating_point():
                n = target.shape[0]
                target.copy_(state[key][s * n:(s + 1) * n])
        rows = slice(s * T, (s + 1) * T)
        m.register_assignment(packed.assignment.cpu()[rows] - offsets[rows])
        packed.unpack_extra(m, s)

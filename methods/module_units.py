"""A routed unit made of any block: K copies of a pretrained network's stage, with the slot as leading dimension.

The hand-written units (methods/units.py) build their banks from banked convolutions. A pretrained backbone (timm's
InceptionV3 for Zhang et al.'s paper profile) has blocks of many convolutions and branches that nobody should
re-implement. `ModuleUnit` keeps one template of the block (on the meta device: structure only) and every parameter
and buffer of it stacked over slots, [K, ...]; slot s runs the template with the s-th entries
(`torch.func.functional_call`). So the unit offers what the methods need of any unit: `core_parameters()` (the
block's convolution and linear weights, not its batch-norm scales, as the coupling of Zhang et al. and its released
code tie them), `slot_tensors()` for `copy_slot` and the per-user gradient averaging, and one batch-norm per slot.
Batch-norm running moments are updated in place through the slot's view of the stacked buffers.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sharebench.methods.banks import slot_groups
from sharebench.methods.units import Unit


def norm_parameter_names(block: nn.Module) -> set[str]:
    """Names (in `block.named_parameters()`) of the parameters of its normalisation layers."""
    return {f"{prefix}.{name}" if prefix else name
            for prefix, m in block.named_modules() if isinstance(m, nn.modules.batchnorm._NormBase)
            for name, _ in m.named_parameters(recurse=False)}


def core_parameter_count(block: nn.Module) -> int:
    """Weights of one copy of the block that soft sharing ties (normalisation layers excluded)."""
    norms = norm_parameter_names(block)
    return sum(p.numel() for name, p in block.named_parameters() if name not in norms)


def _stacked(t: Tensor, slots: int) -> Tensor:
    return t.detach().clone().unsqueeze(0).repeat(slots, *([1] * t.ndim))


class ModuleUnit(Unit):
    """K slots of `template` (see the module docstring); every slot starts as a copy of the template's weights."""

    def __init__(self, num_slots: int, template: nn.Module):
        super().__init__()
        norms = norm_parameter_names(template)
        self.param_names = [name for name, _ in template.named_parameters()]
        self.buffer_names = [name for name, _ in template.named_buffers()]
        self.is_norm = [name in norms for name in self.param_names]
        self.weights = nn.ParameterList(nn.Parameter(_stacked(p, num_slots)) for _, p in template.named_parameters())
        for i, (_, b) in enumerate(template.named_buffers()):
            self.register_buffer(f"buffer_{i}", _stacked(b, num_slots))
        # a tuple hides the template from .parameters(), .to() and the state dict: it only lends its forward
        self._template = (copy.deepcopy(template).to("meta"),)

    @property
    def num_slots(self) -> int:
        return self.weights[0].shape[0]

    @property
    def stacked_buffers(self) -> list[Tensor]:
        return [getattr(self, f"buffer_{i}") for i in range(len(self.buffer_names))]

    def core_parameters(self) -> list[nn.Parameter]:
        return [w for w, norm in zip(self.weights, self.is_norm) if not norm]

    def norm_parameters(self) -> list[nn.Parameter]:
        return [w for w, norm in zip(self.weights, self.is_norm) if norm]

    def slot_tensors(self, norm_per_slot: bool) -> list[Tensor]:
        if not norm_per_slot:
            raise ValueError("a module unit keeps one batch-norm per slot (norm 'bn')")
        return [*self.weights, *self.stacked_buffers]

    def run_slot(self, x: Tensor, slot: int) -> Tensor:
        """The block with slot `slot`'s weights on x [N, C, H, W]."""
        template = self._template[0]
        template.train(self.training)
        tensors = {name: w[slot] for name, w in zip(self.param_names, self.weights)}
        tensors.update({name: b[slot] for name, b in zip(self.buffer_names, self.stacked_buffers)})
        return functional_call(template, tensors, (x,))

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        """h [n, B, C, H, W] -> [n, B, C', H', W']: the rows using one slot run as one batch (one batch-norm batch,
        as a shared layer sees all its tasks' images)."""
        groups, in_order = slot_groups(slots)
        n, batch = h.shape[:2]
        outs, order = [], []
        for slot, sel in groups:
            rows = torch.arange(n)[sel] if isinstance(sel, slice) else sel.cpu()
            y = self.run_slot(h[sel].flatten(0, 1), slot)
            outs.append(y.view(len(rows), batch, *y.shape[1:]))
            order.append(rows)
        out = torch.cat(outs) if len(outs) > 1 else outs[0]
        if in_order:
            return out
        return out.index_select(0, torch.argsort(torch.cat(order)).to(out.device))

"""Convolution, LeakyReLU and 2x2 average pooling with backward passes that are cheap to differentiate again.

The gradient penalty differentiates the critic's input gradient, so the backward pass of every critic
layer is itself differentiated (double backward). PyTorch's own formulas give the right numbers but are
slow there:

* a convolution's double backward computes its weight gradient as a convolution whose kernel is the
  whole feature map (64 x 64 at the 64 px stage), which oneDNN (the CPU backend) runs far below its
  usual speed, with transposing copies on both sides;
* LeakyReLU's and average pooling's double backward return a tensor of zeros as the derivative of
  the mask (the input shape), and autograd carries those zeros back through the graph.

Here the convolution's backward is made of ordinary fast kernels: the input gradient is a transposed
convolution, and the weight and bias gradients come from PyTorch's own kernel, and only when the running
backward pass asks for them (the penalty asks for the image gradient only). Differentiating a transposed
convolution gives ordinary convolution kernels again. LeakyReLU's backward multiplies by a mask taken
out of the graph (its derivative is zero almost everywhere), and pooling's backward reads only the input's
shape, so nothing flows into either. First and second derivatives equal PyTorch's (``tests/test_ops.py``);
the layers turn this off with :func:`pacgan_lite.layers.use_custom_gradients`. Only stride 1, no dilation, no groups (all PACGAN uses).

Under ``torch.autocast`` the inputs are cast to the autocast dtype first, as autocast would cast them for
``conv2d``; float64 tensors are left alone, as autocast leaves them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Private but stable since torch 2.0 (register_multi_grad_hook relies on it). Without it, every gradient
# an input requires is computed, which is correct and only slower.
_will_engine_execute_node = getattr(torch._C, "_will_engine_execute_node", None)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1): ``[B, C_in, H, W]`` -> ``[B, C_out, H', W']``."""
    if not torch.is_grad_enabled():  # nothing will be differentiated
        return F.conv2d(x, weight, bias, padding=padding)
    x, weight, bias = _autocast(x, weight, bias)
    return _Conv2d.apply(x, weight, bias, padding)


def leaky_relu(x: torch.Tensor, negative_slope: float) -> torch.Tensor:
    """``F.leaky_relu(x, negative_slope)`` for ``negative_slope > 0``; any shape."""
    if not torch.is_grad_enabled():
        return F.leaky_relu(x, negative_slope)
    return _LeakyReLU.apply(x, negative_slope)


def avg_pool2d(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 2)``: ``[B, C, H, W]`` -> ``[B, C, H/2, W/2]``."""
    if not torch.is_grad_enabled():
        return F.avg_pool2d(x, 2)
    return _AvgPool2d.apply(x)


class _Conv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        if _wanted(ctx, 0):
            # Differentiable, and its derivatives are a convolution and a weight-gradient kernel.
            grad_x = F.conv_transpose2d(grad_output, weight, padding=ctx.padding)
        weight_wanted, bias_wanted = _wanted(ctx, 1), ctx.has_bias and _wanted(ctx, 2)
        if weight_wanted or bias_wanted:
            _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad_output, x, weight, [weight.shape[0]] if ctx.has_bias else None, [1, 1],
                [ctx.padding, ctx.padding], [1, 1], False, [0, 0], 1, [False, weight_wanted, bias_wanted])
        return grad_x, grad_weight, grad_bias, None


class _LeakyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        y = F.leaky_relu(x, negative_slope)
        ctx.save_for_backward(y)  # y > 0 exactly where x > 0 (the slope is positive)
        ctx.negative_slope = negative_slope
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        # The mask is detached: its derivative is zero, so the double backward has nothing to carry.
        return torch.ops.aten.leaky_relu_backward(grad_output, y.detach(), ctx.negative_slope, True), None


class _AvgPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)  # for its shape and layout; the layer before keeps it alive anyway
        return F.avg_pool2d(x, 2)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.ops.aten.avg_pool2d_backward(grad_output, x.detach(), [2, 2], [2, 2], [0, 0], False, True, None)


def _wanted(ctx, index: int) -> bool:
    """Whether the running backward pass needs the gradient of input ``index`` of this node.

    ``needs_input_grad`` says only whether the input requires a gradient; ``torch.autograd.grad(...,
    inputs=...)`` runs part of the graph (the gradient penalty asks for the image gradient only)."""
    if not ctx.needs_input_grad[index]:
        return False
    node = ctx.next_functions[index][0]
    if node is None or _will_engine_execute_node is None or isinstance(node, torch._C._functions.AccumulateGrad):
        return True  # torch cannot tell for a leaf during autograd.grad; computing the gradient is correct
    return _will_engine_execute_node(node)


def _autocast(*tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    device = next(t for t in tensors if t is not None).device.type
    if not torch.is_autocast_enabled(device):
        return tensors
    dtype = torch.get_autocast_dtype(device)
    return tuple(t.to(dtype) if t is not None and t.is_floating_point() and t.dtype != torch.float64 else t
                 for t in tensors)

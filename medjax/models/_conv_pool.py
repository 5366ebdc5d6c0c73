"""Convolution, bias, ReLU and 2x2 max pooling as one matmul per block, with a hand-written gradient.

Why: in a conv-ReLU-pool block the full-resolution activation (28x28x16 for
the first block of :class:`~medjax.models.SimpleCNN`) is the largest array of
the step, and on CPU the block is memory bound: the automatic gradient of
the max pooling alone makes several passes over it. Here the four outputs
of each 2x2 pooling window ("phases") come out of *one* matmul: the input
is cut into ``(kh + 1) x (kw + 1)`` patches with stride 2, and the kernel is
placed at the four offsets of that window, ``(kh+1)(kw+1) C_in -> 4 C_out``.
Pooling is then a max over four contiguous channel groups.

The gradient (:func:`conv_relu_pool`'s custom VJP) reaches one conv output
per window, the first maximum, and none where the ReLU is off. The forward
pass records that winner (``idx = 2p + q``, or -1, as int8), and the native
kernels in ``_conv_pool_grad.cc`` (loaded by :mod:`medjax.native`) add
``kh * kw`` multiply-adds per pooled output for the kernel and for the input
gradient: 9/64 of what the phase matmuls would spend. Where no C++ compiler is
found (or ``MEDJAX_NATIVE=0``, or the dtype is not float32) the gradient is
one masked select, one matmul for the kernel and one for the input, all XLA.
``benchmarks/README.md`` has the figures.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from medjax import native
from medjax._checks import check_ndim

NHWC_HWIO = ("NHWC", "HWIO", "NHWC")
_SOURCE = Path(__file__).with_name("_conv_pool_grad.cc")
_KERNEL_GRAD, _INPUT_GRAD = "medjax_conv_pool_kernel_grad", "medjax_conv_pool_input_grad"
_PATCHES = "medjax_conv_pool_patches"


def native_available() -> bool:
    """Whether the native gradient kernels are built and registered (see :mod:`medjax.native`)."""
    return native.load(_SOURCE, {_KERNEL_GRAD: "MedjaxConvPoolKernelGrad", _INPUT_GRAD: "MedjaxConvPoolInputGrad",
                                 _PATCHES: "MedjaxConvPoolPatches"})


def _placements(k: int) -> np.ndarray:
    """``e[p, a, u] = 1`` if kernel row ``a`` of pooling phase ``p`` (0 or 1) sits at patch row ``u``."""
    e = np.zeros((2, k, k + 1), np.float32)
    for p in range(2):
        e[p, np.arange(k), np.arange(k) + p] = 1
    return e


def phase_kernel(kernel: jax.Array) -> jax.Array:
    """The ``(kh, kw, C, O)`` kernel at the four offsets of a 2x2 window: ``((kh+1)(kw+1) C, 4 O)``.

    ``K[(u, v, c), (p, q, o)] = kernel[u - p, v - q, c, o]`` (zero outside the kernel).

    >>> import jax.numpy as jnp
    >>> phase_kernel(jnp.ones((3, 3, 2, 5))).shape
    (32, 20)
    """
    kh, kw, c, o = kernel.shape
    e_h, e_w = _placements(kh).astype(kernel.dtype), _placements(kw).astype(kernel.dtype)  # keep bf16 bf16
    full = jnp.einsum("pau,qbv,abco->uvcpqo", e_h, e_w, kernel)
    return full.reshape((kh + 1) * (kw + 1) * c, 4 * o)


def _phase_kernel_grad(dk: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    kh, kw, c, o = shape
    dk = dk.reshape(kh + 1, kw + 1, c, 2, 2, o)
    return jnp.einsum("pau,qbv,uvcpqo->abco", _placements(kh).astype(dk.dtype), _placements(kw).astype(dk.dtype), dk)


def _pads(x_shape, kernel_shape, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(padding, str):
        return tuple(lax.padtype_to_pads(x_shape[1:3], kernel_shape[:2], (1, 1), padding))
    return tuple(tuple(p) for p in padding)


def _patches(x: jax.Array, kernel_shape, pads) -> jax.Array:
    """``P[n, i, j, (u, v, c)] = xpad[n, 2i + u, 2j + v, c]`` for ``u < kh + 1``, ``v < kw + 1``."""
    kh, kw = kernel_shape[:2]
    xp = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    h2, w2 = (xp.shape[1] - kh + 1) // 2, (xp.shape[2] - kw + 1) // 2
    views = [xp[:, u:u + 2 * h2 - 1:2, v:v + 2 * w2 - 1:2, :] for u in range(kh + 1) for v in range(kw + 1)]
    return jnp.concatenate(views, axis=-1)


def _unpatch(dp: jax.Array, x_shape, kernel_shape, pads) -> jax.Array:
    """The transpose of :func:`_patches`: add each patch entry back to its input pixel.

    For odd kernels the ``(kh+1) x (kw+1)`` window is ``a x b`` cells of 2x2
    pixels, so the patches are added back in the space-to-depth layout (``a b``
    shifted additions of whole cells, then one reshape), which XLA runs as one
    loop about twice as fast as the ``(kh+1)(kw+1)`` interleaved additions
    used for even kernels.
    """
    kh, kw = kernel_shape[:2]
    n, h, w, c = x_shape
    (top, bottom), (left, right) = pads
    _, h2, w2, _ = dp.shape
    if kh % 2 and kw % 2:
        ah, aw = (kh + 1) // 2, (kw + 1) // 2
        rows, cols = h2 + ah - 1, w2 + aw - 1  # cells of the padded input that the windows cover
        cells = dp.reshape(n, h2, w2, ah, 2, aw, 2, c)
        total = None
        for i in range(ah):
            for j in range(aw):
                config = ((0, 0), (i, rows - h2 - i), (j, cols - w2 - j), (0, 0), (0, 0), (0, 0))
                placed = jnp.pad(cells[:, :, :, i, :, j, :, :], config)
                total = placed if total is None else total + placed
        full = total.transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * rows, 2 * cols, c)
        full = jnp.pad(full, ((0, 0), (0, max(0, top + h - 2 * rows)), (0, max(0, left + w - 2 * cols)), (0, 0)))
        return full[:, top:top + h, left:left + w, :]
    hp, wp = h + top + bottom, w + left + right
    dp = dp.reshape(n, h2, w2, kh + 1, kw + 1, c)
    zero = jnp.zeros((), dp.dtype)
    total = None
    for u in range(kh + 1):
        for v in range(kw + 1):
            config = ((0, 0, 0), (u, hp - u - 2 * h2 + 1, 1), (v, wp - v - 2 * w2 + 1, 1), (0, 0, 0))
            placed = lax.pad(dp[:, :, :, u, v, :], zero, config)
            total = placed if total is None else total + placed
    return total[:, top:top + h, left:left + w, :]


def _native_patches(x: jax.Array, kernel_shape, pads) -> jax.Array:
    """:func:`_patches` by the native kernel: one copy per patch row instead of 16 strided slices."""
    kh, kw = kernel_shape[:2]
    (top, bottom), (left, right) = pads
    n, h, w, c = x.shape
    h2, w2 = (h + top + bottom - kh + 1) // 2, (w + left + right - kw + 1) // 2
    out = jax.ShapeDtypeStruct((n, h2, w2, (kh + 1) * (kw + 1) * c), x.dtype)
    return jax.ffi.ffi_call(_PATCHES, out, vmap_method="sequential")(
        x, window_h=np.int64(kh + 1), window_w=np.int64(kw + 1), top=np.int64(top), left=np.int64(left))


def _phases(x, kernel, pads, patches_fn=_patches):
    patches = patches_fn(x, kernel.shape, pads)
    n, h2, w2, k = patches.shape
    z = jnp.dot(patches.reshape(n * h2 * w2, k), phase_kernel(kernel))  # 2-D matmuls: XLA CPU's fast GEMM
    return patches, z.reshape(n, h2, w2, 4, kernel.shape[-1])


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _fused(x, kernel, bias, geometry):
    _, z = _phases(x, kernel, geometry[1])
    return jax.nn.relu(z.max(axis=3) + bias.reshape(1, 1, 1, -1))


def _fused_fwd(x, kernel, bias, geometry):
    patches, z = _phases(x, kernel, geometry[1])
    return jax.nn.relu(z.max(axis=3) + bias.reshape(1, 1, 1, -1)), (patches, z, kernel, bias)


def _fused_bwd(geometry, res, g):
    (x_shape, pads), (patches, z, kernel, bias) = geometry, res
    top = z.max(axis=3)
    g = jnp.where(top + bias.reshape(1, 1, 1, -1) > 0, g, 0)
    # the gradient goes to the first maximum of each window (row-major order), as nn.max_pool's
    taken = jnp.zeros(top.shape, bool)
    parts = []
    for phase in range(4):
        hit = (z[:, :, :, phase] == top) & ~taken
        taken = taken | hit
        parts.append(jnp.where(hit, g, 0))
    rows = z.shape[0] * z.shape[1] * z.shape[2]
    dz = jnp.stack(parts, axis=3).reshape(rows, -1)
    # 2-D operands: contracting a (N, h, w, k) array over three axes ran ~1.8x slower
    dk = jnp.dot(patches.reshape(rows, -1).T, dz)
    dp = jnp.dot(dz, phase_kernel(kernel).T).reshape(patches.shape)
    dx = _unpatch(dp, x_shape, kernel.shape, pads)
    return dx, _phase_kernel_grad(dk, kernel.shape), g.sum(axis=(0, 1, 2))


_fused.defvjp(_fused_fwd, _fused_bwd)


def _winners(z: jax.Array, bias: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``relu(max_phase z + bias)`` and the first winning phase ``2p + q`` (int8; -1 where the ReLU is off)."""
    z0, z1, z2, z3 = (z[:, :, :, phase] for phase in range(4))
    m01, m23 = jnp.maximum(z0, z1), jnp.maximum(z2, z3)
    first = jnp.where(m23 > m01, jnp.where(z3 > z2, 3, 2), jnp.where(z1 > z0, 1, 0))  # strict: ties go first
    pre = jnp.maximum(m01, m23) + bias.reshape(1, 1, 1, -1)
    return jax.nn.relu(pre), jnp.where(pre > 0, first, -1).astype(jnp.int8)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _fused_native(x, kernel, bias, geometry):
    return _native_fwd(x, kernel, bias, geometry)[0]


def _native_fwd(x, kernel, bias, geometry):
    # few channels (grey images): XLA's slices are as fast, and read the images only
    _, z = _phases(x, kernel, geometry[1], _native_patches if x.shape[-1] >= 8 else _patches)
    y, idx = _winners(z, bias)
    return y, (x, kernel, idx)


def _native_bwd(geometry, res, g):
    (_, pads), (x, kernel, idx) = geometry, res
    xpad = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    # two calls, so that XLA drops the input gradient where nothing uses it (the first block)
    dk = jax.ffi.ffi_call(_KERNEL_GRAD, jax.ShapeDtypeStruct(kernel.shape, kernel.dtype),
                          vmap_method="sequential")(xpad, idx, g)
    dxpad = jax.ffi.ffi_call(_INPUT_GRAD, jax.ShapeDtypeStruct(xpad.shape, x.dtype),
                             vmap_method="sequential")(kernel, idx, g)
    (top, _), (left, _) = pads
    dx = dxpad[:, top:top + x.shape[1], left:left + x.shape[2], :]
    return dx, dk, jnp.where(idx >= 0, g, 0).sum(axis=(0, 1, 2))


_fused_native.defvjp(_native_fwd, _native_bwd)


def conv_relu_pool_reference(x: jax.Array, kernel: jax.Array, bias: jax.Array, padding: Any = "SAME") -> jax.Array:
    """``max_pool_2x2(relu(conv(x, kernel) + bias))`` from ``lax`` primitives (the oracle, and the GPU path)."""
    y = lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=NHWC_HWIO)
    y = jax.nn.relu(y + bias.reshape(1, 1, 1, -1))
    return lax.reduce_window(y, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def conv_relu_pool(x: jax.typing.ArrayLike, kernel: jax.typing.ArrayLike, bias: jax.typing.ArrayLike,
                   padding: str | Any = "SAME") -> jax.Array:
    """A conv block in one piece: stride-1 convolution, bias, ReLU, 2x2 max pooling (stride 2).

    ``y[n, i, j, o] = relu(b[o] + max_{p, q < 2} sum_{a, b, c} xpad[n, 2i+p+a, 2j+q+b, c] kernel[a, b, c, o])``,
    which equals ``nn.max_pool(relu(conv(x) + b), (2, 2), (2, 2))`` (ReLU and max
    commute). ``x`` is ``(N, H, W, C)``, ``kernel`` ``(kh, kw, C, O)`` (HWIO),
    ``bias`` ``(O,)``; rows and columns past the last whole window are dropped.
    On CPU the four window positions come out of one matmul and the gradient is
    written by hand (the full-resolution activation is never differentiated
    through; native kernels where a C++ compiler is found); elsewhere it is
    :func:`conv_relu_pool_reference` (cuDNN on GPU).

    >>> import jax, jax.numpy as jnp
    >>> x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3)); k = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
    >>> b = jnp.zeros(4)
    >>> y = conv_relu_pool(x, k, b)
    >>> y.shape, bool(jnp.allclose(y, conv_relu_pool_reference(x, k, b), atol=1e-5))
    ((2, 4, 4, 4), True)
    """
    x, kernel, bias = jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias)
    check_ndim("conv_relu_pool", "x", x, (4,), "(N, H, W, C)")
    check_ndim("conv_relu_pool", "kernel", kernel, (4,), "(kh, kw, C, O)")
    if kernel.shape[2] != x.shape[3] or bias.shape != kernel.shape[3:]:
        raise ValueError(f"conv_relu_pool: expected kernel (kh, kw, {x.shape[3]}, O) and bias (O,) for x "
                         f"{x.shape}, got kernel {kernel.shape} and bias {bias.shape}")
    pads = _pads(x.shape, kernel.shape, padding)
    if min(x.shape[1] + sum(pads[0]) - kernel.shape[0], x.shape[2] + sum(pads[1]) - kernel.shape[1]) < 1:
        raise ValueError(f"conv_relu_pool: the convolution of x {x.shape} by kernel {kernel.shape} with padding "
                         f"{padding!r} is smaller than one 2x2 pooling window")

    def fused(x, kernel, bias):
        f32 = x.dtype == kernel.dtype == bias.dtype == jnp.float32
        block = _fused_native if f32 and native_available() else _fused
        return block(x, kernel, bias, (tuple(x.shape), pads))

    def reference(x, kernel, bias):
        return conv_relu_pool_reference(x, kernel, bias, pads)

    return lax.platform_dependent(x, kernel, bias, cpu=fused, default=reference)

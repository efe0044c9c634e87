"""Refined DDIM inversion: solve each inversion step's implicit equation (EDITING_NOTES.md, eq. 2).

Plain inversion evaluates ε at the known point x_p (the less noisy latent) instead of the unknown
x_t. The decode step D(x) = (a_p / a_t) x + c · ε_θ(x, t) is what the sampler will apply to x_t,
so the exact inverse is the x with D(x) = x_p. Write the residual r(x) = x_p − D(x); the
fixed-point map of eq. (2) is g(x) = (a_t / a_p)(x_p − c ε_θ(x, t)) = x + (a_t / a_p) r(x).

Each refinement call evaluates the network at the current iterate, which gives that iterate's
residual *exactly* (it is the decode's own call at that point) and the next iterate. Every image
keeps the iterate with the smallest residual seen, starting with the plain inversion's, so a
refined step never decodes worse than the plain step from the same x_p. An image stops once its
residual's RMS is at most ``tol`` (0 by default: every one of the K updates is made, so a larger K
is never cut short by a tolerance that suits one step size and not another). The guarantee is per
step: the whole encode → decode error is a sum of step errors carried through the later decode
steps, and for a strongly non-linear ε (the finite-set oracle, far off its data) smaller step errors
can still add up to a larger one. For smooth networks it falls with K (the tests and
``benchmarks/paper_tables.py`` measure it).

Accelerations (measured in ``benchmarks/results/refine_methods.md``):

* ``anderson``: Anderson mixing with a short memory (the secant idea, per image): the next
  iterate combines the last few so that their residuals cancel to first order.
* ``fixed``: plain iteration x ← g(x) (oscillates where the step is large).
* ``damped``: x ← x + β (g(x) − x) with β = 1/2.

Cost: with ``refine = K`` a step makes at most 2 + K network calls (the plain call, K updates and
the call that checks the last one); a batch evaluates only the images still iterating.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ddim_studio.core.ddim import ddim_step
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.names import MAX_REFINE

ACCELERATIONS = ("anderson", "fixed", "damped")


@dataclass(frozen=True)
class RefineOptions:
    """How each inversion step is refined.

    Attributes:
        iterations: K, the most fixed-point updates per step (0 = the paper's plain inversion).
        tol: an image stops once the RMS of its decode residual is at most this (latent units);
            0 makes all K updates.
        acceleration: ``anderson``, ``fixed`` or ``damped``.
        memory: how many past iterates Anderson mixing combines.
        damping: β, the step taken along g(x) − x.
    """

    iterations: int = 0
    tol: float = 0.0
    acceleration: str = "anderson"
    memory: int = 2
    damping: float = 1.0

    @classmethod
    def make(cls, refine: int, tol: float, acceleration: str) -> RefineOptions:
        """Checked options; raises a ValueError that says what is wrong."""
        refine = check_refine(refine)
        if not float(tol) >= 0.0:
            raise ValueError(f"The refinement tolerance must be zero or positive, got {tol}.")
        if acceleration not in ACCELERATIONS:
            raise ValueError(f"acceleration must be one of {', '.join(ACCELERATIONS)}, got {acceleration!r}.")
        damping = 0.5 if acceleration == "damped" else 1.0
        memory = 0 if acceleration != "anderson" else 2
        return cls(int(refine), float(tol), acceleration, memory, damping)


def check_refine(refine: int) -> int:
    """K as an int if it is a whole number from 0 to ``MAX_REFINE``, else a ValueError saying so."""
    if isinstance(refine, bool) or int(refine) != refine or not 0 <= int(refine) <= MAX_REFINE:
        raise ValueError(f"refine must be a whole number of iterations from 0 to {MAX_REFINE}, got {refine}.")
    return int(refine)


def inversion_calls(steps: int, refine: int) -> int:
    """The most network calls per image of an S-step inversion refined with K updates per step."""
    return steps * (1 if refine == 0 else 2 + refine)


def _rms(r: torch.Tensor) -> torch.Tensor:
    return r.flatten(1).pow(2).mean(dim=1).sqrt()


def _anderson(
    x: torch.Tensor, f: torch.Tensor, xs: list[torch.Tensor], fs: list[torch.Tensor], beta: float
) -> torch.Tensor:
    """x + βf − (ΔX + βΔF)γ, γ = argmin ‖f − ΔF γ‖ per image (type-II Anderson mixing).

    ``xs``/``fs`` hold the earlier iterates and their g(x) − x, oldest first (same rows as x). The
    tiny least-squares problems are solved in float64 on the CPU (any device, stable).
    """
    if not xs:
        return x + beta * f
    n = x.shape[0]
    d_x = torch.stack([(x - p).reshape(n, -1) for p in xs[::-1]], dim=2)  # newest difference first
    d_f = torch.stack([(f - q).reshape(n, -1) for q in fs[::-1]], dim=2)
    # successive differences: column j is (iterate k−j) − (iterate k−j−1)
    d_x = torch.cat([d_x[:, :, :1], d_x[:, :, 1:] - d_x[:, :, :-1]], dim=2)
    d_f = torch.cat([d_f[:, :, :1], d_f[:, :, 1:] - d_f[:, :, :-1]], dim=2)
    a = d_f.to("cpu", torch.float64)
    b = f.reshape(n, -1, 1).to("cpu", torch.float64)
    gamma = torch.linalg.lstsq(a, b, rcond=1e-10, driver="gelsd").solution
    gamma = gamma.to(x.device, x.dtype)
    step = torch.bmm(d_x + beta * d_f, gamma).reshape(x.shape)
    return x + beta * f - step


@dataclass
class _Best:
    """Per image: the iterate with the smallest residual so far, its pred_x0 and RMS residual."""

    x: torch.Tensor
    pred_x0: torch.Tensor
    rms: torch.Tensor

    def offer(self, rows: torch.Tensor, x: torch.Tensor, pred_x0: torch.Tensor, rms: torch.Tensor) -> None:
        better = rms < self.rms[rows]
        keep = rows[better]
        self.x[keep], self.pred_x0[keep], self.rms[keep] = x[better], pred_x0[better], rms[better]


def refine_inverse_step(
    model: DiffusionModel,
    t_batch: torch.Tensor,
    x_prev: torch.Tensor,
    x_t: torch.Tensor,
    alpha_bar_t: float,
    alpha_bar_prev: float,
    *,
    options: RefineOptions,
    prediction_type: str,
    clip_sample: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """Improve the plain inversion ``x_t`` of ``x_prev`` until D(x_t) = x_prev (per image).

    Args:
        model: the network.
        t_batch: (N,) timestep tensor of this step.
        x_prev: the known, less noisy latent at level ``alpha_bar_prev``.
        x_t: the plain inversion's estimate at level ``alpha_bar_t``.
        alpha_bar_t: ᾱ of the step's timestep.
        alpha_bar_prev: ᾱ of x_prev (1 for x₀).
        options: iterations, tolerance and acceleration.
        prediction_type: the network's output kind (``core/ddim.split_output``).
        clip_sample: decode with pred_x0 clipped, as the sampler will.

    Returns:
        (x_t, pred_x0, calls, residual): the best iterate per image, the model's x₀ estimate
        there, the batched network calls made and each image's RMS decode residual.
    """
    n = x_t.shape[0]
    scale = (alpha_bar_t / alpha_bar_prev) ** 0.5  # a_t / a_p: g(x) − x = scale · r(x)
    inf = torch.full((n,), float("inf"), device=x_t.device, dtype=x_t.dtype)
    best = _Best(x_t.clone(), torch.zeros_like(x_t), inf)
    rows = torch.arange(n, device=x_t.device)
    x = x_t
    xs: list[torch.Tensor] = []
    fs: list[torch.Tensor] = []
    calls = 0
    for k in range(options.iterations + 1):
        output = model(x, t_batch[rows]).to(x.dtype)
        calls += 1
        decoded, pred_x0 = ddim_step(
            x, output, alpha_bar_t, alpha_bar_prev, prediction_type=prediction_type, clip_sample=clip_sample
        )
        r = x_prev[rows] - decoded
        rms = _rms(r)
        best.offer(rows, x, pred_x0, rms)
        going = rms > options.tol
        if k == options.iterations or not bool(going.any()):
            break
        f = scale * r
        x_next = _anderson(x, f, xs, fs, options.damping)
        xs, fs = (xs + [x])[-options.memory :], (fs + [f])[-options.memory :]
        if options.memory == 0:
            xs, fs = [], []
        rows, x = rows[going], x_next[going]
        xs, fs = [p[going] for p in xs], [q[going] for q in fs]
    return best.x, best.pred_x0, calls, best.rms

"""What to say about refining after an encode: only what the latent-health numbers show.

"More refinement brings it closer" was said whatever happened; on a photograph Refine 4 moved the
spread from 1.67 to 1.76, further from the noise's 1. :func:`refine_advice` compares the latent with
the previous encode of the same picture at another Refine and says which way it went.
"""

from __future__ import annotations

from typing import Protocol

#: Below this change of :func:`distance`, two latents are "about as far" from noise.
SAME = 0.02


class Health(Protocol):
    """The numbers compared (``core.latent_health.LatentHealth``; no torch here)."""

    mean: float
    std: float
    autocorr: float


def distance(health: Health) -> float:
    """How far a latent is from N(0, I): |mean| + |spread − 1| + |neighbour correlation|."""
    return abs(health.mean) + abs(health.std - 1.0) + abs(health.autocorr)


def refine_advice(current: Health, refine: int, previous: tuple[int, Health] | None = None) -> str:
    """One sentence on refining, from ``current`` and the same picture's ``previous`` (refine, health)."""
    if previous is not None and previous[0] != refine:
        before_refine, before = previous
        change = (
            f"spread {before.std:.2f} → {current.std:.2f}, "
            f"neighbours {before.autocorr:+.2f} → {current.autocorr:+.2f}"
        )
        gap = distance(current) - distance(before)
        if gap < -SAME:
            return f"Refine {refine} (instead of {before_refine}) brought it closer to noise ({change})."
        if gap > SAME:
            return (
                f"Refine {refine} (instead of {before_refine}) moved it further from noise ({change}): "
                "refining makes the round trip exact, not the latent noise-like."
            )
        return f"Refine {refine} (instead of {before_refine}) left it about as far from noise ({change})."
    if refine == 0:
        return "Refining the inversion may bring it closer: try Refine and compare these numbers."
    return ""

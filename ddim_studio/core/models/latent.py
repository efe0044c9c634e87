"""Latent diffusion models (Rombach et al., CVPR 2022) behind the :class:`DiffusionModel` protocol.

An LDM is an autoencoder (VQ or KL) plus a UNet that runs DDIM in the autoencoder's latent space.
The UNet is wrapped exactly like a pixel model, so :attr:`LatentUNet.sample_shape` is the *latent*
shape and every sampler, inversion and edit runs unchanged on latents; only the operations cross
between pictures and latents, through :func:`to_latents` and :func:`to_pictures`:

    latent = scale · encoder(picture)          picture = decoder(latent / scale)

The encoder output is the one the UNet was trained on: the **unquantized** VQ output (after
``quant_conv``) or the **mean** of the KL posterior, never a sample. Decoding quantizes a VQ latent
first by default, as the authors sample. The autoencoder stays in float32 (CPU decoders in half
precision lose colour); latents go to its device and dtype and come back in the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ddim_studio.core.models.diffusers_adapter import DiffusersUNet
from ddim_studio.core.models.protocol import ModelLoadError
from ddim_studio.core.schedule import NoiseSchedule

#: Stable Diffusion's KL-f8 scale; diffusers' ``VQModel`` default, wrong for the CompVis VQ models.
SD_SCALE = 0.18215
AUTOENCODER_KINDS = ("vq", "kl")


@dataclass(frozen=True)
class LatentScale:
    """The latent scale of a model and where it came from (shown in Model Info).

    Attributes:
        value: the factor: latent = value · encoder(picture).
        reason: a sentence saying why this value was chosen.
    """

    value: float
    reason: str


def choose_scale(
    kind: str,
    *,
    config_value: Any = None,
    checkpoint_value: float | None = None,
    override: float | None = None,
) -> LatentScale:
    """The latent scale by the studio's rules.

    1. ``override`` (``--latent-scale``) wins.
    2. A checkpoint's ``scale_factor`` buffer (KL models trained with ``scale_by_std``).
    3. VQ: 1.0 when the config has no ``scaling_factor`` or has Stable Diffusion's 0.18215 (copied
       in by mistake: the CompVis VQ models were trained at 1.0; diffusers issue 6725), else the
       config's value.
    4. KL: the config's value; 1.0 (LDM's default) when it has none.

    Raises:
        ModelLoadError: a scale that is not a finite positive number.
    """
    if override is not None:
        return LatentScale(_positive(override, "The latent scale asked for"), "set by hand (--latent-scale)")
    if checkpoint_value is not None:
        value = _positive(checkpoint_value, "The checkpoint's scale_factor")
        return LatentScale(value, "the checkpoint's scale_factor buffer (1/std of the latents in training)")
    if config_value is None:
        why = "its config has no scaling_factor; LDM's default is 1.0"
        if kind == "vq":
            why = "a VQ model whose config has no scaling_factor: the CompVis VQ models were trained at 1.0"
        return LatentScale(1.0, why)
    value = _positive(config_value, "The autoencoder config's scaling_factor")
    if kind == "vq" and abs(value - SD_SCALE) < 1e-6:
        return LatentScale(
            1.0, "a VQ model whose config has Stable Diffusion's 0.18215, a copying mistake: 1.0 used"
        )
    return LatentScale(value, "the autoencoder config's scaling_factor")


def _positive(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ModelLoadError(f"{what} {str(value)[:40]!r} is not a number.") from None
    if not (number > 0 and number < 1e6):
        raise ModelLoadError(f"{what} {number:g} is not a positive number below a million.")
    return number


class Autoencoder:
    """A diffusers ``VQModel`` or ``AutoencoderKL`` as the studio's picture ↔ latent map.

    Attributes:
        module: the diffusers module (eval mode, float32).
        kind: ``"vq"`` or ``"kl"``.
        scale: the latent scale and its reason.
        picture_shape: (C, H, W) of the pictures.
        latent_shape: (C, h, w) of the latents (the UNet's sample shape).
    """

    def __init__(
        self,
        module: Any,
        kind: str,
        scale: LatentScale,
        picture_shape: tuple[int, int, int],
        latent_shape: tuple[int, int, int],
    ) -> None:
        if kind not in AUTOENCODER_KINDS:
            raise ValueError(f"kind must be one of {AUTOENCODER_KINDS}, got {kind!r}.")
        self.module = module.eval()
        self.kind = kind
        self.scale = scale
        self.picture_shape = picture_shape
        self.latent_shape = latent_shape

    @property
    def device(self) -> torch.device:
        """Where the autoencoder's weights live."""
        return next(self.module.parameters()).device

    @property
    def factor(self) -> int:
        """The downsampling factor f (picture side / latent side)."""
        return self.picture_shape[1] // self.latent_shape[1]

    def encode(self, pictures: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) pictures in [−1, 1] → (N, C, h, w) latents (unquantized / mean, times scale)."""
        x = pictures.to(device=self.device, dtype=torch.float32)
        with torch.no_grad():
            if self.kind == "vq":
                z = self.module.encode(x).latents
            else:
                z = self.module.encode(x).latent_dist.mean
        return (z * self.scale.value).to(device=pictures.device, dtype=pictures.dtype)

    def decode(self, latents: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
        """(N, C, h, w) latents → (N, 3, H, W) pictures in about [−1, 1] (not clamped).

        Args:
            latents: scaled latents (what the UNet samples).
            quantize: VQ only: snap to the codebook first (the authors' decode); KL ignores it.
        """
        z = latents.to(device=self.device, dtype=torch.float32) / self.scale.value
        with torch.no_grad():
            if self.kind == "vq":
                out = self.module.decode(z, force_not_quantize=not quantize).sample
            else:
                out = self.module.decode(z).sample
        return out.to(device=latents.device, dtype=torch.float32)

    def round_trip(self, pictures: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
        """decode(encode(pictures)): the floor of any reconstruction through this autoencoder."""
        return self.decode(self.encode(pictures), quantize=quantize)


class LatentUNet(DiffusersUNet):
    """The UNet of an LDM: a :class:`DiffusersUNet` on latents that also carries its autoencoder.

    ``sample_shape`` is the latent shape; samplers cannot tell it from a pixel model.
    """

    def __init__(self, unet: Any, schedule: NoiseSchedule, autoencoder: Autoencoder) -> None:
        super().__init__(unet, schedule, autoencoder.latent_shape)
        self.autoencoder = autoencoder


def autoencoder_of(model: Any) -> Autoencoder | None:
    """The model's autoencoder, or None for a pixel-space model.

    A wrapper around a model (another backend, autocast) should carry ``autoencoder`` itself; one
    that keeps the wrapped model as ``inner`` is looked through, so that a latent model never has
    its latents taken for pictures.
    """
    for _ in range(4):
        found = getattr(model, "autoencoder", None)
        if isinstance(found, Autoencoder):
            return found
        model = getattr(model, "inner", None)
        if model is None:
            return None
    return None


def picture_shape(model: Any) -> tuple[int, int, int]:
    """(C, H, W) of the model's pictures: the sample shape of a pixel model, the decoder's of an LDM."""
    ae = autoencoder_of(model)
    return tuple(ae.picture_shape) if ae is not None else tuple(model.sample_shape)  # type: ignore[return-value]


def to_latents(model: Any, pictures: torch.Tensor) -> torch.Tensor:
    """Pictures in the model's space: encoded for an LDM, unchanged for a pixel model."""
    ae = autoencoder_of(model)
    return pictures if ae is None else ae.encode(pictures)


def to_pictures(model: Any, x: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
    """Samples of the model as pictures: decoded for an LDM, unchanged for a pixel model."""
    ae = autoencoder_of(model)
    return x if ae is None else ae.decode(x, quantize=quantize)


def latent_mask(mask: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """A (…, 1, H, W) picture mask on the latent grid: a cell is 1 when any of its pixels is masked.

    Raises:
        ValueError: a picture side that is not a multiple of the latent side.
    """
    h, w = int(mask.shape[-2]), int(mask.shape[-1])
    lh, lw = latent_hw
    if h % lh or w % lw:
        raise ValueError(f"The mask is {w}×{h}, not a multiple of the latent grid {lw}×{lh}.")
    m = mask.reshape(-1, 1, h, w).to(torch.float32)
    cells = torch.nn.functional.max_pool2d((m > 0).to(torch.float32), kernel_size=(h // lh, w // lw))
    return cells.reshape(*mask.shape[:-2], lh, lw)


def feather_weights(mask: torch.Tensor, feather: int) -> torch.Tensor:
    """How much of a decoded picture to keep per pixel: 1 on the mask, falling linearly to 0 at
    ``feather`` pixels (Chebyshev distance) beyond it, exactly 0 further out.

    Args:
        mask: (N, 1, H, W), > 0 where the picture was regenerated.
        feather: the seam's width in pixels (0: a hard edge).
    """
    hard = (mask > 0).to(torch.float32)
    weights = hard.clone()
    for k in range(1, int(feather) + 1):
        grown = torch.nn.functional.max_pool2d(hard, kernel_size=2 * k + 1, stride=1, padding=k)
        weights = torch.maximum(weights, grown * (1.0 - k / (feather + 1)))
    return weights


def paste_back(source: torch.Tensor, decoded: torch.Tensor, mask: torch.Tensor, feather: int) -> torch.Tensor:
    """The decoded picture where the mask regenerates, the source elsewhere, with a feathered seam.

    Pixels farther than ``feather`` from the mask are the source's, bit for bit: a latent edit
    regenerates whole latent cells and the decoder changes every pixel a little, so only pasting
    the source back keeps what the person asked to keep.
    """
    weights = feather_weights(mask.to(decoded.device), feather).expand_as(decoded)
    src = source.to(device=decoded.device, dtype=decoded.dtype)
    blended = weights * decoded + (1.0 - weights) * src
    return torch.where(weights > 0, blended, src)

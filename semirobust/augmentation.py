"""CIFAR-style augmentation of a batch (random crop from a zero-padded image, random horizontal flip) as an
explicit transform: the same crop and flip can be applied to something other than the images (ATTA's carried
perturbations) and undone.

ATTA (Zheng et al., 2020) carries each training image's perturbation from one epoch to the next. With
augmentation the image is cropped and flipped differently in every epoch, so a perturbation stored in the
coordinates of last epoch's augmented image would land on the wrong pixels of this epoch's. The reference keeps
the perturbation in the coordinates of the padded original image: each epoch crops and flips it with the image's
own transform (:meth:`Augmentation.crop`), and the attack's result is written back through the inverse transform
(:meth:`Augmentation.uncrop_into`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: zero padding of the random crop (CIFAR's 4 pixels on each side)
PADDING = 4


@dataclass(frozen=True)
class Augmentation:
    """One batch's crop offsets ``top``/``left`` (into the image padded by ``padding``) and flips, per image."""

    top: torch.Tensor
    left: torch.Tensor
    flip: torch.Tensor
    padding: int = PADDING

    @classmethod
    def draw(cls, n: int, generator: torch.Generator, padding: int = PADDING,
             device: torch.device | str = "cpu") -> Augmentation:
        """Random offsets and flips for ``n`` images, drawn from ``generator`` (crop rows, crop columns, flips)."""
        top = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(device)
        left = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(device)
        flip = (torch.rand(n, generator=generator) < 0.5).to(device)
        return cls(top, left, flip, padding)

    def _window(self, padded: torch.Tensor, h: int, w: int) -> tuple:
        n, c = padded.shape[:2]
        rows = (self.top[:, None] + torch.arange(h, device=padded.device))[:, None, :, None]
        cols = (self.left[:, None] + torch.arange(w, device=padded.device))[:, None, None, :]
        batch = torch.arange(n, device=padded.device)[:, None, None, None]
        chan = torch.arange(c, device=padded.device)[None, :, None, None]
        return batch, chan, rows, cols

    def crop(self, padded: torch.Tensor) -> torch.Tensor:
        """Each image's window of an already padded batch ``(n, c, h + 2p, w + 2p)``, flipped where drawn."""
        p = self.padding
        h, w = padded.shape[2] - 2 * p, padded.shape[3] - 2 * p
        out = padded[self._window(padded, h, w)]
        return torch.where(self.flip[:, None, None, None], out.flip(3), out)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The augmented batch: ``x`` zero-padded, cropped and flipped."""
        p = self.padding
        return self.crop(F.pad(x, (p, p, p, p)))

    def uncrop_into(self, padded: torch.Tensor, values: torch.Tensor) -> None:
        """The inverse of :meth:`crop`: write ``values`` (in augmented coordinates) back into each image's window of
        ``padded`` (in place), unflipped, so that pixel ``(i, j)`` of the original image gets what was at its place."""
        unflipped = torch.where(self.flip[:, None, None, None], values.flip(3), values)
        padded[self._window(padded, values.shape[2], values.shape[3])] = unflipped.to(padded.dtype)


def augment(x: torch.Tensor, generator: torch.Generator, padding: int = PADDING) -> torch.Tensor:
    """CIFAR-style augmentation on a batch tensor: random crop with zero padding, random h-flip."""
    return Augmentation.draw(x.shape[0], generator, padding, x.device).apply(x)


__all__ = ["PADDING", "Augmentation", "augment"]

"""Pictures for people: contact sheets of rendered images (more plots land with evaluate).

Functions here return arrays; the CLI writes them to files.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["contact_sheet", "encode_png"]


def contact_sheet(rows: Sequence[tuple[str, np.ndarray]], *, columns: int | None = None,
                  pad: int = 4, caption_px: int = 18) -> np.ndarray:
    """Arrange groups of images in a grid, one captioned row per group.

    Parameters
    ----------
    rows : sequence of ``(caption, images)`` with ``images`` uint8 (n, H, W, 3); all images
        share one size. Groups with fewer images than ``columns`` leave blanks.
    columns : images per row (default: the largest group).

    Returns
    -------
    uint8 RGB array (height, width, 3).
    """
    import cv2

    rows = [(c, np.asarray(im)) for c, im in rows if len(im)]
    if not rows:
        raise ValueError("contact_sheet needs at least one non-empty group of images")
    h, w = rows[0][1].shape[1:3]
    ncol = columns or max(len(im) for _, im in rows)
    sheet_h = len(rows) * (caption_px + h + pad) + pad
    sheet_w = ncol * (w + pad) + pad
    sheet = np.full((sheet_h, sheet_w, 3), 255, dtype=np.uint8)
    y = pad
    for caption, ims in rows:
        cv2.putText(sheet, str(caption), (pad, y + caption_px - 5), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, (0, 0, 0), 1, cv2.LINE_AA)
        y += caption_px
        for j, im in enumerate(ims[:ncol]):
            x = pad + j * (w + pad)
            sheet[y:y + h, x:x + w] = im
        y += h + pad
    return sheet


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB image."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()

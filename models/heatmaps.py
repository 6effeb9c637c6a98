"""Top-down crops and heatmap decoding, in the unbiased (UDP) convention ViTPose was trained with.

Frames: a person's box (image pixels) is mapped onto the network input so that its
left/top edge lands on input pixel 0 and its right/bottom edge on pixel W−1 / H−1;
heatmap pixel (i, j) then sits at input pixel (i·(W−1)/(w−1), j·(H−1)/(h−1)). Decoding
finds each heatmap's maximum and refines it to sub-pixel precision with one Newton
step on the log of the smoothed heatmap (DARK, Zhang et al. CVPR 2020), as mmpose's
``post_dark_udp`` does; then maps it back through the same affine to image pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

ASPECT = 192 / 256  # width / height of ViTPose's input


def box_to_crop(box: np.ndarray, padding: float = 1.25, aspect: float = ASPECT) -> tuple[np.ndarray, np.ndarray]:
    """Centre (2,) and size (2,) w, h in pixels of the crop region for a person box x0 y0 x1 y1:
    padded by ``padding`` and widened or heightened to the input's aspect ratio."""
    box = np.asarray(box, dtype=np.float64)
    centre = (box[:2] + box[2:]) / 2
    w, h = box[2:] - box[:2]
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return centre, np.array([w, h]) * padding


def crop_affine(centre: np.ndarray, size: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """(2, 3) affine taking image pixels to output pixels: the region ``centre`` ± ``size``/2
    spans output pixels 0 .. W−1 and 0 .. H−1 (UDP)."""
    H, W = out_hw
    sx, sy = (W - 1) / size[0], (H - 1) / size[1]
    x0, y0 = centre - size / 2
    return np.array([[sx, 0.0, -sx * x0], [0.0, sy, -sy * y0]])


def crop(image: np.ndarray, centre: np.ndarray, size: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """The (H, W, C) crop of a region (bilinear, zero outside the image)."""
    M = crop_affine(centre, size, out_hw)
    return cv2.warpAffine(image, M, (out_hw[1], out_hw[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def refine_dark(peak: np.ndarray, blurred_log: np.ndarray) -> np.ndarray:
    """Sub-pixel peak: one Newton step from the integer ``peak`` (x, y) on ``blurred_log`` (h, w)."""
    x, y = int(peak[0]), int(peak[1])
    h, w = blurred_log.shape
    if not (1 <= x < w - 1 and 1 <= y < h - 1):
        return peak.astype(np.float64)
    L = blurred_log
    dx = 0.5 * (L[y, x + 1] - L[y, x - 1])
    dy = 0.5 * (L[y + 1, x] - L[y - 1, x])
    dxx = L[y, x + 1] - 2 * L[y, x] + L[y, x - 1]
    dyy = L[y + 1, x] - 2 * L[y, x] + L[y - 1, x]
    dxy = 0.25 * (L[y + 1, x + 1] - L[y + 1, x - 1] - L[y - 1, x + 1] + L[y - 1, x - 1])
    Hs = np.array([[dxx, dxy], [dxy, dyy]])
    det = np.linalg.det(Hs)
    if det <= 1e-12 or dxx >= 0:  # not a proper maximum: keep the integer peak
        return peak.astype(np.float64)
    step = -np.linalg.solve(Hs, np.array([dx, dy]))
    return peak + np.clip(step, -1.0, 1.0)


def decode_heatmaps(heatmaps: np.ndarray, blur_kernel: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """(K, h, w) heatmaps -> (K, 2) sub-pixel peaks (x, y in heatmap pixels) and (K,) peak values."""
    K, h, w = heatmaps.shape
    flat = heatmaps.reshape(K, -1)
    idx = flat.argmax(1)
    peaks = np.stack([idx % w, idx // w], axis=1).astype(np.float64)
    maxvals = flat[np.arange(K), idx].astype(np.float64)
    for k in range(K):
        if maxvals[k] <= 0:
            continue
        blurred = cv2.GaussianBlur(heatmaps[k].astype(np.float32), (blur_kernel, blur_kernel), 0)
        blurred *= maxvals[k] / max(float(blurred.max()), 1e-12)  # keep the peak height, as DARK does
        peaks[k] = refine_dark(peaks[k], np.log(np.maximum(blurred, 1e-10)))
    return peaks, maxvals


def heatmap_to_image(peaks: np.ndarray, centre: np.ndarray, size: np.ndarray, heatmap_hw: tuple[int, int]) -> np.ndarray:
    """(K, 2) heatmap pixels -> image pixels, for a crop of ``centre`` and ``size`` (UDP)."""
    h, w = heatmap_hw
    scale = size / np.array([w - 1, h - 1])
    return peaks * scale + (centre - size / 2)

"""Published numbers shown as reference rows (clearly labelled: published, not measured).

ECLIPSE (Patel et al., CVPR 2024), Table 1: T2I-CompBench val, BLIP-VQA (color, shape, texture), UniDet
spatial, CLIPScore non-spatial; 10 images per prompt; the color file before the Sept 2025 dedup.
"""

from __future__ import annotations

SOURCE = "ECLIPSE (Patel et al., CVPR 2024), Table 1"
# suite -> the protocol the paper used (our suite names; metric; images per prompt)
PROTOCOL = {
    "t2i-compbench/color@2023": "blip-vqa", "t2i-compbench/shape": "blip-vqa", "t2i-compbench/texture": "blip-vqa",
    "t2i-compbench/spatial": "t2i-spatial", "t2i-compbench/non_spatial": "clip-score",
}
COLUMNS = ("t2i-compbench/color@2023", "t2i-compbench/shape", "t2i-compbench/texture", "t2i-compbench/spatial",
           "t2i-compbench/non_spatial")
ROWS = {  # model: (color, shape, texture, spatial, non-spatial)
    "Stable Diffusion v1.4": (0.3765, 0.3576, 0.4156, 0.1246, 0.3076),
    "Stable Diffusion v2.1": (0.5065, 0.4221, 0.4922, 0.1342, 0.3096),
    "Wurstchen": (0.3216, 0.3821, 0.3889, 0.0696, 0.2949),
    "Kandinsky v2.1": (0.4647, 0.4725, 0.5613, 0.1219, 0.3117),
    "DALL-E-2": (0.5750, 0.5464, 0.6374, 0.1283, 0.3043),
    "Karlo": (0.5127, 0.5277, 0.5887, 0.1337, 0.3112),
    "ECLIPSE-Karlo (MSCOCO)": (0.5965, 0.5063, 0.6136, 0.1574, 0.3235),
    "ECLIPSE-Karlo (CC3M)": (0.5421, 0.5090, 0.5881, 0.1478, 0.3213),
    "ECLIPSE-Karlo (CC12M; released)": (0.5660, 0.5234, 0.5941, 0.1625, 0.3196),
    "Kandinsky v2.2": (0.5768, 0.4999, 0.5760, 0.1912, 0.3132),
    "ECLIPSE-Kandinsky v2.2 (MSCOCO)": (0.5785, 0.4951, 0.6173, 0.1794, 0.3204),
    "ECLIPSE-Kandinsky v2.2 (HighRes 5M; released)": (0.6119, 0.5429, 0.6165, 0.1903, 0.3139),
}


def published(suite: str, metric: str, images_per_prompt: int) -> dict[str, float]:
    """Published scores for a suite, when our run follows the paper's protocol; else nothing."""
    if PROTOCOL.get(suite) != metric or images_per_prompt != 10:
        return {}
    col = COLUMNS.index(suite)
    return {model: row[col] for model, row in ROWS.items()}

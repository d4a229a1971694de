"""Full-size speed: every real architecture (random weights, built from scripts/full_size_configs.py, no download),
per pairing and stage, ours (batched) against the reference protocols, with peak memory.

- Generation: each stage timed on one batch (text encoder; ECLIPSE prior: one forward; diffusion prior, decoder,
  super-res: one step, with classifier-free guidance where the pipeline uses it) and scaled to the pipeline's
  step counts. The reference protocol generates one image at a time (batch 1, reseeded per image); ours packs
  --batch-sizes images per call. Images/s and the ratio are printed for each.
- BLIP-VQA evidence: ours = one vision pass per image and the questions of all images batched; the reference =
  8 full passes (vision + question) over every image, one per noun-phrase slot, as BLIP_vqa.py --np_num 8 runs.

On a CPU (no GPU here) use few images and read the ratios, not the absolute times; the output says which device,
dtype and attention kernel ran.

    python scripts/bench_full_size.py [--batch-sizes 1,4] [--dtypes fp32,bf16] [--pairings eclipse-karlo,...]
                                      [--channels-last]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import full_size_configs as C  # noqa: E402

DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
STEPS = {"prior": 25, "decoder_karlo": 25, "super_res": 7, "decoder_kandinsky": 50}


CHANNELS_LAST = False  # --channels-last: UNets, MoVQ and their 4-D inputs in channels_last memory format


def fmt(x):
    """x in channels_last when --channels-last is given (modules and 4-D tensors); else x."""
    if not CHANNELS_LAST or (isinstance(x, torch.Tensor) and x.dim() != 4):
        return x
    return x.to(memory_format=torch.channels_last)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int = 1) -> float:
    with torch.no_grad():
        fn()  # warm-up (lazy inits, kernel selection)
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - t0) / repeat


def peak(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB GPU"
    return f"{rss_mb() / 1024:.1f} GiB RSS"


def text_stage(cfg: dict, B: int, device: str, dtype):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    m = CLIPTextModelWithProjection(CLIPTextConfig(**cfg)).to(device, dtype).eval()
    ids = torch.randint(0, 49000, (B, 77), device=device)
    t = timed(lambda: m(ids))
    del m
    return t


def prior_stages(kind: str, dim: int, B: int, device: str, dtype) -> dict:
    from diffusers import PriorTransformer

    out = {}
    eclipse = C.eclipse_prior(dim).to(device, dtype)
    x, e = torch.randn(B, dim, device=device, dtype=dtype), torch.randn(B, dim, device=device, dtype=dtype)
    h = torch.randn(B, 77, dim, device=device, dtype=dtype)
    mask = torch.ones(B, 77, dtype=torch.bool, device=device)
    out["eclipse prior (1 forward)"] = timed(lambda: eclipse(x, e, h, mask))
    if kind == "diffusion":
        torch.manual_seed(0)
        diff = PriorTransformer(**(C.KARLO_PRIOR if dim == 768 else C.KANDINSKY_PRIOR)).to(device, dtype).eval()
        x2, e2, h2, m2 = (torch.cat([v, v]) for v in (x, e, h, mask))
        out[f"diffusion prior ({STEPS['prior']} guided steps)"] = \
            timed(lambda: diff(x2, timestep=10, proj_embedding=e2, encoder_hidden_states=h2, attention_mask=m2)) \
            * STEPS["prior"]
        del diff
    return out


def karlo_decoder_stages(B: int, device: str, dtype) -> dict:
    from diffusers import UNet2DConditionModel, UNet2DModel
    from diffusers.pipelines.deprecated.unclip import UnCLIPTextProjModel

    torch.manual_seed(0)
    dec = fmt(UNet2DConditionModel(**C.KARLO_DECODER).to(device, dtype).eval())
    proj = UnCLIPTextProjModel(**C.KARLO_TEXT_PROJ).to(device, dtype).eval()
    attn = type(next(m for m in dec.modules() if hasattr(m, "processor")).processor).__name__
    img = torch.randn(B, 768, device=device, dtype=dtype)
    txt = torch.randn(2 * B, 768, device=device, dtype=dtype)
    hid = torch.randn(2 * B, 77, 768, device=device, dtype=dtype)
    hidden, temb = proj(image_embeddings=img, prompt_embeds=txt, text_encoder_hidden_states=hid,
                        do_classifier_free_guidance=True)
    mask = torch.ones(2 * B, hidden.shape[1], dtype=torch.bool, device=device)
    lat = fmt(torch.randn(2 * B, 3, 64, 64, device=device, dtype=dtype))
    out = {"decoder (25 guided steps, 64 px)": timed(lambda: dec(lat, 10, encoder_hidden_states=hidden,
                                                                 class_labels=temb, attention_mask=mask))
           * STEPS["decoder_karlo"]}
    del dec
    torch.manual_seed(0)
    sr = fmt(UNet2DModel(**C.KARLO_SUPER_RES).to(device, dtype).eval())
    x = fmt(torch.randn(B, 6, 256, 256, device=device, dtype=dtype))
    out["super-res (7 steps, 256 px)"] = timed(lambda: sr(x, 10)) * STEPS["super_res"]
    del sr
    return out, attn


def kandinsky_decoder_stages(B: int, device: str, dtype) -> dict:
    from diffusers import UNet2DConditionModel, VQModel

    torch.manual_seed(0)
    unet = fmt(UNet2DConditionModel(**C.KANDINSKY_UNET).to(device, dtype).eval())
    attn = type(next(m for m in unet.modules() if hasattr(m, "processor")).processor).__name__
    emb = torch.randn(2 * B, 1280, device=device, dtype=dtype)
    lat = fmt(torch.randn(2 * B, 4, 64, 64, device=device, dtype=dtype))
    out = {"decoder (50 guided steps, 64 x 64 latents)":
           timed(lambda: unet(lat, 10, encoder_hidden_states=None, added_cond_kwargs={"image_embeds": emb}))
           * STEPS["decoder_kandinsky"]}
    del unet
    torch.manual_seed(0)
    movq = fmt(VQModel(**C.KANDINSKY_MOVQ).to(device, dtype).eval())
    z = fmt(torch.randn(B, 4, 64, 64, device=device, dtype=dtype))
    out["MoVQ decode (512 px)"] = timed(lambda: movq.decode(z, force_not_quantize=True))
    del movq
    return out, attn


PAIRINGS = {
    "eclipse-karlo": ("karlo", "eclipse", 768), "karlo": ("karlo", "diffusion", 768),
    "eclipse-kandinsky": ("kandinsky", "eclipse", 1280), "kandinsky": ("kandinsky", "diffusion", 1280),
}


def bench_pairing(name: str, B: int, device: str, dtype) -> tuple[dict, str]:
    family, kind, dim = PAIRINGS[name]
    stages = {"text encoder": text_stage(C.CLIP_L_TEXT if dim == 768 else C.CLIP_BIGG_TEXT, B, device, dtype)}
    prior = prior_stages(kind, dim, B, device, dtype)
    stages.update({k: v for k, v in prior.items() if (kind == "eclipse") == k.startswith("eclipse")})
    key = (family, B, dtype)
    if key not in _DECODER:  # the ECLIPSE and the diffusion pairing of a family share the decoder stages
        _DECODER[key] = (karlo_decoder_stages if family == "karlo" else kandinsky_decoder_stages)(B, device, dtype)
    dec, attn = _DECODER[key]
    stages.update(dec)
    return stages, attn


_DECODER: dict = {}


def bench_vqa(n_images: int, n_questions: int, device: str) -> None:
    from PIL import Image
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

    from eclipse_bench.metrics.vqa import BlipVqa
    from eclipse_bench.bench.core.tokenizers import build_tiny_bert_tokenizer

    torch.manual_seed(0)
    model = BlipForQuestionAnswering(BlipConfig(**C.BLIP_VQA)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        BlipProcessor(image_processor=BlipImageProcessor(), tokenizer=build_tiny_bert_tokenizer()).save_pretrained(tmp)
        vqa = BlipVqa(tmp, device=device)
    print(f"BLIP VQA {C.n_params(vqa.model):.0f}M parameters at {vqa.image_size} px (ViT-B/16 + BERT-base), "
          f"{n_images} images x {n_questions} noun phrases")
    images = [Image.new("RGB", (512, 512), (i * 40 % 255, 90, 200)) for i in range(n_images)]
    qs = [f"a red car number {k}?" for k in range(n_questions)]
    ours = timed(lambda: vqa.p_yes([im for im in images for _ in qs], qs * n_images))
    # the reference: 8 passes (one per noun-phrase slot), each a full vision + question forward over every image
    pixels = vqa._pixels(images)

    def reference():
        for k in range(8):
            vis = vqa.model.vision_model(pixel_values=pixels, interpolate_pos_encoding=vqa.interpolate)[0]
            tok = vqa.encode_questions([qs[k % len(qs)]] * n_images)
            q = vqa.model.text_encoder(input_ids=tok.input_ids, attention_mask=tok.attention_mask,
                                       encoder_hidden_states=vis, return_dict=False)[0]
            bos = torch.full((n_images, 1), vqa.bos_id, dtype=torch.long)
            vqa.model.text_decoder(input_ids=bos, encoder_hidden_states=q)

    ref = timed(reference)
    print(f"  ours {n_images / ours:.3f} images/s, reference 8-pass protocol {n_images / ref:.3f} images/s: "
          f"{ref / ours:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-sizes", default="1,4")
    ap.add_argument("--dtypes", default="fp32")
    ap.add_argument("--pairings", default=",".join(PAIRINGS))
    ap.add_argument("--vqa-images", type=int, default=4)
    ap.add_argument("--skip-vqa", action="store_true")
    ap.add_argument("--channels-last", action="store_true", help="UNets and MoVQ in channels_last memory format")
    args = ap.parse_args()
    global CHANNELS_LAST
    CHANNELS_LAST = args.channels_last
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; attention: torch scaled_dot_product_attention "
          f"(diffusers AttnProcessor2_0 / transformers sdpa); memory format: "
          f"{'channels_last' if CHANNELS_LAST else 'contiguous (NCHW)'}")
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    for pairing in args.pairings.split(","):
        for dt in args.dtypes.split(","):
            per_image = {}
            for B in sizes:
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                stages, attn = bench_pairing(pairing, B, device, DT[dt])
                per_image[B] = {k: v / B for k, v in stages.items()}
                total = sum(per_image[B].values())
                print(f"{pairing} {dt} batch {B} [{attn}]: " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                                    per_image[B].items())
                      + f" s/image; total {total:.1f} s/image = {1 / total:.3f} images/s; peak {peak(device)}")
            ref = sum(per_image[min(sizes)].values())
            for B in sizes:
                if B != min(sizes):
                    ours = sum(per_image[B].values())
                    print(f"  {pairing} {dt}: ours (batch {B}) {1 / ours:.3f} images/s vs reference protocol "
                          f"(one image at a time) {1 / ref:.3f} images/s: {ref / ours:.2f}x")
    if not args.skip_vqa:
        bench_vqa(args.vqa_images, 2, device)


if __name__ == "__main__":
    main()

"""The real architectures, as data, for full-size benchmarks with random weights (no download).

Sources (facts, not code): the diffusers conversion script for Karlo
(huggingface/diffusers scripts/convert_kakao_brain_unclip_to_diffusers.py: DECODER_CONFIG,
SUPER_RES_UNET_FIRST_STEPS_CONFIG, PRIOR_CONFIG = PriorTransformer defaults, text_proj from the decoder's
time embedding); the hub config.json files of kakaobrain/karlo-v1-alpha, kandinsky-community/kandinsky-2-2-prior
and -decoder, ECLIPSE-Community/ECLIPSE_*_Prior (16 heads x 32, 10 layers, 768 / 1280; 33.14M / 34.19M
parameters per shared/reference/eclipse-and-decoders.md), openai/clip-vit-large-patch14 and
laion/CLIP-ViT-bigG-14 text towers, Salesforce/blip-vqa-capfilt-large (ViT-B/16 + BERT-base), open_clip's
ViT-B-32 / ViT-L-14 and ultralytics' yolo11x-seg.yaml. The Kandinsky 2.2 and BLIP values were transcribed
from those configs without hub access here: a user with the weights can diff them against config.json.
"""

from __future__ import annotations

KARLO_PRIOR = dict(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=768,
                   num_embeddings=77, additional_embeddings=4)
KARLO_DECODER = dict(
    sample_size=64, layers_per_block=3, in_channels=3, out_channels=6, block_out_channels=(320, 640, 960, 1280),
    down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D",
                      "SimpleCrossAttnDownBlock2D"),
    up_block_types=("SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D",
                    "ResnetUpsampleBlock2D"),
    mid_block_type="UNetMidBlock2DSimpleCrossAttn", cross_attention_dim=1536, class_embed_type="identity",
    attention_head_dim=64, resnet_time_scale_shift="scale_shift")
KARLO_TEXT_PROJ = dict(clip_embeddings_dim=768, time_embed_dim=1280, cross_attention_dim=1536)
KARLO_SUPER_RES = dict(  # super_res_first and super_res_last share it
    sample_size=256, layers_per_block=3, in_channels=6, out_channels=3, block_out_channels=(320, 640, 960, 1280),
    down_block_types=("ResnetDownsampleBlock2D",) * 4, up_block_types=("ResnetUpsampleBlock2D",) * 4,
    add_attention=False)
CLIP_L_TEXT = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                   projection_dim=768, vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu")
CLIP_BIGG_TEXT = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                      projection_dim=1280, vocab_size=49408, max_position_embeddings=77, hidden_act="gelu")
ECLIPSE_KARLO = dict(num_attention_heads=16, attention_head_dim=32, num_layers=10, embedding_dim=768)
ECLIPSE_KANDINSKY = dict(num_attention_heads=16, attention_head_dim=32, num_layers=10, embedding_dim=1280)
KANDINSKY_PRIOR = dict(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=1280,
                       num_embeddings=77, additional_embeddings=4)
KANDINSKY_UNET = dict(
    sample_size=64, in_channels=4, out_channels=8, layers_per_block=3, block_out_channels=(384, 768, 1152, 1536),
    down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D",
                      "SimpleCrossAttnDownBlock2D"),
    up_block_types=("SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D",
                    "ResnetUpsampleBlock2D"),
    mid_block_type="UNetMidBlock2DSimpleCrossAttn", encoder_hid_dim=1280, encoder_hid_dim_type="image_proj",
    addition_embed_type="image", cross_attention_dim=768, attention_head_dim=64, resnet_time_scale_shift="scale_shift",
    class_embed_type=None)
KANDINSKY_MOVQ = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, norm_type="spatial",
    num_vq_embeddings=16384, vq_embed_dim=4, block_out_channels=(128, 256, 256, 512),
    down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
    up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"))
BLIP_VQA = dict(
    vision_config=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                       image_size=384, patch_size=16),
    text_config=dict(vocab_size=30524, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=512))
OPEN_CLIP = {"clip-score": "ViT-B-32", "geneval colour": "ViT-L-14"}
YOLO = "yolo11x-seg.yaml"


def eclipse_prior(dim: int = 768):
    import torch

    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer

    torch.manual_seed(0)
    return EclipsePriorTransformer(**(ECLIPSE_KARLO if dim == 768 else ECLIPSE_KANDINSKY)).eval()


def n_params(model) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6

# Qwen/Qwen3-VL-8B-Instruct (config.json, transcribed without hub access): the judge of GenEval 2
QWEN3_VL_8B_TEXT = dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                        num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=262144,
                        rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                                            "mrope_section": [24, 20, 20], "mrope_interleaved": True})
QWEN3_VL_8B_VISION = dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, patch_size=16,
                          spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=4096, num_position_embeddings=2304,
                          deepstack_visual_indexes=[8, 16, 24], hidden_act="gelu_pytorch_tanh")
QWEN3_VL_PIXELS = dict(patch_size=16, min_pixels=65536, max_pixels=16777216)   # preprocessor_config.json
# mPLUG-large VQA (damo/mplug_visual-question-answering_coco_large_en; modelscope's MPlugConfig defaults and
# shared/reference/dpg-bench.md): CLIP ViT-L/14 at 504 px (the vision tower without its last layer), a BERT-base
# text encoder of 6 layers, a fusion encoder of 6 and a decoder of 12 (the defaults ports of its config_bert.json
# use), beam 5, min 1, max 10 tokens. stride_layer (how often a fusion layer attends over image and text jointly)
# is not in those defaults: 3 is assumed here (mPLUG's skip-connected fusion); it changes the cost little.
MPLUG_LARGE = dict(image_res=504, clip_name="ViT-L-14", vision_width=1024, clip_embed_dim=768, clip_image_resolution=224,
                   clip_vision_layers=24, clip_vision_width=1024, clip_vision_patch_size=14, clip_context_length=77,
                   clip_vocab_size=49408, clip_transformer_width=768, clip_transformer_heads=12,
                   clip_transformer_layers=12, beam_size=5, min_length=1, max_length=10)
MPLUG_LARGE_BERT = dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072, vocab_size=30522,
                        max_position_embeddings=512, text_encoder_layers=6, fusion_layers=6, text_decode_layers=12,
                        stride_layer=3)

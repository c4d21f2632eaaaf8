"""The bench model's open_clip config, in open_clip's `open_clip_config.json` layout.

open_clip 3.x reads image preprocessing only from that layout's top-level `preprocess_cfg`
(hf-hub / local-dir models) or from a pretrained tag; a `preprocess_cfg` key inside a registered
model config is not read (it would even reach the model constructor and fail). So the file holds
`{"model_cfg": ..., "preprocess_cfg": ...}` and the loader passes `preprocess_cfg` on explicitly.
"""

EMBED_DIM = 512
CONTEXT_LENGTH = 64  # Flickr captions are short; MiniLM itself allows 512 positions
TF_LITE_NORM = (0.5, 0.5, 0.5)  # EfficientNet-Lite TF weights expect [-1, 1] inputs


def make_config(hf_dir: str) -> dict:
    """Config with the text tower's HF folder given as `hf_dir` (relative when saved)."""
    model_cfg = {
        "embed_dim": EMBED_DIM,
        "custom_text": True,
        "vision_cfg": {
            "timm_model_name": "tf_efficientnet_lite0",
            "timm_model_pretrained": False,  # weights come from the saved state dict
            "timm_pool": "avg",
            "timm_proj": "linear",
            "timm_proj_bias": False,
            "image_size": 224,
        },
        "text_cfg": {
            "hf_model_name": hf_dir,
            "hf_tokenizer_name": hf_dir,
            "hf_model_pretrained": False,  # build from config; weights are in the state dict
            "hf_proj_type": "linear",
            "hf_pooler_type": "mean_pooler",
            "context_length": CONTEXT_LENGTH,
        },
    }
    preprocess_cfg = {
        "size": 224,
        "mean": list(TF_LITE_NORM),
        "std": list(TF_LITE_NORM),
        "interpolation": "bicubic",
        "resize_mode": "shortest",  # resize the short side, then centre-crop
    }
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}

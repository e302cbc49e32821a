"""PyTorch reference for the `vidlm` model family — the module training uses and the oracle the
Swift engine (`Sources/VidLM/Families/VidLMFamily.swift`) is checked against.

    sys.path.insert(0, "tools/reference"); import vidlm_model as vm
    model = vm.VidLMForConditionalGeneration(config_dict)

Data flow (one clip, frames in order t = 0..T-1)
------------------------------------------------
    pixel_values [T, 3, S, S]
      → vision_model (transformers Blip2VisionModel or CLIPVisionModel, by vision_config.model_type)
        .last_hidden_state                                               [T, 1 + g*g, Dv]
      → merger (vidlm_bridge.TokenMerger from config "token_merger")     per frame [T, L, Dm]
                                                                         or clip-level [1, M, Dm]
      → + video_frame_position_embedding row of each token's frame     (table [max_frame_pos, Dm];
        per-frame mergers: every token of frame t gets row t; `temporal`: a token gets the row of
        the frame that *started* it (frame_offsets); more frames than the table: linear resampling,
        vidlm_bridge.interpolate_frame_positions)
      → flattened to one sequence [1, T*L (or M), Dm]
      → video_Qformer (transformers Blip2QFormerModel, cross-attention every layer,
        encoder_hidden_size = Dm) from video_query_tokens [1, Qv, H]; a merger with counts and
        proportional_attention adds log(count) to the cross-attention logits
      → llama_proj Linear(H, D)                                          visual prefix [1, Qv, D]
      → language_model (LlamaForCausalLM)

Decoder input (one request): embeddings of
    [bos_token_id] ++ visual prefix (Qv rows) ++ tokenizer(prompt_template.format(question=q))
with the tokenizer adding no special tokens; generation stops at eos_token_id. A template holding
"{visual}" puts the visual rows there instead: BOS ++ tokenizer(text before) ++ visual ++
tokenizer(text after, with the question) — Video-LLaMA's chat templates need this. Captioning asks
`caption_question`. Training appends the answer tokens (" " + answer) and the EOS.

config.json
-----------
    {"model_type": "vidlm", "architectures": ["VidLMForConditionalGeneration"],
     "vision_config": {... Blip2VisionConfig or CLIPVisionConfig fields, with model_type ...},
     "token_merger": {"type": "spatial_pool", "k": 2, "proportional_attention": true},
     "video_qformer_config": {... Blip2QFormerConfig fields; cross_attention_frequency 1,
                              encoder_hidden_size = merged width ...},
     "num_video_query_tokens": 16, "max_frame_pos": 16,
     "text_config": {... LlamaConfig fields, "model_type": "llama" ...},
     "num_frames": 8,
     "prompt_template": "question: {question} answer:", "caption_question": "what happens?"}

Optional image Q-Former (the Video-LLaMA layout): with "qformer_config" (Blip2QFormerConfig fields,
encoder_hidden_size = merged width) and "num_query_tokens" in config.json, every frame's merged
tokens first go through a BLIP-2 Q-Former (`query_tokens`, `qformer.*`, proportional attention
when the merger has counts); its query outputs [T, Q, Hq] are the frame tokens that get the frame
positions (table width Hq) and feed the video Q-Former (encoder_hidden_size = Hq). A temporal
merger cannot precede it (it has no per-frame sequences).

Weight names: vision_model.*, merger.proj.* (concat_linear only), query_tokens and qformer.* (image
Q-Former only), video_frame_position_embedding.weight,
video_query_tokens, video_Qformer.*, llama_proj.{weight,bias}, language_model.model.*,
language_model.lm_head.weight (absent when text_config.tie_word_embeddings).
"""
from __future__ import annotations

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vidlm_bridge as vb  # noqa: E402

DEFAULT_PROMPT_TEMPLATE = "question: {question} answer:"
DEFAULT_CAPTION_QUESTION = "what happens?"


def _vision(config: dict) -> nn.Module:
    from transformers import Blip2VisionConfig, Blip2VisionModel, CLIPVisionConfig, CLIPVisionModel
    vc = dict(config)
    kind = vc.pop("model_type", "blip_2_vision_model")
    if kind == "clip_vision_model":
        return CLIPVisionModel(CLIPVisionConfig(**vc))
    if kind == "blip_2_vision_model":
        return Blip2VisionModel(Blip2VisionConfig(**vc))
    raise ValueError(f"unsupported vision model_type '{kind}'")


class VidLMForConditionalGeneration(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        from transformers import Blip2QFormerConfig, Blip2QFormerModel, LlamaConfig, LlamaForCausalLM
        self.config = config
        vision = _vision(config["vision_config"])
        # CLIPVisionModel nests its transformer under `.vision_model`; keep the checkpoint names
        # `vision_model.embeddings…` either way.
        self.vision_model = vision.vision_model if hasattr(vision, "vision_model") else vision
        self.vision_is_clip = hasattr(vision, "vision_model")
        dv = self.vision_model.config.hidden_size
        self.merger = vb.TokenMerger.from_config(config.get("token_merger"), width=dv)
        dm = self.merger.out_size if self.merger.type == "concat_linear" else dv
        self.qformer = None
        if config.get("qformer_config") is not None:
            if self.merger.type == "temporal":
                raise ValueError("an image Q-Former needs per-frame tokens; the temporal merger makes one clip sequence")
            ic = dict(config["qformer_config"])
            ic.pop("model_type", None)
            iconfig = Blip2QFormerConfig(**ic)
            if iconfig.encoder_hidden_size != dm:
                raise ValueError(f"qformer_config.encoder_hidden_size must be the merged width {dm}")
            self.query_tokens = nn.Parameter(torch.randn(1, config.get("num_query_tokens", 32), iconfig.hidden_size) * 0.02)
            self.qformer = Blip2QFormerModel(iconfig)
            dm = iconfig.hidden_size
        qc = dict(config["video_qformer_config"])
        qc.pop("model_type", None)
        qconfig = Blip2QFormerConfig(**qc)
        if qconfig.cross_attention_frequency != 1 or qconfig.encoder_hidden_size != dm:
            raise ValueError(f"video_qformer_config needs cross_attention_frequency 1 and encoder_hidden_size {dm}")
        self.max_frame_pos = config.get("max_frame_pos", 32)
        self.video_frame_position_embedding = nn.Embedding(self.max_frame_pos, dm)
        qv = config.get("num_video_query_tokens", 32)
        self.video_query_tokens = nn.Parameter(torch.randn(1, qv, qconfig.hidden_size) * 0.02)
        self.video_Qformer = Blip2QFormerModel(qconfig)
        tc = dict(config["text_config"])
        tc.pop("model_type", None)
        self.text_config = LlamaConfig(**tc)
        self.llama_proj = nn.Linear(qconfig.hidden_size, self.text_config.hidden_size)
        self.language_model = LlamaForCausalLM(self.text_config)
        self.prompt_template = config.get("prompt_template", DEFAULT_PROMPT_TEMPLATE)
        self.caption_question = config.get("caption_question", DEFAULT_CAPTION_QUESTION)

    # -- visual prefix -------------------------------------------------------------------------

    def vision_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[T, 3, S, S] → [T, 1 + g*g, Dv] (the tower's last_hidden_state)."""
        return self.vision_model(pixel_values=pixel_values).last_hidden_state

    def frame_position_rows(self, positions: list[int] | torch.Tensor) -> torch.Tensor:
        """Rows of the (interpolated) position table for the given frame indices."""
        positions = torch.as_tensor(positions, dtype=torch.long)
        needed = int(positions.max()) + 1
        table = vb.interpolate_frame_positions(self.video_frame_position_embedding.weight,
                                               max(needed, 1)) if needed > self.max_frame_pos \
            else self.video_frame_position_embedding.weight
        return table[positions]

    def visual_prefix(self, features: torch.Tensor, frame_positions: list[int] | None = None) -> dict:
        """features [T, N, Dv] (frames in the order given) → dict(sequence [1, L, Dm],
        log_counts [1, L] or None, video_hidden [1, Qv, H], prefix [1, Qv, D]).

        ``frame_positions`` overrides the position index of each frame (default 0..T-1); the
        frame-order control passes all zeros."""
        t = features.shape[0]
        positions = list(range(t)) if frame_positions is None else list(frame_positions)
        if len(positions) != t:
            raise ValueError("one position per frame")
        if t > self.max_frame_pos and frame_positions is None:
            rows = vb.interpolate_frame_positions(self.video_frame_position_embedding.weight, t)
        else:
            rows = self.frame_position_rows(positions)
        merged = self.merger(features)
        if self.qformer is not None:
            mask = None
            if merged.counts is not None and self.merger.proportional_attention:
                mask = torch.log(merged.counts.float())[:, None, None, :]
            states = self.qformer(query_embeds=self.query_tokens.expand(t, -1, -1),
                                  encoder_hidden_states=merged.tokens, encoder_attention_mask=mask).last_hidden_state
            merged = vb.MergedTokens(states, None, [])
        if merged.per_frame:
            tokens = merged.tokens + rows[:, None, :]
            sequence = tokens.reshape(1, -1, tokens.shape[-1])
        else:
            offsets = merged.frame_offsets
            owner = torch.cat([torch.full((offsets[i + 1] - offsets[i],), i, dtype=torch.long) for i in range(t)])
            sequence = merged.tokens + rows[owner][None]
        log_counts = None
        if merged.counts is not None and self.merger.proportional_attention:
            log_counts = torch.log(merged.counts.float()).reshape(1, -1)
        mask = None if log_counts is None else log_counts[:, None, None, :]
        out = self.video_Qformer(query_embeds=self.video_query_tokens, encoder_hidden_states=sequence,
                                 encoder_attention_mask=mask)
        hidden = out.last_hidden_state
        return {"sequence": sequence, "log_counts": log_counts, "video_hidden": hidden,
                "prefix": self.llama_proj(hidden)}

    # -- decoder input ---------------------------------------------------------------------------

    def prompt_parts(self, question: str) -> tuple[str, str]:
        """(text before the visual rows, text after them) for a question."""
        before, visual, after = self.prompt_template.partition("{visual}")
        if not visual:
            before, after = "", before
        return before, after.replace("{question}", question)

    def prompt_text(self, question: str) -> str:
        """The text after the visual rows (the whole prompt when the template has no {visual})."""
        return self.prompt_parts(question)[1]

    def input_embeddings(self, prefix: torch.Tensor, prompt_ids: list[int], before_ids: list[int] | None = None) -> torch.Tensor:
        """[1, 1 + B + Qv + P, D]: BOS, the text before the visual rows, the visual prefix, the prompt tokens."""
        embed = self.language_model.get_input_embeddings()
        bos = torch.tensor([[self.text_config.bos_token_id] + list(before_ids or [])])
        ids = torch.tensor([prompt_ids], dtype=torch.long)
        return torch.cat([embed(bos), prefix.to(embed.weight.dtype), embed(ids)], dim=1)

    @torch.no_grad()
    def greedy(self, embeddings: torch.Tensor, max_new_tokens: int) -> list[int]:
        """Greedy ids after the given input embeddings, stopping at (and excluding) EOS."""
        out = self.language_model.generate(inputs_embeds=embeddings, max_new_tokens=max_new_tokens,
                                           do_sample=False, eos_token_id=self.text_config.eos_token_id,
                                           pad_token_id=self.text_config.eos_token_id)
        ids = out[0].tolist()
        return ids[:ids.index(self.text_config.eos_token_id)] if self.text_config.eos_token_id in ids else ids

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """Checkpoint names (see the module docstring): contiguous, tied lm_head dropped."""
        state = {}
        for key, value in self.state_dict().items():
            if key == "language_model.lm_head.weight" and self.text_config.tie_word_embeddings:
                continue
            state[key] = value.detach().contiguous()
        return state

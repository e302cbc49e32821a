"""Q-Former parity cases: BLIP-2's image Q-Former (+ language projection) and the
InstructBLIP-Video instruction-aware Q-Former run per frame (transformers as the oracle)."""
import torch
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel, InstructBlipVideoQFormerConfig
from transformers.models.instructblipvideo.modeling_instructblipvideo import InstructBlipVideoQFormerModel

from cases_vision import _random_init
from harness import Fixture, case


class Blip2Bridge(nn.Module):
    """The bridge of Blip2ForConditionalGeneration with its parameter names: `query_tokens`,
    `qformer.*`, `language_projection.*` (vision features in, projected queries out)."""

    def __init__(self, config: Blip2QFormerConfig, num_queries: int, text_hidden: int):
        super().__init__()
        self.config = config
        self.query_tokens = nn.Parameter(torch.zeros(1, num_queries, config.hidden_size))
        self.qformer = Blip2QFormerModel(config)
        self.language_projection = nn.Linear(config.hidden_size, text_hidden)

    def forward(self, image_embeds):
        queries = self.query_tokens.expand(image_embeds.shape[0], -1, -1)
        mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long)
        out = self.qformer(query_embeds=queries, encoder_hidden_states=image_embeds, encoder_attention_mask=mask)
        return out.last_hidden_state, self.language_projection(out.last_hidden_state)


class InstructBlipVideoBridge(nn.Module):
    """InstructBlipVideoForConditionalGeneration's video path from vision features: the
    instruction repeated per frame, per-frame Q-Former, queries projected, frames concatenated."""

    def __init__(self, config: InstructBlipVideoQFormerConfig, num_queries: int, text_hidden: int):
        super().__init__()
        self.config = config
        self.query_tokens = nn.Parameter(torch.zeros(1, num_queries, config.hidden_size))
        self.qformer = InstructBlipVideoQFormerModel(config)
        self.language_projection = nn.Linear(config.hidden_size, text_hidden)

    def forward(self, image_embeds, qformer_input_ids, qformer_attention_mask, frames):
        # image_embeds: [B*T, N, E]; instruction ids/mask: [B, L]
        bt = image_embeds.shape[0]
        queries = self.query_tokens.expand(bt, -1, -1)
        q_mask = torch.ones(queries.shape[:-1], dtype=torch.long)
        ids = qformer_input_ids.repeat_interleave(frames, dim=0)
        mask = torch.cat([q_mask, qformer_attention_mask.repeat_interleave(frames, dim=0)], dim=1)
        out = self.qformer(input_ids=ids, attention_mask=mask, query_embeds=queries,
                           encoder_hidden_states=image_embeds,
                           encoder_attention_mask=torch.ones(image_embeds.shape[:-1], dtype=torch.long))
        query_out = out.last_hidden_state[:, : queries.shape[1], :]
        projected = self.language_projection(query_out)
        return out.last_hidden_state, projected.reshape(bt // frames, -1, projected.shape[-1])


def _qformer_config(cls, **extra):
    return cls(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
               cross_attention_frequency=2, encoder_hidden_size=48, layer_norm_eps=1e-12,
               hidden_act="gelu", max_position_embeddings=24, vocab_size=50, **extra)


@case("blip2_qformer_tiny")
def _():
    config = _qformer_config(Blip2QFormerConfig)
    model = _random_init(Blip2Bridge(config, num_queries=5, text_hidden=40))
    image_embeds = torch.randn(2, 17, 48)
    with torch.no_grad():
        hidden, projected = model(image_embeds)
    return Fixture(model, {"image_embeds": image_embeds}, {"qformer_output": hidden, "projected": projected},
                   config={"model_type": "blip_2_qformer_bridge", "num_query_tokens": 5, "text_hidden_size": 40,
                           "qformer_config": config.to_dict()})


@case("instructblipvideo_qformer_tiny")
def _():
    config = _qformer_config(InstructBlipVideoQFormerConfig)
    model = _random_init(InstructBlipVideoBridge(config, num_queries=4, text_hidden=40))
    frames = 3
    image_embeds = torch.randn(2 * frames, 17, 48)
    ids = torch.tensor([[2, 7, 9, 11, 3, 0], [2, 5, 6, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        hidden, projected = model(image_embeds, ids, mask, frames)
    return Fixture(model, {"image_embeds": image_embeds, "qformer_input_ids": ids, "qformer_attention_mask": mask},
                   {"qformer_output": hidden, "projected": projected},
                   config={"model_type": "instructblipvideo_qformer_bridge", "num_query_tokens": 4,
                           "text_hidden_size": 40, "frames": frames, "qformer_config": config.to_dict()})

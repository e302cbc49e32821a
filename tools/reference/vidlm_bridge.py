"""PyTorch reference for vidlm's bridge extras: visual token merging and Video-LLaMA's video Q-Former.

This module is the oracle for the Swift port (`Sources/VidLMModels/Bridge/TokenMerger.swift`,
`VideoFramePositions.swift`) and is meant to be imported by the training / conversion scripts:

    sys.path.insert(0, "tools/reference"); import vidlm_bridge as vb

Token layout
------------
Vision features are per frame: ``x [T, N, D]`` with ``N = 1 + g*g``: index 0 is the class token
(CLS), index ``1 + r*g + c`` is the patch at grid row ``r``, column ``c`` (raster order).
A *position* below is always such an index into one frame's sequence (0 = CLS).

Every merger returns a :class:`MergedTokens`:

* ``tokens [B, L, D']``: ``B = T`` (one sequence per frame: ``none``, ``spatial_pool``,
  ``concat_linear``) or ``B = 1`` (one clip-level sequence: ``temporal``);
* ``counts [B, L]`` (float) or ``None``: how many source tokens each output token averages
  (``spatial_pool``, ``temporal``); ``None`` where the output is not an average (``none``,
  ``concat_linear``);
* ``provenance``: for the flattened output token ``i = b*L + l``, the list of ``(frame, position)``
  pairs it came from, in the order they were merged;
* ``frame_offsets`` (``temporal`` only): tokens ``frame_offsets[t] ..< frame_offsets[t+1]`` were
  *started* in frame ``t`` (frame ``t``'s CLS first, then its new patch tokens in raster order).

Mergers (config.json ``"token_merger"`` object; absent = ``{"type": "none"}``)
-------------------------------------------------------------------------------
``{"type": "none"}``
    Identity; provenance ``[(t, p)]``.

``{"type": "spatial_pool", "k": 2, "proportional_attention": true}``
    Per frame, k×k average pooling (stride k, no padding, ``F.avg_pool2d``) over the g×g patch
    grid; k must divide g. The CLS token is passed through untouched as output token 0.
    Output ``[T, 1 + (g/k)^2, D]``, pooled cells in raster order; counts: CLS 1, cells k*k.

``{"type": "concat_linear", "k": 4, "out_size": 4096}``
    MiniGPT4-Video / MiniGPT-v2: the CLS token is **dropped** (as MiniGPT-v2 does with
    ``image_embeds[:, 1:, :]``); the g*g patch tokens are grouped in runs of k consecutive
    raster-order tokens, each run concatenated (``view(T, g*g/k, k*D)``, token ``j*k`` first) and
    projected by a learned ``nn.Linear(k*D, out_size)`` (``out_size`` defaults to D). k must divide
    g*g. Output ``[T, g*g/k, out_size]``; counts ``None``. Weights: ``<prefix>proj.weight`` /
    ``<prefix>proj.bias`` (the fixtures use prefix ``merger.``; MiniGPT4-Video calls it
    ``llama_proj``).

``{"type": "temporal", "tau": 0.9, "proportional_attention": true}``
    Temporal redundancy merging between adjacent frames, 0 <= tau <= 1.
    *CLS*: never merged; every frame's CLS is emitted with count 1.
    *Patches*: each grid position p has an *active* token (the output token that holds the
    previous frame's patch at p). Frame 0 starts one token per position. For frame t >= 1 and each
    position p (independently), with a = the active token's current value (its running mean) and
    x = x[t, p]:

        cos = dot(x, a) / (max(||x||, 1e-8) * max(||a||, 1e-8))       (float32)
        if cos >= tau:  a <- a + (x - a) / (count + 1);  count += 1;  provenance += (t, p)
        else:           start a new token with value x, count 1, which becomes p's active token

    i.e. the running mean of every member, compared against the *merged* value, not the first
    frame's. Output ``[1, M, D]`` in creation order (frame-major: CLS_t, then frame t's new
    patch tokens by ascending position), with counts and ``frame_offsets``. A static clip
    shrinks to ~one frame of patches plus T CLS tokens; a high-motion clip keeps nearly all.
    Notes: tau = 0 merges any non-negative similarity; tau = 1 merges only vectors whose float32
    cosine rounds to exactly 1 (identical vectors may compute 0.99999994).

Proportional attention (ToMe)
-----------------------------
A merged token stands for ``count`` tokens, so in the Q-Former's *cross-attention* its logit gets
``+ log(count)`` after scaling and before the softmax, for every head and query:

    logits[b, h, i, j] = (q[b,h,i] . k[b,h,j]) / sqrt(Dh) + log(counts[b, j])

``count = 0`` gives ``-inf`` (the key is masked; usable as padding). Self-attention is unchanged.
:func:`proportional_cross_attention` is the reference; :func:`log_count_mask` turns counts into
the 4-D additive ``encoder_attention_mask [B, 1, 1, Lk]`` that transformers' Q-Formers accept.
``proportional_attention: false`` in the config means the caller passes no bias.

Video-LLaMA's video Q-Former
---------------------------
Per-frame Q-Former outputs ``[B, T, Q, H]`` (H = the frame Q-Former's width, 768) get
``video_frame_position_embedding`` (``nn.Embedding(max_frame_pos, H)``) row t added to every query
of frame t, are flattened to ``[B, T*Q, H]`` and cross-attended by a second BERT Q-Former
(transformers' ``Blip2QFormerModel`` with ``cross_attention_frequency=1``,
``encoder_hidden_size=H``, ``use_qformer_text_input=False``; Video-LLaMA: 2 layers, bert-base
widths) from its own ``video_query_tokens [1, Qv, H]`` (Qv = 32); ``llama_proj = Linear(H, D_llm)``
maps the result to the LLM width.

More frames than ``max_frame_pos`` (T > P): the table is resampled linearly to T rows,

    table_T = F.interpolate(table.T[None], size=T, mode="linear", align_corners=True)[0].T

i.e. row i samples the table at s = i*(P-1)/(T-1): ``(1-w)*table[floor(s)] + w*table[floor(s)+1]``,
w = s - floor(s) (first and last rows are the table's first and last); a warning is given once
per module. T <= P uses rows ``0..<T`` as Video-LLaMA does.

Checkpoint names: :data:`VIDEO_LLAMA_KEY_MAP` maps Video-LLaMA's released LAVIS names to the
transformers names this module (and the Swift port) uses; see :func:`rename_video_llama_key`.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

MERGER_TYPES = ("none", "spatial_pool", "concat_linear", "temporal")
COSINE_EPS = 1e-8


# ---------------------------------------------------------------------------------------------
# Merged tokens and provenance
# ---------------------------------------------------------------------------------------------

@dataclass
class MergedTokens:
    tokens: torch.Tensor                                  # [B, L, D']
    counts: torch.Tensor | None                           # [B, L] float32
    provenance: list[list[tuple[int, int]]]               # per flattened output token
    frame_offsets: list[int] | None = None                # temporal only: T + 1 entries
    similarities: list[float] = field(default_factory=list)  # temporal: every cosine compared

    @property
    def per_frame(self) -> bool:
        return self.frame_offsets is None

    def log_counts(self) -> torch.Tensor | None:
        """[B, L] additive cross-attention bias, log(count); None when there are no counts."""
        return None if self.counts is None else torch.log(self.counts)

    def provenance_tensors(self) -> dict[str, torch.Tensor]:
        """CSR form: pairs of token i are ``frames/positions[offsets[i]:offsets[i+1]]`` (int64)."""
        offsets, frames, positions = [0], [], []
        for pairs in self.provenance:
            for f, p in pairs:
                frames.append(f)
                positions.append(p)
            offsets.append(len(frames))
        return {"provenance_offsets": torch.tensor(offsets, dtype=torch.int64),
                "provenance_frames": torch.tensor(frames, dtype=torch.int64),
                "provenance_positions": torch.tensor(positions, dtype=torch.int64)}


def _grid_side(x: torch.Tensor) -> int:
    if x.dim() != 3:
        raise ValueError(f"vision features must be [frames, 1 + g*g, width], got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("there are zero frames to merge")
    patches = x.shape[1] - 1
    g = math.isqrt(max(patches, 0))
    if patches < 1 or g * g != patches:
        raise ValueError(f"{x.shape[1]} tokens per frame is not 1 class token + a square patch grid")
    return g


# ---------------------------------------------------------------------------------------------
# Mergers
# ---------------------------------------------------------------------------------------------

class TokenMerger(nn.Module):
    """One merger, chosen by ``type`` (see the module docstring for each rule).

    ``width`` (D) is needed for ``concat_linear`` (the projection's input is k*D); the others
    check it against the features when given.
    """

    def __init__(self, type: str = "none", k: int | None = None, tau: float | None = None,
                 width: int | None = None, out_size: int | None = None, proportional_attention: bool = True):
        super().__init__()
        if type not in MERGER_TYPES:
            raise ValueError(f"'token_merger.type' must be one of {', '.join(MERGER_TYPES)}, got '{type}'")
        self.type = type
        self.k = k
        self.tau = tau
        self.width = width
        self.proportional_attention = proportional_attention
        if type in ("spatial_pool", "concat_linear"):
            if k is None or k < 1:
                raise ValueError(f"'token_merger.k' must be a positive integer, got {k}")
        if type == "temporal":
            if tau is None or not (0.0 <= tau <= 1.0):
                raise ValueError(f"'token_merger.tau' must be within [0, 1], got {tau}")
        self.proj = None
        if type == "concat_linear":
            if width is None:
                raise ValueError("concat_linear needs the vision width to size its projection")
            self.out_size = out_size or width
            self.proj = nn.Linear(k * width, self.out_size)

    @classmethod
    def from_config(cls, config: dict | None, width: int | None = None) -> "TokenMerger":
        config = dict(config or {"type": "none"})
        return cls(type=config.get("type", "none"), k=config.get("k"), tau=config.get("tau"), width=width,
                   out_size=config.get("out_size"), proportional_attention=config.get("proportional_attention", True))

    def config_dict(self) -> dict:
        out = {"type": self.type}
        if self.type in ("spatial_pool", "concat_linear"):
            out["k"] = self.k
        if self.type == "concat_linear":
            out["out_size"] = self.out_size
        if self.type == "temporal":
            out["tau"] = self.tau
        if self.type in ("spatial_pool", "temporal"):
            out["proportional_attention"] = self.proportional_attention
        return out

    def forward(self, x: torch.Tensor) -> MergedTokens:
        g = _grid_side(x)
        if self.width is not None and x.shape[2] != self.width:
            raise ValueError(f"the features are {x.shape[2]} wide but the merger expects {self.width}")
        if self.type == "none":
            return _identity(x)
        if self.type == "spatial_pool":
            return _spatial_pool(x, g, self.k)
        if self.type == "concat_linear":
            return _concat_linear(x, g, self.k, self.proj)
        return _temporal(x, g, self.tau)


def spatial_pool(k: int, proportional_attention: bool = True) -> TokenMerger:
    return TokenMerger("spatial_pool", k=k, proportional_attention=proportional_attention)


def concat_linear(k: int, width: int, out_size: int | None = None) -> TokenMerger:
    return TokenMerger("concat_linear", k=k, width=width, out_size=out_size)


def temporal(tau: float, proportional_attention: bool = True) -> TokenMerger:
    return TokenMerger("temporal", tau=tau, proportional_attention=proportional_attention)


def _identity(x: torch.Tensor) -> MergedTokens:
    t, n, _ = x.shape
    return MergedTokens(x, None, [[(f, p)] for f in range(t) for p in range(n)])


def _spatial_pool(x: torch.Tensor, g: int, k: int) -> MergedTokens:
    if g % k != 0:
        raise ValueError(f"'token_merger.k' = {k} does not divide the {g}x{g} patch grid")
    t, _, d = x.shape
    s = g // k
    grid = x[:, 1:, :].reshape(t, g, g, d).permute(0, 3, 1, 2)          # [T, D, g, g]
    pooled = F.avg_pool2d(grid, kernel_size=k, stride=k)                # [T, D, s, s]
    pooled = pooled.permute(0, 2, 3, 1).reshape(t, s * s, d)
    tokens = torch.cat([x[:, :1, :], pooled], dim=1)
    counts = torch.tensor([1.0] + [float(k * k)] * (s * s)).expand(t, -1).contiguous()
    provenance = []
    for f in range(t):
        provenance.append([(f, 0)])
        for r in range(s):
            for c in range(s):
                provenance.append([(f, 1 + (r * k + i) * g + (c * k + j)) for i in range(k) for j in range(k)])
    return MergedTokens(tokens, counts, provenance)


def _concat_linear(x: torch.Tensor, g: int, k: int, proj: nn.Linear) -> MergedTokens:
    patches = g * g
    if patches % k != 0:
        raise ValueError(f"'token_merger.k' = {k} does not divide the {patches} patches of the {g}x{g} grid")
    t, _, d = x.shape
    grouped = x[:, 1:, :].reshape(t, patches // k, k * d)
    provenance = [[(f, 1 + j * k + i) for i in range(k)] for f in range(t) for j in range(patches // k)]
    return MergedTokens(proj(grouped), None, provenance)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The merger's cosine over the last dim: dot / (max(|a|, eps) * max(|b|, eps)), float32."""
    dot = (a * b).sum(-1)
    return dot / (a.norm(dim=-1).clamp_min(COSINE_EPS) * b.norm(dim=-1).clamp_min(COSINE_EPS))


@torch.no_grad()
def _temporal(x: torch.Tensor, g: int, tau: float) -> MergedTokens:
    x = x.float()
    t, _, d = x.shape
    values: list[torch.Tensor] = []
    counts: list[float] = []
    provenance: list[list[tuple[int, int]]] = []
    frame_offsets = [0]
    similarities: list[float] = []
    active = [0] * (g * g)
    for f in range(t):
        values.append(x[f, 0].clone())
        counts.append(1.0)
        provenance.append([(f, 0)])
        for p in range(g * g):
            token = x[f, 1 + p]
            if f > 0:
                a = active[p]
                sim = float(cosine(token, values[a]))
                similarities.append(sim)
                if sim >= tau:
                    values[a] = values[a] + (token - values[a]) / (counts[a] + 1.0)
                    counts[a] += 1.0
                    provenance[a].append((f, 1 + p))
                    continue
            active[p] = len(values)
            values.append(token.clone())
            counts.append(1.0)
            provenance.append([(f, 1 + p)])
        frame_offsets.append(len(values))
    tokens = torch.stack(values)[None]
    return MergedTokens(tokens, torch.tensor(counts, dtype=torch.float32)[None], provenance, frame_offsets, similarities)


# ---------------------------------------------------------------------------------------------
# Proportional attention
# ---------------------------------------------------------------------------------------------

def proportional_cross_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, counts: torch.Tensor | None,
                                 heads: int, scale: float | None = None) -> torch.Tensor:
    """Multi-head attention q [B, Lq, D], k/v [B, Lk, D] → [B, Lq, D] with ``+ log(counts)``
    (counts [B, Lk] or [Lk]) added to every head's and query's logits; count 0 masks the key."""
    b, lq, d = q.shape
    lk = k.shape[1]
    dh = d // heads
    split = lambda z, l: z.reshape(b, l, heads, dh).transpose(1, 2)
    logits = split(q, lq) @ split(k, lk).transpose(-1, -2) * (scale if scale is not None else dh ** -0.5)
    if counts is not None:
        logits = logits + torch.log(counts.float()).reshape(-1, 1, 1, lk)
    out = torch.softmax(logits, dim=-1) @ split(v, lk)
    return out.transpose(1, 2).reshape(b, lq, d)


def log_count_mask(counts: torch.Tensor) -> torch.Tensor:
    """counts [B, Lk] → additive ``encoder_attention_mask`` [B, 1, 1, Lk] for transformers' Q-Formers."""
    return torch.log(counts.float())[:, None, None, :]


# ---------------------------------------------------------------------------------------------
# Video-LLaMA's video Q-Former
# ---------------------------------------------------------------------------------------------

#: Video-LLaMA (LAVIS BertModel) checkpoint names → transformers ``Blip2QFormerModel`` names.
#: Rules are regexes tried in order on the full key; the FIRST that matches (``re.search``) is
#: applied with ``re.sub(pattern, replacement, key, count=1)`` (``\1`` = group 1) and ends the
#: search; a ``None`` replacement drops the key; a key no rule matches is kept as it is
#: (``video_query_tokens``, ``video_frame_position_embedding.weight``, ``llama_proj.*``).
#: The Swift sanitize map applies the same list (``\N`` → ``$N``) — keep them identical.
VIDEO_LLAMA_KEY_MAP: dict[str, str | None] = {
    # BertEmbeddings: only its LayerNorm is used (word/position embeddings are set to None).
    r"^video_Qformer\.bert\.embeddings\.LayerNorm\.": "video_Qformer.layernorm.",
    r"^video_Qformer\.bert\.embeddings\.": None,                   # position_ids buffer, unused tables
    # self- and cross-attention projections: `<attn>.self.{query,key,value}` → `<attn>.attention.…`
    r"^video_Qformer\.bert\.encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.":
        r"video_Qformer.encoder.layer.\1.\2.attention.",
    # the text FFN (intermediate / output) is removed by Video-LLaMA; drop it if a checkpoint has it
    r"^video_Qformer\.bert\.encoder\.layer\.\d+\.(intermediate|output)\.": None,
    # everything else in the encoder keeps its name: attention.output.{dense,LayerNorm},
    # crossattention.output.*, intermediate_query.dense, output_query.{dense,LayerNorm}
    r"^video_Qformer\.bert\.encoder\.": "video_Qformer.encoder.",
    # LM head / pooler (Video-LLaMA sets cls to None): unused
    r"^video_Qformer\.(cls|bert\.pooler)\.": None,
}


def rename_video_llama_key(key: str) -> str | None:
    """A Video-LLaMA checkpoint key under :data:`VIDEO_LLAMA_KEY_MAP`; None = drop it."""
    for pattern, replacement in VIDEO_LLAMA_KEY_MAP.items():
        if re.search(pattern, key):
            return None if replacement is None else re.sub(pattern, replacement, key, count=1)
    return key


def convert_video_llama_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        new = rename_video_llama_key(key)
        if new is not None:
            out[new] = value
    return out


def interpolate_frame_positions(table: torch.Tensor, frames: int) -> torch.Tensor:
    """table [P, H] → [frames, H]: rows 0..<frames when frames <= P, else linear resampling with
    ``align_corners=True`` (see the module docstring)."""
    p = table.shape[0]
    if frames <= p:
        return table[:frames]
    return F.interpolate(table.T[None], size=frames, mode="linear", align_corners=True)[0].T


class VideoQFormer(nn.Module):
    """Video-LLaMA's video branch after the frame Q-Former: positions, video Q-Former, llama_proj.

    Parameter names: ``video_frame_position_embedding.weight``, ``video_query_tokens``,
    ``video_Qformer.*`` (transformers' Blip2QFormerModel names), ``llama_proj.{weight,bias}``.
    """

    def __init__(self, qformer_config, num_video_query_tokens: int = 32, max_frame_pos: int = 32,
                 llm_hidden_size: int = 4096):
        super().__init__()
        from transformers import Blip2QFormerModel
        h = qformer_config.hidden_size
        if qformer_config.cross_attention_frequency != 1 or qformer_config.encoder_hidden_size != h:
            raise ValueError("the video Q-Former cross-attends every layer to width-H frame queries: "
                             "set cross_attention_frequency=1 and encoder_hidden_size=hidden_size")
        if getattr(qformer_config, "use_qformer_text_input", False):
            raise ValueError("the video Q-Former takes no text: set use_qformer_text_input=False")
        self.qformer_config = qformer_config
        self.max_frame_pos = max_frame_pos
        self.video_frame_position_embedding = nn.Embedding(max_frame_pos, h)
        self.video_query_tokens = nn.Parameter(torch.zeros(1, num_video_query_tokens, h))
        self.video_Qformer = Blip2QFormerModel(qformer_config)
        self.llama_proj = nn.Linear(h, llm_hidden_size)
        self._warned = False

    def config_dict(self) -> dict:
        return {"model_type": "video_llama_video_qformer", "max_frame_pos": self.max_frame_pos,
                "num_video_query_tokens": self.video_query_tokens.shape[1],
                "llm_hidden_size": self.llama_proj.out_features,
                "qformer_config": self.qformer_config.to_dict()}

    def frame_positions(self, frames: int) -> torch.Tensor:
        if frames < 1:
            raise ValueError("there are zero frames")
        if frames > self.max_frame_pos and not self._warned:
            warnings.warn(f"{frames} frames exceed max_frame_pos {self.max_frame_pos}; "
                          "interpolating the frame position table linearly", stacklevel=2)
            self._warned = True
        return interpolate_frame_positions(self.video_frame_position_embedding.weight, frames)

    def add_frame_positions(self, frame_states: torch.Tensor) -> torch.Tensor:
        """[B, T, Q, H] (or [T, Q, H]) + position row t broadcast over the Q queries of frame t."""
        if frame_states.shape[-1] != self.qformer_config.hidden_size:
            raise ValueError(f"frame queries are {frame_states.shape[-1]} wide, the video Q-Former "
                             f"{self.qformer_config.hidden_size}")
        t = frame_states.shape[-3]
        return frame_states + self.frame_positions(t)[:, None, :]

    def forward(self, frame_states: torch.Tensor, frame_counts: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """frame_states [B, T, Q, H] → dict(with_positions [B, T, Q, H], video_hidden [B, Qv, H],
        llm_inputs [B, Qv, D_llm]). ``frame_counts`` [B, T*Q] adds proportional attention."""
        if frame_states.dim() == 3:
            frame_states = frame_states[None]
        b, t, q, h = frame_states.shape
        with_positions = self.add_frame_positions(frame_states)
        flat = with_positions.reshape(b, t * q, h)
        mask = None if frame_counts is None else log_count_mask(frame_counts)
        out = self.video_Qformer(query_embeds=self.video_query_tokens.expand(b, -1, -1),
                                 encoder_hidden_states=flat, encoder_attention_mask=mask)
        hidden = out.last_hidden_state
        return {"with_positions": with_positions, "video_hidden": hidden, "llm_inputs": self.llama_proj(hidden)}


def video_llama_lavis_keys(num_layers: int = 2) -> list[str]:
    """The parameter (and buffer) names Video-LLaMA's released checkpoints use for this module."""
    keys = ["video_query_tokens", "video_frame_position_embedding.weight", "llama_proj.weight", "llama_proj.bias",
            "video_Qformer.bert.embeddings.LayerNorm.weight", "video_Qformer.bert.embeddings.LayerNorm.bias",
            "video_Qformer.bert.embeddings.position_ids"]
    for i in range(num_layers):
        base = f"video_Qformer.bert.encoder.layer.{i}."
        for attn in ("attention", "crossattention"):
            for proj in ("query", "key", "value"):
                keys += [f"{base}{attn}.self.{proj}.weight", f"{base}{attn}.self.{proj}.bias"]
            keys += [f"{base}{attn}.output.dense.weight", f"{base}{attn}.output.dense.bias",
                     f"{base}{attn}.output.LayerNorm.weight", f"{base}{attn}.output.LayerNorm.bias"]
        keys += [f"{base}intermediate_query.dense.weight", f"{base}intermediate_query.dense.bias",
                 f"{base}output_query.dense.weight", f"{base}output_query.dense.bias",
                 f"{base}output_query.LayerNorm.weight", f"{base}output_query.LayerNorm.bias"]
    return keys

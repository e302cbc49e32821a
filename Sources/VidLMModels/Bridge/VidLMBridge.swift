import VidLMTensor

/// The `vidlm` family's bridge: per-frame vision features → token merger → frame positions →
/// video Q-Former → projection to the decoder width. The PyTorch reference is
/// `tools/reference/vidlm_model.py` (`VidLMForConditionalGeneration.visual_prefix`).
///
/// Positions: with a per-frame merger every token of frame t gets row t of
/// `video_frame_position_embedding`; with the temporal merger a token gets the row of the frame
/// that started it (`MergedTokens.frameOffsets`). More frames than the table holds interpolate it.
///
/// Optional image Q-Former (the Video-LLaMA layout): each frame's merged tokens first go through
/// a BLIP-2 Q-Former (`query_tokens`, `qformer.*`); its query outputs [T, Q, Hq] are the frame
/// tokens that get positions and feed the video Q-Former.
public struct VidLMBridge: Sendable {
    public let merger: TokenMerger
    public let imageQFormer: ImageQFormer?
    public let video: VideoQFormer

    /// The per-frame Q-Former of the Video-LLaMA layout.
    public struct ImageQFormer: Sendable {
        public let qformer: QFormer
        let queryTokens: Tensor  // [1, Q, Hq]

        /// Binds `<prefix>query_tokens` [1, queries, H] and `<prefix>qformer.*`.
        public init(config: QFormerConfig, queries: Int, weights: ParameterSource, prefix: String = "") throws {
            qformer = try QFormer(config: config, weights: weights, prefix: prefix + "qformer.", textInput: false)
            queryTokens = try weights.take(prefix + "query_tokens", shape: [1, queries, config.hiddenSize]).toF32()
        }
    }

    public init(merger: TokenMerger, imageQFormer: ImageQFormer? = nil, video: VideoQFormer) throws(BridgeError) {
        var width = merger.outputWidth
        if let imageQFormer {
            if case .temporal = merger.config {
                throw .badInput("an image Q-Former needs per-frame tokens, but the temporal merger makes one clip-level sequence")
            }
            guard width == imageQFormer.qformer.config.encoderHiddenSize else {
                throw .widthMismatch("the token merger gives \(width)-wide tokens but 'qformer_config.encoder_hidden_size' is \(imageQFormer.qformer.config.encoderHiddenSize)")
            }
            width = imageQFormer.qformer.config.hiddenSize
        }
        guard width == video.qformer.config.encoderHiddenSize else {
            throw .widthMismatch("the frame tokens are \(width) wide but 'video_qformer_config.encoder_hidden_size' is \(video.qformer.config.encoderHiddenSize)")
        }
        self.merger = merger
        self.imageQFormer = imageQFormer
        self.video = video
    }

    public struct Output: Sendable {
        /// What the merger produced.
        public let merged: MergedTokens
        /// The positioned sequence the video Q-Former attends to [1, L, E].
        public let sequence: Tensor
        /// The video Q-Former's query outputs [1, Qv, H].
        public let hidden: Tensor
        /// The visual prefix [1, Qv, D].
        public let projected: Tensor
    }

    /// `features` [T, 1 + g², Dv] in frame order. `framePositions` (one per frame) overrides the
    /// position index of each frame; nil uses 0..<T.
    public func callAsFunction(_ features: Tensor, framePositions: [Int]? = nil) throws -> Output {
        guard features.rank == 3, features.shape[0] > 0 else {
            throw BridgeError.badInput("vision features must be [frames ≥ 1, tokens, width], got \(features.shape)")
        }
        let t = features.shape[0]
        if let framePositions, framePositions.count != t {
            throw BridgeError.badInput("\(framePositions.count) frame positions for \(t) frames")
        }
        let rows = try framePositions.map { try video.positions.rows(positions: $0) } ?? video.positions.rows(frames: t)
        var merged = try merger(features)
        if let image = imageQFormer {
            let queries = Tensor.concatenate(Array(repeating: image.queryTokens, count: t))
            let states = try image.qformer(queries: queries, encoder: merged.tokens, encoderLogCounts: merged.encoderLogCounts)
            merged = MergedTokens(tokens: states, counts: nil, provenance: [], proportionalAttention: false)
        }
        let e = merged.tokens.shape[2]
        // The frame each output token takes its position from.
        var owner: [Int] = []
        if let offsets = merged.frameOffsets {
            for f in 0..<t { owner += Array(repeating: f, count: offsets[f + 1] - offsets[f]) }
        } else {
            let l = merged.tokens.shape[1]
            for f in 0..<t { owner += Array(repeating: f, count: l) }
        }
        let count = owner.count
        let sequence = merged.tokens.withFloats { x in
            rows.withFloats { pos in
                Tensor.make(shape: [1, count, e], uninitialized: true) { out in
                    for i in 0..<count {
                        let src = x.baseAddress! + i * e, row = pos.baseAddress! + owner[i] * e
                        let dst = out.baseAddress! + i * e
                        for j in 0..<e { dst[j] = src[j] + row[j] }
                    }
                }
            }
        }
        let logCounts = merged.encoderLogCounts.map { [$0.flatMap { $0 }] }
        let (hidden, projected) = try video.attend(sequence, logCounts: logCounts)
        return Output(merged: merged, sequence: sequence, hidden: hidden, projected: projected)
    }
}

import VidLMTensor

/// The `vidlm` family's bridge: per-frame vision features → token merger → frame positions →
/// video Q-Former → projection to the decoder width. The PyTorch reference is
/// `tools/reference/vidlm_model.py` (`VidLMForConditionalGeneration.visual_prefix`).
///
/// Positions: with a per-frame merger every token of frame t gets row t of
/// `video_frame_position_embedding`; with the temporal merger a token gets the row of the frame
/// that started it (`MergedTokens.frameOffsets`). More frames than the table holds interpolate it.
public struct VidLMBridge: Sendable {
    public let merger: TokenMerger
    public let video: VideoQFormer

    public init(merger: TokenMerger, video: VideoQFormer) throws(BridgeError) {
        let merged = merger.outputWidth
        guard merged == video.qformer.config.encoderHiddenSize else {
            throw .widthMismatch("the token merger gives \(merged)-wide tokens but 'video_qformer_config.encoder_hidden_size' is \(video.qformer.config.encoderHiddenSize)")
        }
        self.merger = merger
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
        let merged = try merger(features)
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

import VidLMTensor

/// Video-LLaMA's video Q-Former: every frame's query outputs [T, Q, H] get the learned frame
/// position (`video_frame_position_embedding`, interpolated past `max_frame_pos`), all frames'
/// tokens are concatenated to [T·Q, H], a second Q-Former with its own `video_query_tokens`
/// cross-attends to them (every layer), and `llama_proj` maps its outputs to the decoder width.
/// Weight names are Video-LLaMA's after `VideoLLaMAKeyMap.sanitize` (`video_Qformer.*` in
/// transformers' Q-Former layout).
public struct VideoQFormer: Sendable {
    public let positions: VideoFramePositions
    public let qformer: QFormer
    let queryTokens: Tensor   // [1, Qv, H]
    let projection: Linear
    public let numQueryTokens: Int
    public let outputWidth: Int

    public init(qformerConfig: QFormerConfig, numQueryTokens: Int, maxFramePositions: Int, outputWidth: Int,
                weights: ParameterSource, prefix: String = "") throws {
        let h = qformerConfig.hiddenSize
        // Video-LLaMA adds the positions to width-H frame queries (encoder width = H); vidlm adds
        // them to merged vision tokens, so the table is as wide as what the Q-Former attends to.
        positions = try VideoFramePositions(weights: weights, maxFramePositions: maxFramePositions,
                                            width: qformerConfig.encoderHiddenSize, prefix: prefix)
        qformer = try QFormer(config: qformerConfig, weights: weights, prefix: prefix + "video_Qformer.", textInput: false)
        queryTokens = try weights.take(prefix + "video_query_tokens", shape: [1, numQueryTokens, h]).toF32()
        projection = try Linear(weights, prefix + "llama_proj", input: h, output: outputWidth)
        self.numQueryTokens = numQueryTokens
        self.outputWidth = outputWidth
    }

    public struct Output: Sendable {
        /// Frame tokens with positions added, [T, Q, H].
        public let withPositions: Tensor
        /// The video Q-Former's query outputs [1, Qv, H].
        public let hidden: Tensor
        /// The visual prefix for the decoder [1, Qv, D].
        public let projected: Tensor
    }

    /// `frameStates` [T, Q, H]: one clip's per-frame query outputs, in frame order.
    public func callAsFunction(_ frameStates: Tensor) throws -> Output {
        guard frameStates.rank == 3 else {
            throw BridgeError.badInput("frame states must be [frames, queries, width], got \(frameStates.shape)")
        }
        let (t, q, h) = (frameStates.shape[0], frameStates.shape[1], frameStates.shape[2])
        guard t > 0 else { throw BridgeError.badInput("there are zero frames") }
        let placed = try positions(frameStates)
        let sequence = placed.reshaped([1, t * q, h])
        let hidden = try qformer(queries: queryTokens, encoder: sequence)
        return Output(withPositions: placed, hidden: hidden, projected: projection(hidden))
    }

    /// The video Q-Former and projection on a sequence that already carries its frame positions:
    /// `sequence` [1, L, E] → (hidden [1, Qv, H], projected [1, Qv, D]); `logCounts` [1][L] is
    /// the proportional-attention bias of merged tokens.
    public func attend(_ sequence: Tensor, logCounts: [[Float]]? = nil) throws -> (hidden: Tensor, projected: Tensor) {
        let hidden = try qformer(queries: queryTokens, encoder: sequence, encoderLogCounts: logCounts)
        return (hidden, projection(hidden))
    }
}

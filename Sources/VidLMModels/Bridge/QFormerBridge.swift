import VidLMTensor

/// The BLIP-2 / InstructBLIP(-Video) bridge as transformers lays it out: `query_tokens`,
/// `qformer.*`, `language_projection.*` — vision features in, the decoder-width visual prefix out.
public struct QFormerBridge: Sendable {
    public let qformer: QFormer
    let queryTokens: Tensor      // [1, Q, H]
    let projection: Linear
    public let numQueryTokens: Int
    public let outputWidth: Int

    public init(qformerConfig: QFormerConfig, numQueryTokens: Int, textHiddenSize: Int, instructionAware: Bool,
                weights: ParameterSource, prefix: String = "") throws {
        let h = qformerConfig.hiddenSize
        qformer = try QFormer(config: qformerConfig, weights: weights, prefix: prefix + "qformer.", textInput: instructionAware)
        queryTokens = try weights.take(prefix + "query_tokens", shape: [1, numQueryTokens, h]).toF32()
        projection = try Linear(weights, prefix + "language_projection", input: h, output: textHiddenSize)
        self.numQueryTokens = numQueryTokens
        outputWidth = textHiddenSize
    }

    public struct Output: Sendable {
        /// Q-Former outputs [B, Q (+ L), H].
        public let qformer: Tensor
        /// Projected query outputs [B, Q, D].
        public let projected: Tensor
    }

    /// One image per batch item: features [B, N, E] → projected queries [B, Q, D].
    public func images(_ features: Tensor, instruction: [Int]? = nil, instructionMask: [Bool]? = nil,
                       logCounts: [[Float]]? = nil) throws(BridgeError) -> Output {
        guard features.rank == 3 else { throw .badInput("vision features must be [frames, tokens, width], got \(features.shape)") }
        let b = features.shape[0]
        guard b > 0 else { throw .badInput("there are zero frames") }
        let queries = Tensor.concatenate(Array(repeating: queryTokens, count: b))
        let ids = instruction.map { Array(repeating: $0, count: b) }
        let mask = instructionMask.map { Array(repeating: $0, count: b) }
        let out = try qformer(queries: queries, encoder: features, textIds: ids, textMask: mask, encoderLogCounts: logCounts)
        let q = numQueryTokens
        let queryOut = out.shape[1] == q ? out : out.rowsOfSequence(0..<q)
        return Output(qformer: out, projected: projection(queryOut))
    }

    /// InstructBLIP-Video: every frame through the Q-Former with the instruction repeated, the
    /// projected queries concatenated frame-major → [1, T·Q, D].
    public func video(_ frames: Tensor, instruction: [Int]? = nil, instructionMask: [Bool]? = nil) throws(BridgeError) -> Output {
        let out = try images(frames, instruction: instruction, instructionMask: instructionMask)
        let t = frames.shape[0]
        return Output(qformer: out.qformer, projected: out.projected.reshaped([1, t * numQueryTokens, outputWidth]))
    }
}

import VidLMTensor

/// A port of transformers' BLIP-2 / InstructBLIP Q-Former: learned queries (and, for
/// InstructBLIP, the instruction's BERT tokens after them) go through post-LN BERT layers with
/// self-attention everywhere and cross-attention to the vision features every
/// `crossAttentionFrequency` layers. Query positions use the `*_query` feed-forward, text
/// positions the plain one. Weight names as transformers saves them (`layernorm`,
/// `embeddings.*`, `encoder.layer.N.attention.attention.query…`), under `prefix`.
public struct QFormer: Sendable {
    public let config: QFormerConfig
    /// InstructBLIP-style word/position embeddings for instruction text; nil for BLIP-2.
    let textEmbeddings: TextEmbeddings?
    /// BLIP-2's LayerNorm on the query embeddings (InstructBLIP's lives in `textEmbeddings`).
    let inputNorm: LayerNorm
    let layers: [Layer]
    let activation: Activation

    struct TextEmbeddings: Sendable {
        let words: Tensor       // [V, H]
        let positions: Tensor   // [P, H]
    }

    struct AttentionBlock: Sendable {
        let query: Linear, key: Linear, value: Linear
        let output: Linear
        let norm: LayerNorm
    }

    /// BERT's post-norm feed-forward: `norm(mlp(x) + x)`.
    struct PostNormFeedForward: Sendable {
        let mlp: FeedForward
        let norm: LayerNorm
    }

    struct Layer: Sendable {
        let selfAttention: AttentionBlock
        let crossAttention: AttentionBlock?
        let queryFeedForward: PostNormFeedForward
        let textFeedForward: PostNormFeedForward?
    }

    /// `textInput`: the InstructBLIP form (instruction tokens after the queries).
    public init(config: QFormerConfig, weights: ParameterSource, prefix: String, textInput: Bool) throws {
        self.config = config
        let h = config.hiddenSize, e = config.encoderHiddenSize, f = config.intermediateSize
        let eps = config.layerNormEps
        activation = Activation(configName: config.hiddenAct) ?? .gelu
        if textInput {
            textEmbeddings = TextEmbeddings(
                words: try weights.take(prefix + "embeddings.word_embeddings.weight", shape: [config.vocabSize, h]).toF32(),
                positions: try weights.take(prefix + "embeddings.position_embeddings.weight", shape: [config.maxPositionEmbeddings, h]).toF32())
            inputNorm = try LayerNorm(weights, prefix + "embeddings.layernorm", width: h, eps: eps)
        } else {
            textEmbeddings = nil
            inputNorm = try LayerNorm(weights, prefix + "layernorm", width: h, eps: eps)
        }
        func attention(_ name: String, keyWidth: Int) throws -> AttentionBlock {
            AttentionBlock(
                query: try Linear(weights, name + ".attention.query", input: h, output: h),
                key: try Linear(weights, name + ".attention.key", input: keyWidth, output: h),
                value: try Linear(weights, name + ".attention.value", input: keyWidth, output: h),
                output: try Linear(weights, name + ".output.dense", input: h, output: h),
                norm: try LayerNorm(weights, name + ".output.LayerNorm", width: h, eps: eps))
        }
        let activation = self.activation
        func feedForward(_ intermediate: String, _ output: String) throws -> PostNormFeedForward {
            PostNormFeedForward(mlp: FeedForward(up: try Linear(weights, intermediate + ".dense", input: h, output: f),
                                                 down: try Linear(weights, output + ".dense", input: f, output: h),
                                                 activation: activation),
                                norm: try LayerNorm(weights, output + ".LayerNorm", width: h, eps: eps))
        }
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let p = prefix + "encoder.layer.\(i)."
            layers.append(Layer(
                selfAttention: try attention(p + "attention", keyWidth: h),
                crossAttention: i % config.crossAttentionFrequency == 0 ? try attention(p + "crossattention", keyWidth: e) : nil,
                queryFeedForward: try feedForward(p + "intermediate_query", p + "output_query"),
                textFeedForward: textInput ? try feedForward(p + "intermediate", p + "output") : nil))
        }
        self.layers = layers
    }

    /// Runs the Q-Former. `queries` [B, Q, H]; `encoder` [B, N, E] vision features; optional
    /// instruction `textIds` [B][L] with `textMask` [B][L] (true = real token); optional
    /// `encoderLogCounts` [B][N] added to the cross-attention logits (proportional attention for
    /// merged tokens). Returns [B, Q + L, H]; the first Q rows are the query outputs.
    public func callAsFunction(queries: Tensor, encoder: Tensor, textIds: [[Int]]? = nil, textMask: [[Bool]]? = nil,
                               encoderLogCounts: [[Float]]? = nil) throws(BridgeError) -> Tensor {
        let h = config.hiddenSize
        guard queries.rank == 3, queries.shape[2] == h else {
            throw .badInput("queries must be [batch, queries, \(h)], got \(queries.shape)")
        }
        guard encoder.rank == 3, encoder.shape[0] == queries.shape[0], encoder.shape[2] == config.encoderHiddenSize else {
            throw .widthMismatch("the vision features are \(encoder.shape) but the Q-Former's encoder_hidden_size is \(config.encoderHiddenSize)")
        }
        let b = queries.shape[0], q = queries.shape[1]
        var x = queries.toF32()
        var keyPadding: [[Bool]]? = nil
        if let textIds, !textIds.isEmpty, let words = textEmbeddings {
            guard textIds.count == b, let l = textIds.first?.count, textIds.allSatisfy({ $0.count == l }) else {
                throw .badInput("instruction ids must be one equal-length row per batch item")
            }
            guard l <= config.maxPositionEmbeddings else {
                throw .badInput("the instruction has \(l) tokens; the Q-Former takes at most \(config.maxPositionEmbeddings)")
            }
            for row in textIds { for id in row where id < 0 || id >= config.vocabSize {
                throw .badInput("instruction token id \(id) is outside the Q-Former vocabulary of \(config.vocabSize)")
            } }
            var rows: [Tensor] = []
            for bi in 0..<b {
                let text = words.words.embeddingRows(textIds[bi]) + words.positions.rows(0..<l)
                rows.append(Tensor.concatenate([x.slice(bi), text]))
            }
            x = Tensor.concatenate(rows.map { $0.reshaped([1] + $0.shape) })
            let mask = textMask ?? textIds.map { $0.map { _ in true } }
            keyPadding = mask.map { Array(repeating: false, count: q) + $0.map { !$0 } }
        } else if textIds != nil && !(textIds!.isEmpty) {
            throw .badInput("this Q-Former takes no instruction text")
        }
        x = inputNorm(x)
        let total = x.shape[1]
        let heads = config.numAttentionHeads
        let source = encoder.toF32()
        for layer in layers {
            let attended = attend(layer.selfAttention, x, keys: x, heads: heads, keyPadding: keyPadding, keyBias: nil)
            var queryPart = total == q ? attended : attended.rowsOfSequence(0..<q)
            if let cross = layer.crossAttention {
                queryPart = attend(cross, queryPart, keys: source, heads: heads, keyPadding: nil, keyBias: encoderLogCounts)
            }
            var out = feedForward(layer.queryFeedForward, queryPart)
            if total > q, let text = layer.textFeedForward {
                out = Tensor.concatenateSequences(out, feedForward(text, attended.rowsOfSequence(q..<total)))
            }
            x = out
        }
        return x
    }

    private func attend(_ block: AttentionBlock, _ x: Tensor, keys: Tensor, heads: Int,
                        keyPadding: [[Bool]]?, keyBias: [[Float]]?) -> Tensor {
        let context = Attention.scaledDotProduct(q: block.query(x), k: block.key(keys), v: block.value(keys),
                                                 heads: heads, keyPadding: keyPadding, keyBias: keyBias)
        return block.norm(block.output(context) + x)
    }

    private func feedForward(_ ff: PostNormFeedForward, _ x: Tensor) -> Tensor {
        ff.norm(ff.mlp(x) + x)
    }
}

/// A `nn.Linear`'s parameters (`name.weight` [out, in], `name.bias` [out]).
public enum BridgeError: Error, Equatable, Sendable, CustomStringConvertible {
    case badInput(String)
    case widthMismatch(String)
    public var description: String {
        switch self {
        case .badInput(let why): return "Invalid bridge input: \(why)."
        case .widthMismatch(let why): return "Width mismatch: \(why)."
        }
    }
}

extension Tensor {
    /// Positions `range` of every sequence in a [B, L, D] tensor → [B, range.count, D].
    func rowsOfSequence(_ range: Range<Int>) -> Tensor {
        let (b, l, d) = (shape[0], shape[1], shape[2])
        return withFloats { src in
            Tensor.make(shape: [b, range.count, d], uninitialized: true) { out in
                for bi in 0..<b {
                    (out.baseAddress! + bi * range.count * d).update(from: src.baseAddress! + (bi * l + range.lowerBound) * d,
                                                                     count: range.count * d)
                }
            }
        }
    }

    /// [B, L1, D] and [B, L2, D] → [B, L1 + L2, D].
    static func concatenateSequences(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (n, l1, d) = (a.shape[0], a.shape[1], a.shape[2])
        let l2 = b.shape[1]
        return a.withFloats { x in
            b.withFloats { y in
                Tensor.make(shape: [n, l1 + l2, d], uninitialized: true) { out in
                    for i in 0..<n {
                        (out.baseAddress! + i * (l1 + l2) * d).update(from: x.baseAddress! + i * l1 * d, count: l1 * d)
                        (out.baseAddress! + (i * (l1 + l2) + l1) * d).update(from: y.baseAddress! + i * l2 * d, count: l2 * d)
                    }
                }
            }
        }
    }
}

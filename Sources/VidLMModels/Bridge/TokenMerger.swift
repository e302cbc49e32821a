import Foundation
import VidLMTensor

/// Which visual-token merger runs between the vision tower and the bridge, read from the
/// `token_merger` object of config.json (absent: `none`). The PyTorch reference, with the exact
/// rules, is `tools/reference/vidlm_bridge.py`.
///
/// ```json
/// "token_merger": {"type": "none"}
/// "token_merger": {"type": "spatial_pool", "k": 2, "proportional_attention": true}
/// "token_merger": {"type": "concat_linear", "k": 4, "out_size": 4096}
/// "token_merger": {"type": "temporal", "tau": 0.9, "proportional_attention": true}
/// ```
/// - `spatial_pool`: k×k average pooling of each frame's g×g patch grid (k must divide g); the
///   class token is kept as token 0. Output [T, 1 + (g/k)², D], counts 1 and k².
/// - `concat_linear` (MiniGPT4-Video): the class token is dropped; runs of k consecutive
///   raster-order patches are concatenated and projected by `merger.proj` (Linear(k·D, out_size),
///   `out_size` defaults to D); k must divide g². Output [T, g²/k, out_size], no counts.
/// - `temporal`: a patch whose cosine similarity to the token kept at its grid position (the
///   running mean of what merged there) is ≥ `tau` (0…1) is folded into it; class tokens are never
///   merged. Output [1, M, D] (one clip-level sequence), with counts and frame offsets.
/// - `proportional_attention` (default true): whether the bridge's cross-attention adds
///   log(count) to the merged tokens' logits (`MergedTokens.encoderLogCounts`).
public enum MergerConfig: Codable, Sendable, Equatable {
    case none
    case spatialPool(k: Int, proportionalAttention: Bool = true)
    case concatLinear(k: Int, outSize: Int? = nil)
    case temporal(tau: Float, proportionalAttention: Bool = true)

    public static let typeNames = ["none", "spatial_pool", "concat_linear", "temporal"]

    enum CodingKeys: String, CodingKey {
        case type, k, tau, outSize, proportionalAttention
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        func fail(_ key: CodingKeys, _ why: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why)
        }
        func k() throws -> Int {
            guard let k: Int = try c.optional(.k) else { throw DecodingError.keyNotFound(CodingKeys.k, .init(codingPath: c.codingPath, debugDescription: "")) }
            guard k >= 1 else { throw fail(.k, "must be at least 1, got \(k)") }
            return k
        }
        let proportional: Bool = try c.optional(.proportionalAttention) ?? true
        switch type {
        case "none":
            self = .none
        case "spatial_pool":
            self = .spatialPool(k: try k(), proportionalAttention: proportional)
        case "concat_linear":
            let out: Int? = try c.optional(.outSize)
            if let out, out < 1 { throw fail(.outSize, "must be at least 1, got \(out)") }
            self = .concatLinear(k: try k(), outSize: out)
        case "temporal":
            guard let tau: Float = try c.optional(.tau) else {
                throw DecodingError.keyNotFound(CodingKeys.tau, .init(codingPath: c.codingPath, debugDescription: ""))
            }
            guard tau >= 0, tau <= 1 else { throw fail(.tau, "must be within [0, 1], got \(tau)") }
            self = .temporal(tau: tau, proportionalAttention: proportional)
        default:
            throw fail(.type, "unknown merger type '\(type)'; known: \(Self.typeNames.joined(separator: ", "))")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(typeName, forKey: .type)
        switch self {
        case .none: break
        case .spatialPool(let k, let p):
            try c.encode(k, forKey: .k)
            try c.encode(p, forKey: .proportionalAttention)
        case .concatLinear(let k, let out):
            try c.encode(k, forKey: .k)
            try c.encodeIfPresent(out, forKey: .outSize)
        case .temporal(let tau, let p):
            try c.encode(tau, forKey: .tau)
            try c.encode(p, forKey: .proportionalAttention)
        }
    }

    public var typeName: String {
        switch self {
        case .none: "none"
        case .spatialPool: "spatial_pool"
        case .concatLinear: "concat_linear"
        case .temporal: "temporal"
        }
    }

    /// Whether the merged tokens' log(count) goes into the cross-attention logits.
    public var proportionalAttention: Bool {
        switch self {
        case .spatialPool(_, let p), .temporal(_, let p): p
        case .none, .concatLinear: false
        }
    }

    /// The `token_merger` object of a config.json (absent or null: `.none`); errors are one
    /// sentence naming the field, e.g. "config.json: 'token_merger.tau' is invalid (…)".
    public static func fromModelConfig(_ data: Data, file: String = "config.json") throws(ConfigError) -> MergerConfig {
        struct Section: Decodable { var tokenMerger: MergerConfig? }
        return try ConfigError.decode(Section.self, from: data, file: file).tokenMerger ?? .none
    }
}

/// Where one merged token came from: a frame and a position in that frame's token sequence
/// (0 = class token, 1 + row·g + column = a patch).
public struct TokenOrigin: Hashable, Sendable, CustomStringConvertible {
    public let frame: Int
    public let position: Int
    public init(frame: Int, position: Int) {
        self.frame = frame
        self.position = position
    }
    public var description: String { "(\(frame), \(position))" }
}

/// A merger's output. Token i of the flattened [B·L] sequence has `counts[i]` (when the merger
/// averages) and `provenance[i]`, in the order its members were merged.
public struct MergedTokens: Sendable {
    /// [B, L, D']: B = frames for per-frame mergers, B = 1 for the temporal merger.
    public let tokens: Tensor
    /// B·L counts (row-major like `tokens`), nil where outputs are not averages.
    public let counts: [Float]?
    public let provenance: [[TokenOrigin]]
    /// Temporal merger only: tokens `frameOffsets[t]..<frameOffsets[t + 1]` started in frame t.
    public let frameOffsets: [Int]?
    /// [B][L] log(count), the Q-Former's `encoderLogCounts` / `Attention`'s `keyBias`; nil when
    /// the merger has no counts or `proportional_attention` is false.
    public let encoderLogCounts: [[Float]]?

    public init(tokens: Tensor, counts: [Float]?, provenance: [[TokenOrigin]], frameOffsets: [Int]? = nil,
                proportionalAttention: Bool) {
        self.tokens = tokens
        self.counts = counts
        self.provenance = provenance
        self.frameOffsets = frameOffsets
        if proportionalAttention, let counts, tokens.rank == 3 {
            let l = tokens.shape[1]
            encoderLogCounts = (0..<tokens.shape[0]).map { b in counts[(b * l)..<((b + 1) * l)].map { Foundation.log($0) } }
        } else {
            encoderLogCounts = nil
        }
    }

    /// True for per-frame mergers ([T, L, D']), false for the clip-level temporal merger.
    public var perFrame: Bool { frameOffsets == nil }
}

/// Invalid merger settings or inputs, in one sentence naming the field.
public enum MergerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `token_merger.k` < 1.
    case invalidK(Int)
    /// `token_merger.k` does not divide the grid side (spatial_pool) or the patch count (concat_linear).
    case kDoesNotDivideGrid(type: String, k: Int, gridSide: Int)
    case tauOutOfRange(Float)
    case invalidOutSize(Int)
    /// The vision features have zero frames.
    case noFrames
    /// The features' width differs from the width the merger was built for.
    case widthMismatch(expected: Int, got: Int)
    /// The features are not [frames, 1 + g·g, width] for the merger's grid.
    case badShape(expected: [Int], got: [Int])
    case missingWeights(String)

    public var description: String {
        switch self {
        case .invalidK(let k):
            return "'token_merger.k' must be at least 1, got \(k)."
        case .kDoesNotDivideGrid(let type, let k, let g):
            if type == "concat_linear" {
                return "'token_merger.k' = \(k) does not divide the \(g * g) patches of the \(g)x\(g) grid (concat_linear groups k patches)."
            }
            return "'token_merger.k' = \(k) does not divide the \(g)x\(g) patch grid (\(type) pools k x k cells)."
        case .tauOutOfRange(let tau):
            return "'token_merger.tau' must be within [0, 1], got \(tau)."
        case .invalidOutSize(let n):
            return "'token_merger.out_size' must be at least 1, got \(n)."
        case .noFrames:
            return "The vision features have zero frames; the token merger needs at least one."
        case .widthMismatch(let expected, let got):
            return "The vision features are \(got) wide but the token merger was built for width \(expected)."
        case .badShape(let expected, let got):
            return "The vision features must be [frames, \(expected[1]), \(expected[2])] (class token + patch grid, width), got \(got)."
        case .missingWeights(let why):
            return "The token merger's weights are missing: \(why)."
        }
    }
}

/// Merges the vision tower's per-frame tokens [T, 1 + g·g, D] as `config` says.
public struct TokenMerger: Sendable {
    public let config: MergerConfig
    /// D, the vision width the merger takes.
    public let width: Int
    /// g, the patch grid's side.
    public let gridSide: Int
    let projWeight: Tensor?   // concat_linear: [out, k·D]
    let projBias: Tensor?

    /// Checks `config` against the grid and, for concat_linear, binds `<prefix>proj.weight` and
    /// `<prefix>proj.bias` from `weights`.
    public init(config: MergerConfig, width: Int, gridSide: Int, weights: ParameterSource? = nil,
                prefix: String = "merger.") throws {
        guard width > 0, gridSide > 0 else { throw MergerError.badShape(expected: [0, 1 + gridSide * gridSide, width], got: []) }
        self.config = config
        self.width = width
        self.gridSide = gridSide
        switch config {
        case .none:
            projWeight = nil; projBias = nil
        case .spatialPool(let k, _):
            guard k >= 1 else { throw MergerError.invalidK(k) }
            guard gridSide % k == 0 else { throw MergerError.kDoesNotDivideGrid(type: config.typeName, k: k, gridSide: gridSide) }
            projWeight = nil; projBias = nil
        case .concatLinear(let k, let outSize):
            guard k >= 1 else { throw MergerError.invalidK(k) }
            guard (gridSide * gridSide) % k == 0 else {
                throw MergerError.kDoesNotDivideGrid(type: config.typeName, k: k, gridSide: gridSide)
            }
            let out = outSize ?? width
            guard out >= 1 else { throw MergerError.invalidOutSize(out) }
            guard let weights else { throw MergerError.missingWeights("concat_linear needs \(prefix)proj.weight and \(prefix)proj.bias") }
            projWeight = try weights.take(prefix + "proj.weight", shape: [out, k * width]).toF32()
            projBias = try weights.take(prefix + "proj.bias", shape: [out]).toF32()
        case .temporal(let tau, _):
            guard tau >= 0, tau <= 1 else { throw MergerError.tauOutOfRange(tau) }
            projWeight = nil; projBias = nil
        }
    }

    /// For a vision tower's output: width and grid from its config.
    public init(config: MergerConfig, vision: VisionConfig, weights: ParameterSource? = nil, prefix: String = "merger.") throws {
        try self.init(config: config, width: vision.hiddenSize, gridSide: vision.patchesPerSide, weights: weights, prefix: prefix)
    }

    /// The width of the merged tokens.
    public var outputWidth: Int { projWeight?.shape[0] ?? width }

    /// Tokens per frame after a per-frame merger (nil for the temporal merger: it depends on the clip).
    public var tokensPerFrame: Int? {
        let g = gridSide
        switch config {
        case .none: return 1 + g * g
        case .spatialPool(let k, _): return 1 + (g / k) * (g / k)
        case .concatLinear(let k, _): return g * g / k
        case .temporal: return nil
        }
    }

    public func callAsFunction(_ features: Tensor) throws(MergerError) -> MergedTokens {
        let n = 1 + gridSide * gridSide
        guard features.rank == 3 else { throw .badShape(expected: [0, n, width], got: features.shape) }
        guard features.shape[0] > 0 else { throw .noFrames }
        guard features.shape[2] == width else { throw .widthMismatch(expected: width, got: features.shape[2]) }
        guard features.shape[1] == n else { throw .badShape(expected: [features.shape[0], n, width], got: features.shape) }
        let x = features.toF32()
        switch config {
        case .none:
            let t = x.shape[0]
            return MergedTokens(tokens: x, counts: nil,
                                provenance: (0..<t).flatMap { f in (0..<n).map { [TokenOrigin(frame: f, position: $0)] } },
                                proportionalAttention: false)
        case .spatialPool(let k, let proportional):
            return spatialPool(x, k: k, proportional: proportional)
        case .concatLinear(let k, _):
            return concatLinear(x, k: k)
        case .temporal(let tau, let proportional):
            return TemporalMerge.run(x, gridSide: gridSide, tau: tau, proportional: proportional)
        }
    }

    private func spatialPool(_ x: Tensor, k: Int, proportional: Bool) -> MergedTokens {
        let (t, g, d) = (x.shape[0], gridSide, width)
        let n = 1 + g * g, s = g / k, l = 1 + s * s
        let divisor = Float(k * k)
        let tokens = x.withFloats { src in
            Tensor.make(shape: [t, l, d]) { out in
                for f in 0..<t {
                    let frame = src.baseAddress! + f * n * d
                    let o = out.baseAddress! + f * l * d
                    o.update(from: frame, count: d)                         // class token
                    for r in 0..<s {
                        for c in 0..<s {
                            let cell = o + (1 + r * s + c) * d
                            for i in 0..<k {
                                for j in 0..<k {
                                    let patch = frame + (1 + (r * k + i) * g + c * k + j) * d
                                    for e in 0..<d { cell[e] += patch[e] }
                                }
                            }
                            for e in 0..<d { cell[e] /= divisor }
                        }
                    }
                }
            }
        }
        var provenance: [[TokenOrigin]] = []
        provenance.reserveCapacity(t * l)
        for f in 0..<t {
            provenance.append([TokenOrigin(frame: f, position: 0)])
            for r in 0..<s {
                for c in 0..<s {
                    var cell: [TokenOrigin] = []
                    for i in 0..<k { for j in 0..<k { cell.append(TokenOrigin(frame: f, position: 1 + (r * k + i) * g + c * k + j)) } }
                    provenance.append(cell)
                }
            }
        }
        let frameCounts: [Float] = [1] + Array(repeating: divisor, count: s * s)
        let counts = (0..<t).flatMap { _ in frameCounts }
        return MergedTokens(tokens: tokens, counts: counts, provenance: provenance, proportionalAttention: proportional)
    }

    private func concatLinear(_ x: Tensor, k: Int) -> MergedTokens {
        let (t, g, d) = (x.shape[0], gridSide, width)
        let n = 1 + g * g, groups = g * g / k
        // Each frame's patch rows are contiguous; viewed as [g²/k, k·D] they are the concatenated runs.
        let patches = x.withFloats { src in
            Tensor.make(shape: [t, groups, k * d], uninitialized: true) { out in
                for f in 0..<t {
                    (out.baseAddress! + f * g * g * d).update(from: src.baseAddress! + (f * n + 1) * d, count: g * g * d)
                }
            }
        }
        let tokens = patches.mixedLinear(weight: projWeight!, bias: projBias)
        let provenance = (0..<t).flatMap { f in
            (0..<groups).map { j in (0..<k).map { TokenOrigin(frame: f, position: 1 + j * k + $0) } }
        }
        return MergedTokens(tokens: tokens, counts: nil, provenance: provenance, proportionalAttention: false)
    }
}

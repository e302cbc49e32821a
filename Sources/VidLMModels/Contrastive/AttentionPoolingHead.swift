import Foundation
import VidLMTensor

/// SigLIP's multi-head attention pooling (`SiglipMultiheadAttentionPoolingHead`): a learned probe
/// attends over the tower's (post-norm) tokens with `torch.nn.MultiheadAttention` (q/k/v from one
/// `in_proj` weight, biases), then a pre-norm MLP with a residual; the probe's row is the image's
/// pooled output.
public struct AttentionPoolingHead: Sendable {
    let probe: Tensor            // [1, D]
    let query: Linear, key: Linear, value: Linear
    let output: Linear
    let norm: LayerNorm
    let mlp: FeedForward
    let heads: Int

    /// Binds `prefix + "probe"`, `"attention.in_proj_weight"/"in_proj_bias"`, `"attention.out_proj"`,
    /// `"layernorm"`, `"mlp.fc1"`, `"mlp.fc2"`.
    public init(width d: Int, intermediate: Int, heads: Int, eps: Float, activation: Activation,
                weights: ParameterSource, prefix: String) throws {
        probe = try weights.take(prefix + "probe", shape: [1, 1, d]).toF32().reshaped([1, d])
        let w = try weights.take(prefix + "attention.in_proj_weight", shape: [3 * d, d]).toF32()
        let b = try weights.take(prefix + "attention.in_proj_bias", shape: [3 * d]).toF32()
        let parts = (0..<3).map { i in
            Linear(weight: w.rows((i * d)..<((i + 1) * d)).toF32(), bias: Tensor(shape: [d], values: Array(b.floats()[(i * d)..<((i + 1) * d)])))
        }
        (query, key, value) = (parts[0], parts[1], parts[2])
        output = try Linear(weights, prefix + "attention.out_proj", input: d, output: d, widen: true)
        norm = try LayerNorm(weights, prefix + "layernorm", width: d, eps: eps)
        mlp = FeedForward(up: try Linear(weights, prefix + "mlp.fc1", input: d, output: intermediate, widen: true),
                          down: try Linear(weights, prefix + "mlp.fc2", input: intermediate, output: d, widen: true),
                          activation: activation)
        self.heads = heads
    }

    /// Tokens [B, N, D] → pooled [B, D].
    public func callAsFunction(_ tokens: Tensor) -> Tensor {
        let b = tokens.shape[0], n = tokens.shape[1], d = tokens.shape[2], dh = d / heads
        let q = query(probe).floats()                                   // [D]
        let flat = tokens.reshaped([b * n, d])
        let k = key(flat).floats(), v = value(flat).floats()             // [B·N, D]
        let scale = 1 / Float(Double(dh).squareRoot())
        var attended = [Float](repeating: 0, count: b * d)
        var scores = [Float](repeating: 0, count: n)
        for bi in 0..<b {
            for h in 0..<heads {
                var top = -Float.infinity
                for j in 0..<n {
                    var s: Float = 0
                    for t in 0..<dh { s += q[h * dh + t] * k[(bi * n + j) * d + h * dh + t] }
                    scores[j] = s * scale
                    top = max(top, scores[j])
                }
                var sum: Float = 0
                for j in 0..<n { scores[j] = exp(scores[j] - top); sum += scores[j] }
                for j in 0..<n {
                    let p = scores[j] / sum
                    for t in 0..<dh { attended[bi * d + h * dh + t] += p * v[(bi * n + j) * d + h * dh + t] }
                }
            }
        }
        let x = output(Tensor(shape: [b, d], values: attended))
        return x + mlp(norm(x))
    }
}

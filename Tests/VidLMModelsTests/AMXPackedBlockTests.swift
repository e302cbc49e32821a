import CKernels
import XCTest
import VidLMTensor
@testable import VidLMModels

/// A tower block whose layer norms write the bf16 products' packed x and whose MLP's first
/// product writes the second's (`PreNormBlock.callAsFunction(_:selfAttention:)` on AMX) gives,
/// bit for bit, the block computed step by step: two frames of 300 tokens (x blocks and the
/// hidden width cut short), with and without the norms' affine parameters.
final class AMXPackedBlockTests: XCTestCase {
    private struct Source: ParameterSource {
        let tensors: [String: Tensor]
        func take(_ name: String, shape: [Int]) throws -> Tensor {
            guard let t = tensors[name], t.shape == shape else { throw SafetensorsError.missingTensor(file: "test", tensor: name) }
            return t
        }
        func takeIfPresent(_ name: String, shape: [Int]) throws -> Tensor? { try take(name, shape: shape) }
    }

    /// Deterministic values in [-scale, scale).
    private static func values(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
        var s = seed
        return (0..<count).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    func testPackedBlockEqualsStepByStep() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        let d = 96, hidden = 200, heads = 3, frames = 2, tokens = 300
        for affine in [true, false] {
            var tensors: [String: Tensor] = [:]
            for (i, name) in ["ln1", "ln2"].enumerated() {
                tensors[name + ".weight"] = Tensor(shape: [d], values: Self.values(d, seed: UInt64(10 + i), scale: 1).map { 1 + $0 / 2 })
                tensors[name + ".bias"] = Tensor(shape: [d], values: Self.values(d, seed: UInt64(20 + i), scale: 0.5))
            }
            let source = Source(tensors: tensors)
            let ln1 = try LayerNorm(source, "ln1", width: d, eps: 1e-6, affine: affine)
            let ln2 = try LayerNorm(source, "ln2", width: d, eps: 1e-6, affine: affine)
            func linear(_ out: Int, _ input: Int, seed: UInt64) -> Linear {
                Linear(weight: Tensor(shape: [out, input], values: Self.values(out * input, seed: seed, scale: 0.2)).converted(to: .bf16),
                       bias: Tensor(shape: [out], values: Self.values(out, seed: seed + 1000, scale: 0.1)))
            }
            let attention = BidirectionalSelfAttention(qkv: FusedLinear([linear(d, d, seed: 1), linear(d, d, seed: 2), linear(d, d, seed: 3)]),
                                                       output: linear(d, d, seed: 4), heads: heads)
            let mlp = FeedForward(up: linear(hidden, d, seed: 5), down: linear(d, hidden, seed: 6), activation: .gelu)
            let block = PreNormBlock(attentionNorm: ln1, mlpNorm: ln2, mlp: mlp)
            let x = Tensor(shape: [frames, tokens, d], values: Self.values(frames * tokens * d, seed: 7, scale: 2))

            XCTAssertNotNil(attention.residualOnAMX(x, norm: ln1), "the packed path should apply to \(frames) × \(tokens) rows")
            let packed = block(x, selfAttention: attention)
            let h = x + attention(ln1(x))
            let stepByStep = h + mlp.down(mlp.up(ln2(h), then: .gelu))
            XCTAssertEqual(packed.shape, stepByStep.shape)
            XCTAssertEqual(packed.floats().map(\.bitPattern), stepByStep.floats().map(\.bitPattern), "affine \(affine)")
        }
    }
}

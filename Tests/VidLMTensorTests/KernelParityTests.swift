import XCTest
@testable import VidLMTensor

/// Every kernel against PyTorch (tools/parity/cases_kernels.py).
final class KernelParityTests: XCTestCase {
    private var t: SafetensorsFile!

    override func setUpWithError() throws {
        t = try SafetensorsFile(url: ParityFixtures.root.appendingPathComponent("kernels/tensors.safetensors"))
    }

    private func x(_ name: String) throws -> Tensor { try t.tensor(name) }

    func testMatmulAndLinear() throws {
        assertClose(try x("matmul.a").matmul(try x("matmul.b")), try x("matmul.out"), "matmul")
        assertClose(try x("matmul_t.a").matmul(try x("matmul_t.b"), transposeA: true, transposeB: true),
                    try x("matmul_t.out"), "matmul transposed")
        // Mixed transposes against the plain product, all four cases.
        let a = try x("matmul.a"), b = try x("matmul.b"), out = try x("matmul.out")
        let aT = transpose(a), bT = transpose(b)
        assertClose(aT.matmul(b, transposeA: true), out, "Aᵀ case")
        assertClose(a.matmul(bT, transposeB: true), out, "Bᵀ case")
        assertClose(try x("linear.x").linear(weight: try x("linear.w"), bias: try x("linear.b")), try x("linear.out"), "linear")
    }

    func testActivationsNormsSoftmax() throws {
        let input = try x("act.x")
        assertClose(input.activated(.gelu), try x("act.gelu"), tolerance: 1e-5, "gelu")
        assertClose(input.activated(.geluTanh), try x("act.gelu_tanh"), tolerance: 1e-5, "gelu tanh")
        assertClose(input.activated(.quickGelu), try x("act.quick_gelu"), tolerance: 1e-5, "quick gelu")
        assertClose(input.activated(.silu), try x("act.silu"), tolerance: 1e-5, "silu")
        assertClose(input.activated(.relu), try x("act.relu"), tolerance: 0, "relu")
        assertClose(input.layerNorm(weight: try x("ln.w"), bias: try x("ln.b"), eps: 1e-5), try x("ln.out"), "layer norm")
        let s = try x("softmax.x").softmax()
        XCTAssertFalse(s.floats().contains { $0.isNaN })
        assertClose(s, try x("softmax.out"), tolerance: 1e-5, "softmax of large logits")
    }

    func testBroadcastConvolutionAttention() throws {
        assertClose(try x("bcast.a") + (try x("bcast.b")), try x("bcast.add"), tolerance: 0, "broadcast add")
        assertClose(try x("bcast.a") * (try x("bcast.b")), try x("bcast.mul"), tolerance: 0, "broadcast mul")
        assertClose(try x("conv.x").patchEmbedding(weight: try x("conv.w"), bias: try x("conv.b"), patch: 4),
                    try x("conv.out"), "patch embedding")
        let q = try x("attn.q"), k = try x("attn.k"), v = try x("attn.v")
        assertClose(Attention.scaledDotProduct(q: q, k: k, v: v, heads: 4), try x("attn.plain"), "attention")
        assertClose(Attention.scaledDotProduct(q: q, k: k, v: v, heads: 4, causal: true), try x("attn.causal"), "causal attention")
        let pad = try x("attn.pad_mask").floats()
        let mask = (0..<2).map { b in (0..<7).map { pad[b * 7 + $0] != 0 } }
        assertClose(Attention.scaledDotProduct(q: q, k: k, v: v, heads: 4, keyPadding: mask), try x("attn.padded"), "padded attention")
    }

    func testHalfPrecisionRoundsToNearestEven() throws {
        let input = try x("bf16.in")
        XCTAssertEqual(input.converted(to: .bf16).toF32().floats(), try x("bf16.out").floats())
        XCTAssertEqual(try x("f16.in").converted(to: .f16).toF32().floats(), try x("f16.out").floats())
    }

    private func transpose(_ m: Tensor) -> Tensor {
        let (b, r, c) = (m.shape[0], m.shape[1], m.shape[2])
        let v = m.floats()
        return Tensor(shape: [b, c, r], values: (0..<(b * r * c)).map { i in
            let bi = i / (r * c), rem = i % (r * c), ci = rem / r, ri = rem % r
            return v[bi * r * c + ri * c + ci]
        })
    }
}

import CKernels
import Foundation
import XCTest
@testable import VidLMTensor

/// The AVX-512 activation and layer-norm kernels against libm / double-precision references,
/// over lengths with vector tails, wide ranges (saturating tanh/erf, exp underflow) and ±0.
final class ElementwiseKernelTests: XCTestCase {
    private func requireAVX512() throws {
        if vidlm_avx512_available() != 1 { throw XCTSkip("this CPU lacks AVX-512F; the Swift path runs instead") }
    }

    func testActivationsMatchLibm() throws {
        try requireAVX512()
        var rng = SplitMix(seed: 11)
        let activations: [Activation] = [.gelu, .geluTanh, .quickGelu, .silu, .relu]
        for n in [1, 15, 16, 17, 100] {
            var x = (0..<n).map { _ in rng.next() * 12 }
            x[0] = n > 1 ? -0.0 : 95
            for a in activations {
                var y = [Float](repeating: .nan, count: n + 1)
                vidlm_activation_avx512(a.kernelID, x, &y, n)
                for i in 0..<n {
                    let expected = a.apply(x[i])
                    XCTAssertEqual(y[i], expected, accuracy: 2e-6 * max(1, abs(expected)), "\(a) n \(n) x \(x[i])")
                }
                XCTAssertTrue(y[n].isNaN, "\(a): wrote past n")
            }
        }
    }

    /// The logistic-based activations keep their relative precision where they are tiny (GELU's
    /// negative tail: the tanh form 0.5x(1 + tanh u) cancelled to 0 below x ≈ −5.4), against
    /// x·σ(·) in double precision, which does not cancel; NaN stays NaN and +∞ stays +∞.
    func testLogisticActivationsKeepRelativePrecisionInTheirTails() throws {
        try requireAVX512()
        let x = (0..<64).map { Float(-9.5 + 0.1 * Double($0)) } + [.nan, .infinity]
        let references: [(Activation, (Double) -> Double)] = [
            (.geluTanh, { x in x / (1 + Foundation.exp(-2 * (2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }),
            (.silu, { x in x / (1 + Foundation.exp(-x)) }),
            (.quickGelu, { x in x / (1 + Foundation.exp(-1.702 * x)) }),
        ]
        for (activation, reference) in references {
            var y = [Float](repeating: 0, count: x.count)
            vidlm_activation_avx512(activation.kernelID, x, &y, x.count)
            for i in 0..<64 {
                let expected = reference(Double(x[i]))
                XCTAssertEqual(Double(y[i]), expected, accuracy: 1e-5 * abs(expected), "\(activation) x \(x[i])")
            }
            XCTAssertTrue(y[64].isNaN, "\(activation) of NaN")
            XCTAssertEqual(y[65], .infinity, "\(activation) of +inf")
        }
    }

    func testLayerNormMatchesDoubleReference() throws {
        try requireAVX512()
        var rng = SplitMix(seed: 5)
        for d in [1, 7, 16, 33, 768, 1408] {
            let rows = 3
            let x = (0..<rows * d).map { _ in rng.next() * 4 + 10 }  // an offset mean, as residual streams have
            let w = (0..<d).map { _ in rng.next() }, b = (0..<d).map { _ in rng.next() }
            for affine in [true, false] {
                var y = [Float](repeating: .nan, count: rows * d)
                if affine {
                    vidlm_layernorm_avx512(x, &y, rows, d, w, b, 1e-6)
                } else {
                    vidlm_layernorm_avx512(x, &y, rows, d, nil, nil, 1e-6)
                }
                for r in 0..<rows {
                    let row = x[(r * d)..<((r + 1) * d)].map(Double.init)
                    let mean = row.reduce(0, +) / Double(d)
                    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
                    for i in 0..<d {
                        var e = (row[i] - mean) / (variance + 1e-6).squareRoot()
                        if affine { e = e * Double(w[i]) + Double(b[i]) }
                        XCTAssertEqual(Double(y[r * d + i]), e, accuracy: 2e-5 * max(1, abs(e)), "d \(d) row \(r) i \(i)")
                    }
                }
            }
        }
    }
}

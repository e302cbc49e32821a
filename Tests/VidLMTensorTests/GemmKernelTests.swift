import CKernels
import XCTest
@testable import VidLMTensor

/// vidlm's GEMM kernels (f32 FMA, bf16 dot product) against a double-precision reference. Below
/// 256 x rows both run the weight-broadcast kernel (x in 16-row blocks, three blocks a pass,
/// weight tiles of 8 rows read in place, k slices of 1024 floats / 2048 bf16 (a last slice of up
/// to 1.5 of those taking what would be a short tail), an odd last k
/// broadcast alone); from 256 rows the outer-product kernel (6-row x groups, 64-row panels,
/// 128-row f32 weight blocks). The sizes sit around those blocks, tiles and slices, with odd k,
/// row ranges that start inside a tile, x packed in two row ranges, accumulation into y and the
/// bias the kernels add as they store; all paths are covered. The AMX kernel (Xeons from
/// Sapphire Rapids) is checked on both of its paths: an x of up to 256 rows and 1.5 MiB (weights
/// read in place, x pair-interleaved, k in chunks of 2048; 150 × 4100) and a larger one (200 ×
/// 4100, 257 rows and more: weights packed in 256-row units, k slices of at most 2048 split
/// evenly: 3000 is two of 1504, 4100 three of 1376), around the 32-row
/// blocks and 16-row tiles, with weight blocks cut short and k not a multiple of 32.
final class GemmKernelTests: XCTestCase {
    private let shapes: [(m: Int, k: Int, n: Int)] = [
        (1, 1, 1), (3, 5, 7), (4, 16, 6), (5, 17, 13), (17, 33, 49), (9, 1023, 50), (6, 1025, 97),
        (13, 2049, 31), (33, 3000, 12), (64, 40, 7),
        (65, 1030, 101), (130, 2050, 50), (31, 100, 20), (32, 100, 20), (70, 1100, 300), (37, 16, 129),
        (256, 33, 65), (261, 2049, 130), (300, 97, 64),
        (16, 7, 8), (47, 2049, 17), (48, 33, 9), (49, 1025, 23), (97, 65, 24), (255, 2050, 17),
        (8, 33, 9), (24, 2049, 16), (56, 1025, 17), (40, 3100, 20), (260, 1537, 70), (20, 4700, 9),
    ]

    private let amxShapes: [(m: Int, k: Int, n: Int)] = [
        (1, 1, 1), (3, 5, 7), (16, 32, 16), (31, 33, 17), (32, 64, 32), (33, 1025, 49), (40, 1100, 290),
        (64, 2048, 96), (100, 3000, 40), (5, 17, 530), (96, 520, 300), (45, 4100, 300), (33, 2049, 33),
        (256, 70, 50), (257, 1100, 290), (300, 4100, 33), (150, 4100, 70), (200, 4100, 40),
    ]

    func testAMXGemmMatchesReference() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        for s in amxShapes {
            for accumulate in [false, true] { try check(s, kernel: .amx, accumulate: accumulate) }
        }
    }

    /// The activation the AMX GEMM applies as it stores (`activation` ≥ 0) gives, bit for bit,
    /// the product without it followed by `vidlm_activation_avx512` over the written rows: on both
    /// paths, whole and edge blocks, several k slices, with and without bias and accumulation.
    func testAMXGemmFusedActivationEqualsSeparatePass() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        let cases: [(m: Int, k: Int, n: Int)] = [(5, 17, 530), (40, 1100, 290), (150, 4100, 70), (257, 1100, 290),
                                                 (300, 4100, 33), (3, 0, 20)]
        checkFusedActivation(cases, seed: 100, activations: [.gelu, .geluTanh, .silu], prepare: Self.amxProduct)
    }

    /// `vidlm_amx_bf16_gemm_add` gives, bit for bit, the product followed by a pass adding the
    /// residual (`residual + y`): both paths, edge blocks, several k slices, k = 0, with bias,
    /// accumulation and an activation.
    func testAMXGemmAddEqualsSeparateResidualPass() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        let cases: [(m: Int, k: Int, n: Int)] = [(5, 17, 530), (40, 1100, 290), (257, 1100, 290), (300, 4100, 33), (3, 0, 20)]
        checkResidualAdd(cases, seed: 300, prepare: Self.amxProduct)
    }

    /// The same two for vidlm's f32 GEMM: both kernels (under 256 x rows: weight-broadcast
    /// tiles; from 256: packed panels), edge tiles and panels, several k slices (1024 floats), k = 0.
    func testF32GemmFusedActivationEqualsSeparatePass() throws {
        try requireAVX512(bf16: false)
        checkFusedActivation(Self.f32Cases, seed: 200, activations: [.gelu, .quickGelu, .silu, .relu], prepare: Self.f32Product)
    }

    func testF32GemmAddEqualsSeparateResidualPass() throws {
        try requireAVX512(bf16: false)
        checkResidualAdd(Self.f32Cases, seed: 400, prepare: Self.f32Product)
    }

    /// The same two for the AVX-512 BF16 GEMM: both kernels (under 256 x rows: weight-broadcast
    /// tiles; from 256: transposed 64-row panels), edge tiles and panels, several k slices (2048),
    /// odd k, k = 0.
    func testBF16GemmFusedActivationEqualsSeparatePass() throws {
        try requireAVX512(bf16: true)
        checkFusedActivation(Self.bf16Cases, seed: 500, activations: [.gelu, .geluTanh, .silu], prepare: Self.bf16Product)
    }

    func testBF16GemmAddEqualsSeparateResidualPass() throws {
        try requireAVX512(bf16: true)
        checkResidualAdd(Self.bf16Cases, seed: 600, prepare: Self.bf16Product)
    }

    /// Below 256 x rows the weight-broadcast kernel runs, from 256 the outer-product kernel; both
    /// add a row's products in k order within the same k slices, so a row's outputs are the same
    /// bits whichever runs: 255 rows against the same rows and one more, several k slices, odd k,
    /// weight tiles and panels cut short, with bias, accumulation, an activation and a residual.
    func testF32KernelsAgreeAcrossTheRowSwitch() throws {
        try requireAVX512(bf16: false)
        checkRowSwitch(seed: 700, prepare: Self.f32Product)
    }

    func testBF16KernelsAgreeAcrossTheRowSwitch() throws {
        try requireAVX512(bf16: true)
        checkRowSwitch(seed: 800, prepare: Self.bf16Product)
    }

    /// The kernels read weight rows where they are stored, up to a row's end and no further: an
    /// infinite first element of one weight row gives ±inf in that output column only, and every
    /// other column its finite product (Inf × a zero pad would be NaN), for x rows in a block, in
    /// the dot-product rest rows and both, with k odd and a partial last step.
    func testNonFiniteWeightStaysInItsColumn() throws {
        try requireAVX512(bf16: false)
        let bf16 = vidlm_avx512bf16_available() == 1
        for m in [5, 16, 21, 300] {
            for (k, n) in [(33, 9), (2049, 10)] {
                var rng = SplitMix(seed: UInt64(m * 31 + k))
                let x = (0..<m * k).map { _ in rng.next() }
                var w = (0..<n * k).map { _ in rng.next() }
                w[2 * k] = .infinity  // weight row 2 starts with inf; row 1 ends just before it
                for (name, prepare) in [("f32", Self.f32Product)] + (bf16 ? [("bf16", Self.bf16Product)] : []) {
                    let (product, cleanup) = prepare((m, k, n), x, w)
                    var y = [Float](repeating: 0, count: m * n)
                    y.withUnsafeMutableBufferPointer { product($0.baseAddress!, n, 0, n, false, nil, -1, nil, 0) }
                    cleanup()
                    for i in 0..<m {
                        for r in 0..<n where r != 2 {
                            XCTAssertTrue(y[i * n + r].isFinite, "\(name) m \(m) k \(k): row \(i) column \(r) is \(y[i * n + r])")
                        }
                        XCTAssertTrue(y[i * n + 2].isInfinite, "\(name) m \(m) k \(k): row \(i) column 2 is \(y[i * n + 2])")
                    }
                }
            }
        }
    }

    private func checkRowSwitch(seed: UInt64, prepare: ((m: Int, k: Int, n: Int), [Float], [Float]) -> (FusedProduct, () -> Void)) {
        for (ci, (k, n)) in [(2100, 70), (99, 9)].enumerated() {
            var rng = SplitMix(seed: seed + UInt64(ci))
            let x = (0..<256 * k).map { _ in rng.next() * 2 }, w = (0..<n * k).map { _ in rng.next() * 0.5 }
            let bias = (0..<n).map { _ in rng.next() }, initial = (0..<256 * n).map { _ in rng.next() }
            let residual = (0..<256 * n).map { _ in rng.next() * 4 }
            let (short, shortCleanup) = prepare((255, k, n), Array(x[..<(255 * k)]), w)
            let (long, longCleanup) = prepare((256, k, n), x, w)
            defer { shortCleanup(); longCleanup() }
            for (accumulate, act, adding) in [(false, Int32(-1), false), (true, Activation.gelu.kernelID, false), (false, Activation.silu.kernelID, true)] {
                var a = initial, b = initial
                bias.withUnsafeBufferPointer { bp in
                    residual.withUnsafeBufferPointer { rp in
                        let r = adding ? rp.baseAddress : nil
                        a.withUnsafeMutableBufferPointer { short($0.baseAddress!, n, 0, n, accumulate, bp.baseAddress, act, r, n) }
                        b.withUnsafeMutableBufferPointer { long($0.baseAddress!, n, 0, n, accumulate, bp.baseAddress, act, r, n) }
                    }
                }
                let same = (0..<255 * n).allSatisfy { a[$0].bitPattern == b[$0].bitPattern }
                XCTAssertTrue(same, "k \(k) n \(n) accumulate \(accumulate) activation \(act) residual \(adding)")
                XCTAssertNotEqual(a[255 * n], b[255 * n], "row 255 is only the longer product's")
            }
        }
    }

    private static let bf16Cases: [(m: Int, k: Int, n: Int)] = [(5, 17, 130), (70, 1030, 70), (260, 99, 290), (300, 2100, 65),
                                                                (48, 2049, 17), (97, 33, 40), (56, 99, 20), (3, 0, 20), (256, 0, 20)]

    private static let f32Cases: [(m: Int, k: Int, n: Int)] = [(5, 17, 130), (31, 1030, 70), (40, 100, 290), (64, 1030, 70), (70, 2100, 65),
                                                               (48, 1030, 17), (56, 99, 20), (260, 99, 70), (3, 0, 20), (33, 0, 20)]

    /// A kernel's product `y = residual + act(…)` over output rows [begin, end) of y (row stride
    /// ldy; the residual, when not nil, row stride ldr).
    private typealias FusedProduct = (_ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ begin: Int, _ end: Int,
                                      _ accumulate: Bool, _ bias: UnsafePointer<Float>?, _ activation: Int32,
                                      _ residual: UnsafePointer<Float>?, _ ldr: Int) -> Void

    /// x packed for the AMX GEMM and the weights rounded to bf16: its product and a cleanup.
    private static func amxProduct(_ s: (m: Int, k: Int, n: Int), _ x: [Float], _ w: [Float]) -> (FusedProduct, () -> Void) {
        let packedCount = vidlm_amx_packed_x_count(s.m, s.k)
        let packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 2, alignment: 64)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: vidlm_amx_gemm_scratch_count() * 2, alignment: 64)
        let xp = packed.bindMemory(to: UInt16.self, capacity: packedCount)
        let sp = scratch.bindMemory(to: UInt16.self, capacity: vidlm_amx_gemm_scratch_count())
        vidlm_amx_pack_x(x, max(s.k, 1), s.m, s.k, 0, (s.m + 31) / 32 * 32, xp)
        let wb = w.map(bf16Bits)
        return ({ y, ldy, begin, end, accumulate, bias, act, residual, ldr in
            vidlm_amx_bf16_gemm_add(xp, s.m, wb, s.k, begin, end, y, ldy, accumulate ? 1 : 0, bias, act, residual, ldr, sp)
        }, { packed.deallocate(); scratch.deallocate() })
    }

    /// x packed for the AVX-512 BF16 GEMM and the weights rounded to bf16: its product and a cleanup.
    private static func bf16Product(_ s: (m: Int, k: Int, n: Int), _ x: [Float], _ w: [Float]) -> (FusedProduct, () -> Void) {
        let packedCount = vidlm_bf16_packed_x_count(s.m, s.k)
        let packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 2, alignment: 64)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: vidlm_bf16_gemm_scratch_count() * 2, alignment: 64)
        let xp = packed.bindMemory(to: UInt16.self, capacity: packedCount)
        let sp = scratch.bindMemory(to: UInt16.self, capacity: vidlm_bf16_gemm_scratch_count())
        vidlm_bf16_pack_x_avx512bf16(x, max(s.k, 1), s.m, s.k, 0, s.m, xp)
        let wb = w.map(bf16Bits)
        return ({ y, ldy, begin, end, accumulate, bias, act, residual, ldr in
            vidlm_bf16_gemm_add_avx512bf16(xp, s.m, wb, s.k, begin, end, y, ldy, accumulate ? 1 : 0, bias, act, residual, ldr, sp)
        }, { packed.deallocate(); scratch.deallocate() })
    }

    /// x packed for vidlm's f32 GEMM: its product and a cleanup.
    private static func f32Product(_ s: (m: Int, k: Int, n: Int), _ x: [Float], _ w: [Float]) -> (FusedProduct, () -> Void) {
        let packedCount = vidlm_f32_packed_x_count(s.m, s.k)
        let packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 4, alignment: 64)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: vidlm_f32_gemm_scratch_count() * 4, alignment: 64)
        let xp = packed.bindMemory(to: Float.self, capacity: packedCount)
        let sp = scratch.bindMemory(to: Float.self, capacity: vidlm_f32_gemm_scratch_count())
        vidlm_f32_pack_x_avx512(x, max(s.k, 1), s.m, s.k, 0, s.m, xp)
        return ({ y, ldy, begin, end, accumulate, bias, act, residual, ldr in
            vidlm_f32_gemm_add_avx512(xp, s.m, w, s.k, begin, end, y, ldy, accumulate ? 1 : 0, bias, act, residual, ldr, sp)
        }, { packed.deallocate(); scratch.deallocate() })
    }

    /// For each case, random x [m, k] and weights [n, k] given to `prepare` (which packs them and
    /// returns the kernel's product and a cleanup): the product with each activation equals, bit
    /// for bit, the product without one followed by `vidlm_activation_avx512` over the written
    /// rows, with and without bias and accumulation.
    private func checkFusedActivation(_ cases: [(m: Int, k: Int, n: Int)], seed: UInt64, activations: [Activation],
                                      prepare: ((m: Int, k: Int, n: Int), [Float], [Float]) -> (FusedProduct, () -> Void)) {
        for (ci, s) in cases.enumerated() {
            var rng = SplitMix(seed: seed + UInt64(ci))
            let x = (0..<max(1, s.m * s.k)).map { _ in rng.next() * 2 }
            let w = (0..<max(1, s.n * s.k)).map { _ in rng.next() * 0.5 }
            let ldy = s.n + 5, begin = 3, end = s.n
            let initial = (0..<s.m * ldy).map { _ in rng.next() }
            let bias = (0..<s.n).map { _ in rng.next() }
            let (product, cleanup) = prepare(s, x, w)
            defer { cleanup() }
            for act in activations {
                for accumulate in [false, true] {
                    for useBias in [false, true] {
                        var separate = initial, fused = initial
                        bias.withUnsafeBufferPointer { b in
                            let bp = useBias ? b.baseAddress : nil
                            separate.withUnsafeMutableBufferPointer { product($0.baseAddress!, ldy, begin, end, accumulate, bp, -1, nil, 0) }
                            fused.withUnsafeMutableBufferPointer {
                                product($0.baseAddress!, ldy, begin, end, accumulate, bp, act.kernelID, nil, 0)
                            }
                        }
                        separate.withUnsafeMutableBufferPointer { y in
                            for i in 0..<s.m {
                                let row = y.baseAddress! + i * ldy + begin
                                vidlm_activation_avx512(act.kernelID, row, row, end - begin)
                            }
                        }
                        let same = zip(separate, fused).allSatisfy { $0.bitPattern == $1.bitPattern }
                        XCTAssertTrue(same, "\(s) \(act) accumulate \(accumulate) bias \(useBias)")
                    }
                }
            }
        }
    }

    /// For each case (x, weights and `prepare` as above): the product given a residual (row
    /// stride wider than y's) equals, bit for bit, the product without it followed by a pass
    /// `y = residual + y` over the written rows, with bias, accumulation and an activation.
    private func checkResidualAdd(_ cases: [(m: Int, k: Int, n: Int)], seed: UInt64,
                                  prepare: ((m: Int, k: Int, n: Int), [Float], [Float]) -> (FusedProduct, () -> Void)) {
        for (ci, s) in cases.enumerated() {
            var rng = SplitMix(seed: seed + UInt64(ci))
            let x = (0..<max(1, s.m * s.k)).map { _ in rng.next() * 2 }
            let w = (0..<max(1, s.n * s.k)).map { _ in rng.next() * 0.5 }
            let ldy = s.n + 5, ldr = s.n + 3, begin = 3, end = s.n
            let initial = (0..<s.m * ldy).map { _ in rng.next() }
            let residual = (0..<s.m * ldr).map { _ in rng.next() * 4 }
            let bias = (0..<s.n).map { _ in rng.next() }
            let (product, cleanup) = prepare(s, x, w)
            defer { cleanup() }
            for (accumulate, act) in [(false, Int32(-1)), (true, Int32(-1)), (false, Activation.gelu.kernelID)] {
                var separate = initial, fused = initial
                bias.withUnsafeBufferPointer { b in
                    separate.withUnsafeMutableBufferPointer { product($0.baseAddress!, ldy, begin, end, accumulate, b.baseAddress, act, nil, 0) }
                    fused.withUnsafeMutableBufferPointer { product($0.baseAddress!, ldy, begin, end, accumulate, b.baseAddress, act, residual, ldr) }
                }
                for i in 0..<s.m { for r in begin..<end { separate[i * ldy + r] = residual[i * ldr + r] + separate[i * ldy + r] } }
                let same = zip(separate, fused).allSatisfy { $0.bitPattern == $1.bitPattern }
                XCTAssertTrue(same, "\(s) accumulate \(accumulate) activation \(act)")
            }
        }
    }

    /// An MLP whose first product writes straight into the second's packed x
    /// (`amxChainedLinear`) gives, bit for bit, what the two products give one after the other:
    /// x blocks and hidden widths cut short (padding the second product reads), with and without
    /// biases; shapes the chain does not take (a small x, k beyond one slice) return nil.
    func testAMXChainedLinearEqualsTwoProducts() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        var rng = SplitMix(seed: 45)
        for (m, k, hidden, out) in [(300, 96, 100, 65), (257, 130, 290, 40), (1030, 64, 48, 33), (600, 2048, 64, 300)] {
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() * 2 })
            let w1 = Tensor(shape: [hidden, k], values: (0..<hidden * k).map { _ in rng.next() * 0.3 }).converted(to: .bf16)
            let w2 = Tensor(shape: [out, hidden], values: (0..<out * hidden).map { _ in rng.next() * 0.3 }).converted(to: .bf16)
            let b1 = Tensor(shape: [hidden], values: (0..<hidden).map { _ in rng.next() })
            let b2 = Tensor(shape: [out], values: (0..<out).map { _ in rng.next() })
            for (act, biases) in [(Activation.gelu, true), (.quickGelu, false), (.geluTanh, true)] {
                let first = (weight: w1, bias: biases ? b1 : nil), second = (weight: w2, bias: biases ? b2 : nil)
                let chained = try XCTUnwrap(x.amxChainedLinear(first: first, activation: act, second: second), "\(m) × \(k)")
                let separate = x.mixedLinear(weight: w1, bias: first.bias, activation: act).mixedLinear(weight: w2, bias: second.bias)
                XCTAssertEqual(chained.shape, [m, out])
                XCTAssertEqual(chained.floats().map(\.bitPattern), separate.floats().map(\.bitPattern), "\(m) × \(k) → \(hidden) \(act)")
            }
        }
        let small = Tensor(shape: [100, 64], values: (0..<6400).map { _ in rng.next() })
        let wide = Tensor(shape: [300, 2100], values: (0..<630_000).map { _ in rng.next() })
        let w = Tensor(shape: [32, 64], values: (0..<2048).map { _ in rng.next() }).converted(to: .bf16)
        let w2 = Tensor(shape: [8, 32], values: (0..<256).map { _ in rng.next() }).converted(to: .bf16)
        let wWide = Tensor(shape: [32, 2100], values: (0..<67_200).map { _ in rng.next() }).converted(to: .bf16)
        XCTAssertNil(small.amxChainedLinear(first: (w, nil), activation: .gelu, second: (w2, nil)))
        XCTAssertNil(wide.amxChainedLinear(first: (wWide, nil), activation: .gelu, second: (w2, nil)))
    }

    /// The same for f32 on vidlm's GEMM (`f32ChainedLinear`, the first product writing the
    /// second's packed x): x groups and hidden panels cut short, hidden states wider than one k
    /// slice of the second product (2100: 1024 + 1076; 2600: 1024 + 1024 + 552), a first k of
    /// one long slice (1500), with and without biases and a residual; shapes it does not take
    /// (fewer than 256 x rows, a first k beyond one slice of up to 1536) return nil.
    func testF32ChainedLinearEqualsTwoProducts() throws {
        try requireKernelPath(bf16: false)
        var rng = SplitMix(seed: 46)
        for (m, k, hidden, out) in [(256, 17, 64, 10), (263, 100, 130, 65), (257, 768, 2100, 96), (262, 1024, 48, 33),
                                    (258, 1500, 2600, 40)] {
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() * 2 })
            let w1 = Tensor(shape: [hidden, k], values: (0..<hidden * k).map { _ in rng.next() * 0.3 })
            let w2 = Tensor(shape: [out, hidden], values: (0..<out * hidden).map { _ in rng.next() * 0.3 })
            let b1 = Tensor(shape: [hidden], values: (0..<hidden).map { _ in rng.next() })
            let b2 = Tensor(shape: [out], values: (0..<out).map { _ in rng.next() })
            let residual = Tensor(shape: [m, out], values: (0..<m * out).map { _ in rng.next() * 3 })
            for (act, biases) in [(Activation.gelu, true), (.quickGelu, false), (.silu, true)] {
                let first = (weight: w1, bias: biases ? b1 : nil), second = (weight: w2, bias: biases ? b2 : nil)
                let hiddenState = x.mixedLinear(weight: w1, bias: first.bias, activation: act)
                let chained = try XCTUnwrap(x.f32ChainedLinear(first: first, activation: act, second: second), "\(m) × \(k)")
                let separate = hiddenState.mixedLinear(weight: w2, bias: second.bias)
                XCTAssertEqual(chained.shape, [m, out])
                XCTAssertEqual(chained.floats().map(\.bitPattern), separate.floats().map(\.bitPattern), "\(m) × \(k) → \(hidden) \(act)")
                let added = try XCTUnwrap(x.f32ChainedLinear(first: first, activation: act, second: second, adding: residual))
                XCTAssertEqual(added.floats().map(\.bitPattern), (residual + separate).floats().map(\.bitPattern), "\(m) × \(k) + residual")
            }
        }
        let w = Tensor(shape: [64, 64], values: (0..<4096).map { _ in rng.next() }), w2 = Tensor(shape: [8, 64], values: (0..<512).map { _ in rng.next() })
        XCTAssertNil(Tensor(shape: [200, 64], values: (0..<12_800).map { _ in rng.next() }).f32ChainedLinear(first: (w, nil), activation: .gelu, second: (w2, nil)))
        let wWide = Tensor(shape: [64, 1600], values: (0..<102_400).map { _ in rng.next() })
        XCTAssertNil(Tensor(shape: [256, 1600], values: (0..<409_600).map { _ in rng.next() }).f32ChainedLinear(first: (wWide, nil), activation: .gelu, second: (w2, nil)))
        XCTAssertNil(Tensor(shape: [40, 64], values: (0..<2560).map { _ in rng.next() }).f32ChainedLinear(first: (w.converted(to: .bf16), nil), activation: .gelu, second: (w2, nil)))
    }

    /// The same for bf16 on the AVX-512 BF16 GEMM (`bf16ChainedLinear`, CPUs without AMX): x
    /// groups and hidden panels cut short, odd hidden widths (a pair half padding), hidden states
    /// in one slice of the second product (2100) and wider (3100: 2048 + 1052), a first k of one
    /// long slice (3000), with and without biases and a residual; shapes it does not take (fewer
    /// than 256 x rows, a first k beyond one slice of up to 3072, f32 weights) return nil.
    func testBF16ChainedLinearEqualsTwoProducts() throws {
        try requireKernelPath(bf16: true)
        if vidlm_amx_bf16_available() == 1 { throw XCTSkip("on AMX the tile chain (amxChainedLinear) runs instead") }
        var rng = SplitMix(seed: 47)
        for (m, k, hidden, out) in [(256, 17, 64, 10), (263, 100, 131, 65), (300, 768, 2100, 96), (257, 2048, 48, 33),
                                    (260, 3000, 3100, 40)] {
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() * 2 })
            let w1 = Tensor(shape: [hidden, k], values: (0..<hidden * k).map { _ in rng.next() * 0.3 }).converted(to: .bf16)
            let w2 = Tensor(shape: [out, hidden], values: (0..<out * hidden).map { _ in rng.next() * 0.3 }).converted(to: .bf16)
            let b1 = Tensor(shape: [hidden], values: (0..<hidden).map { _ in rng.next() })
            let b2 = Tensor(shape: [out], values: (0..<out).map { _ in rng.next() })
            let residual = Tensor(shape: [m, out], values: (0..<m * out).map { _ in rng.next() * 3 })
            for (act, biases) in [(Activation.gelu, true), (.quickGelu, false), (.geluTanh, true)] {
                let first = (weight: w1, bias: biases ? b1 : nil), second = (weight: w2, bias: biases ? b2 : nil)
                let hiddenState = x.mixedLinear(weight: w1, bias: first.bias, activation: act)
                let chained = try XCTUnwrap(x.bf16ChainedLinear(first: first, activation: act, second: second), "\(m) × \(k)")
                let separate = hiddenState.mixedLinear(weight: w2, bias: second.bias)
                XCTAssertEqual(chained.shape, [m, out])
                XCTAssertEqual(chained.floats().map(\.bitPattern), separate.floats().map(\.bitPattern), "\(m) × \(k) → \(hidden) \(act)")
                let added = try XCTUnwrap(x.bf16ChainedLinear(first: first, activation: act, second: second, adding: residual))
                XCTAssertEqual(added.floats().map(\.bitPattern), (residual + separate).floats().map(\.bitPattern), "\(m) × \(k) + residual")
            }
        }
        let w = Tensor(shape: [64, 64], values: (0..<4096).map { _ in rng.next() }), w2 = Tensor(shape: [8, 64], values: (0..<512).map { _ in rng.next() })
        let (wb, w2b) = (w.converted(to: .bf16), w2.converted(to: .bf16))
        XCTAssertNil(Tensor(shape: [200, 64], values: (0..<12_800).map { _ in rng.next() }).bf16ChainedLinear(first: (wb, nil), activation: .gelu, second: (w2b, nil)))
        let wWide = Tensor(shape: [64, 3100], values: (0..<198_400).map { _ in rng.next() }).converted(to: .bf16)
        XCTAssertNil(Tensor(shape: [256, 3100], values: (0..<793_600).map { _ in rng.next() }).bf16ChainedLinear(first: (wWide, nil), activation: .gelu, second: (w2b, nil)))
        XCTAssertNil(Tensor(shape: [256, 64], values: (0..<16_384).map { _ in rng.next() }).bf16ChainedLinear(first: (w, nil), activation: .gelu, second: (w2, nil)))
    }

    /// The same for the AVX-512 BF16 GEMM (`bf16GatedChainedLinear`, CPUs without AMX): hidden
    /// widths cut short and odd (a pair half padding), a hidden state wider than one k slice of
    /// the down projection (2100: one slice of up to 3072; 3200: 2048 + 1152), with and without
    /// biases and a residual; fewer than 256 rows, a k beyond one slice (3072) and mismatched
    /// gate/up shapes return nil.
    func testBF16GatedChainEqualsGatedMLP() throws {
        try requireKernelPath(bf16: true)
        if vidlm_amx_bf16_available() == 1 { throw XCTSkip("on AMX the tile chain (amxGatedChainedLinear) runs instead") }
        var rng = SplitMix(seed: 49)
        for (m, k, hidden, out) in [(300, 96, 100, 65), (257, 130, 291, 40), (256, 2048, 48, 300), (263, 64, 2100, 33),
                                    (258, 2600, 3200, 20)] {
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() * 2 })
            func weight(_ r: Int, _ c: Int) -> Tensor {
                Tensor(shape: [r, c], values: (0..<r * c).map { _ in rng.next() * 0.3 }).converted(to: .bf16)
            }
            func bias(_ n: Int) -> Tensor { Tensor(shape: [n], values: (0..<n).map { _ in rng.next() }) }
            let (g, u, d) = (weight(hidden, k), weight(hidden, k), weight(out, hidden))
            let residual = Tensor(shape: [m, out], values: (0..<m * out).map { _ in rng.next() * 3 })
            for (act, biases) in [(Activation.silu, false), (.gelu, true)] {
                let gate = (weight: g, bias: biases ? bias(hidden) : nil), up = (weight: u, bias: biases ? bias(hidden) : nil)
                let down = (weight: d, bias: biases ? bias(out) : nil)
                let chained = try XCTUnwrap(x.bf16GatedChainedLinear(gate: gate, up: up, activation: act, down: down), "\(m) × \(k)")
                let separate = x.mixedLinear(parts: [gate, up]).gatedActivation(act).mixedLinear(weight: d, bias: down.bias)
                XCTAssertEqual(chained.shape, [m, out])
                XCTAssertEqual(chained.floats().map(\.bitPattern), separate.floats().map(\.bitPattern), "\(m) × \(k) → \(hidden) \(act)")
                let added = try XCTUnwrap(x.bf16GatedChainedLinear(gate: gate, up: up, activation: act, down: down, adding: residual))
                XCTAssertEqual(added.floats().map(\.bitPattern), (residual + separate).floats().map(\.bitPattern), "\(m) × \(k) + residual")
            }
        }
        let w = Tensor(shape: [32, 64], values: (0..<2048).map { _ in rng.next() }).converted(to: .bf16)
        let d = Tensor(shape: [8, 32], values: (0..<256).map { _ in rng.next() }).converted(to: .bf16)
        let few = Tensor(shape: [200, 64], values: (0..<12_800).map { _ in rng.next() })
        XCTAssertNil(few.bf16GatedChainedLinear(gate: (w, nil), up: (w, nil), activation: .silu, down: (d, nil)))
        let many = Tensor(shape: [256, 64], values: (0..<16_384).map { _ in rng.next() })
        let wOther = Tensor(shape: [33, 64], values: (0..<2112).map { _ in rng.next() }).converted(to: .bf16)
        XCTAssertNil(many.bf16GatedChainedLinear(gate: (w, nil), up: (wOther, nil), activation: .silu, down: (d, nil)))
        let wide = Tensor(shape: [256, 3100], values: (0..<793_600).map { _ in rng.next() })
        let wWide = Tensor(shape: [32, 3100], values: (0..<99_200).map { _ in rng.next() }).converted(to: .bf16)
        XCTAssertNil(wide.bf16GatedChainedLinear(gate: (wWide, nil), up: (wWide, nil), activation: .silu, down: (d, nil)))
    }

    /// A gated MLP whose hidden state is written straight into the down product's packed x
    /// (`amxGatedChainedLinear`) gives, bit for bit, the gate and up products side by side, then
    /// `gatedActivation` and the down product: hidden widths cut short (one 16-column tile, odd
    /// units), x blocks cut short, with and without biases.
    func testAMXGatedChainEqualsGatedMLP() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        var rng = SplitMix(seed: 47)
        for (m, k, hidden, out) in [(300, 96, 100, 65), (257, 130, 290, 40), (600, 2048, 48, 300), (1030, 64, 200, 33)] {
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() * 2 })
            func weight(_ r: Int, _ c: Int) -> Tensor {
                Tensor(shape: [r, c], values: (0..<r * c).map { _ in rng.next() * 0.3 }).converted(to: .bf16)
            }
            func bias(_ n: Int) -> Tensor { Tensor(shape: [n], values: (0..<n).map { _ in rng.next() }) }
            let (g, u, d) = (weight(hidden, k), weight(hidden, k), weight(out, hidden))
            for (act, biases) in [(Activation.silu, false), (.gelu, true)] {
                let gate = (weight: g, bias: biases ? bias(hidden) : nil), up = (weight: u, bias: biases ? bias(hidden) : nil)
                let down = (weight: d, bias: biases ? bias(out) : nil)
                let chained = try XCTUnwrap(x.amxGatedChainedLinear(gate: gate, up: up, activation: act, down: down), "\(m) × \(k)")
                let separate = x.mixedLinear(parts: [gate, up]).gatedActivation(act).mixedLinear(weight: d, bias: down.bias)
                XCTAssertEqual(chained.shape, [m, out])
                XCTAssertEqual(chained.floats().map(\.bitPattern), separate.floats().map(\.bitPattern), "\(m) × \(k) → \(hidden) \(act)")
            }
        }
        let few = Tensor(shape: [100, 64], values: (0..<6400).map { _ in rng.next() })
        let w = Tensor(shape: [32, 64], values: (0..<2048).map { _ in rng.next() }).converted(to: .bf16)
        let d = Tensor(shape: [8, 32], values: (0..<256).map { _ in rng.next() }).converted(to: .bf16)
        XCTAssertNil(few.amxGatedChainedLinear(gate: (w, nil), up: (w, nil), activation: .silu, down: (d, nil)))
    }

    /// A layer norm packed for AMX products (`layerNormPackedForAMX`) holds, bit for bit, what
    /// `vidlm_amx_pack_x` packs from `layerNorm`'s f32 output: widths not a multiple of 32, x
    /// blocks cut short, with and without weight and bias; its products equal `mixedLinear`'s.
    func testLayerNormPackedForAMXEqualsPackedLayerNorm() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        var rng = SplitMix(seed: 46)
        for (m, d) in [(300, 96), (257, 50), (1030, 64), (600, 770)] {
            let x = Tensor(shape: [m, d], values: (0..<m * d).map { _ in rng.next() * 3 + 0.5 })
            let w = Tensor(shape: [d], values: (0..<d).map { _ in 1 + rng.next() / 2 })
            let b = Tensor(shape: [d], values: (0..<d).map { _ in rng.next() })
            for affine in [true, false] {
                let normed = x.layerNorm(weight: affine ? w : nil, bias: affine ? b : nil, eps: 1e-5)
                let packed = try XCTUnwrap(x.layerNormPackedForAMX(weight: affine ? w : nil, bias: affine ? b : nil, eps: 1e-5))
                let count = vidlm_amx_packed_x_count(m, d)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: count * 2, alignment: 64)
                defer { buffer.deallocate() }
                let aligned = buffer.initializeMemory(as: UInt16.self, repeating: 0xFFFF, count: count)
                normed.withFloats { vidlm_amx_pack_x($0.baseAddress!, d, m, d, 0, (m + 31) / 32 * 32, aligned) }
                let expected = Array(UnsafeBufferPointer(start: aligned, count: count))
                let got = Array(UnsafeBufferPointer(start: packed.pointer, count: count))
                XCTAssertEqual(got, expected, "\(m) × \(d) affine \(affine)")
                let weight = Tensor(shape: [40, d], values: (0..<40 * d).map { _ in rng.next() }).converted(to: .bf16)
                let bias = Tensor(shape: [40], values: (0..<40).map { _ in rng.next() })
                XCTAssertEqual(packed.linear(parts: [(weight, bias), (weight, nil)]).floats().map(\.bitPattern),
                               normed.mixedLinear(parts: [(weight, bias), (weight, nil)]).floats().map(\.bitPattern),
                               "\(m) × \(d) product")
            }
        }
        XCTAssertNil(Tensor(shape: [100, 64], values: [Float](repeating: 1, count: 6400)).layerNormPackedForAMX(weight: nil, bias: nil, eps: 1e-5))
    }

    /// `mixedLinear(weight:bias:activation:)` equals `mixedLinear(weight:bias:).activated(_)` bit
    /// for bit on whatever path this CPU takes (fused on AMX, a separate pass elsewhere).
    func testLinearWithActivationEqualsActivatedLinear() throws {
        var rng = SplitMix(seed: 44)
        for (m, k, n) in [(1, 40, 30), (9, 70, 53), (64, 130, 100), (300, 96, 65)] {
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() })
            let b = Tensor(shape: [n], values: (0..<n).map { _ in rng.next() })
            for dtype in [DType.bf16, .f32] {
                let w = Tensor(shape: [n, k], values: (0..<n * k).map { _ in rng.next() }).converted(to: dtype)
                let fused = x.mixedLinear(weight: w, bias: b, activation: .geluTanh).floats()
                let separate = x.mixedLinear(weight: w, bias: b).activated(.geluTanh).floats()
                XCTAssertEqual(fused.map(\.bitPattern), separate.map(\.bitPattern), "m \(m) \(dtype)")
            }
        }
    }

    /// Several parts in one `mixedLinear(parts:)` (q, k and v: one packed x shared by the parts on
    /// vidlm's GEMMs) give, bit for bit, each part's own product side by side: f32 and bf16, mixed
    /// dtypes, with and without biases, on both sides of the matrix-vector limit and of the bf16
    /// outer-product kernel's 256 rows.
    func testPartsShareOnePackedXBitForBit() throws {
        var rng = SplitMix(seed: 48)
        for m in [5, 40, 300] {
            let k = 70
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() })
            for dtypes in [[DType.bf16, .bf16, .bf16], [.f32, .f32, .f32], [.bf16, .f32, .bf16]] {
                let parts: [(weight: Tensor, bias: Tensor?)] = zip(dtypes, [33, 64, 17]).enumerated().map { i, pair in
                    let (dtype, n) = pair
                    let w = Tensor(shape: [n, k], values: (0..<n * k).map { _ in rng.next() }).converted(to: dtype)
                    return (w, i == 1 ? nil : Tensor(shape: [n], values: (0..<n).map { _ in rng.next() }))
                }
                let fused = x.mixedLinear(parts: parts).floats()
                let separate = parts.map { x.mixedLinear(weight: $0.weight, bias: $0.bias).floats() }
                var expected = [Float]()
                for i in 0..<m { for s in separate { let n = s.count / m; expected += s[i * n ..< (i + 1) * n] } }
                XCTAssertEqual(fused.map(\.bitPattern), expected.map(\.bitPattern), "m \(m) \(dtypes)")
            }
        }
    }

    /// `mixedLinear(weight:bias:adding:)` gives, bit for bit, `residual + mixedLinear(weight:bias:)`
    /// in every dtype and on both sides of the matrix-vector and GEMM row limits (f32 weights from
    /// the GEMM's rows add the residual as the product stores; other cases add it after), with a
    /// leading batch dimension and without a bias.
    func testLinearAddingEqualsResidualPlusLinear() throws {
        var rng = SplitMix(seed: 45)
        for (shape, n, hasBias) in [([1, 40], 30, true), ([9, 70], 53, false), ([2, 32, 130], 100, true), ([300, 96], 65, true)] {
            let k = shape.last!, m = shape.dropLast().reduce(1, *)
            let x = Tensor(shape: shape, values: (0..<m * k).map { _ in rng.next() })
            let residual = Tensor(shape: Array(shape.dropLast()) + [n], values: (0..<m * n).map { _ in rng.next() * 3 })
            let b = hasBias ? Tensor(shape: [n], values: (0..<n).map { _ in rng.next() }) : nil
            for dtype in [DType.bf16, .f32] {
                let w = Tensor(shape: [n, k], values: (0..<n * k).map { _ in rng.next() }).converted(to: dtype)
                let fused = x.mixedLinear(weight: w, bias: b, adding: residual)
                let separate = residual + x.mixedLinear(weight: w, bias: b)
                XCTAssertEqual(fused.shape, separate.shape)
                XCTAssertEqual(fused.floats().map(\.bitPattern), separate.floats().map(\.bitPattern), "\(shape) \(dtype)")
            }
        }
    }

    private enum Kernel { case f32, bf16, amx }

    private func requireAVX512(bf16: Bool) throws {
        if vidlm_avx512_available() != 1 || (bf16 && vidlm_avx512bf16_available() != 1) {
            throw XCTSkip("this CPU lacks AVX-512\(bf16 ? " BF16" : "F"); OpenBLAS / the widening path runs instead")
        }
    }

    /// For tests that reach the kernels through `Tensor`'s products, which take them only when the
    /// process does (`VIDLM_PORTABLE_KERNELS=1` runs the portable paths on any CPU).
    private func requireKernelPath(bf16: Bool) throws {
        try requireAVX512(bf16: bf16)
        if !(bf16 ? HalfPrecisionKernels.useAVX512BF16 : HalfPrecisionKernels.useAVX512) {
            throw XCTSkip("VIDLM_PORTABLE_KERNELS=1: the products run the portable paths")
        }
    }

    func testF32GemmMatchesReference() throws {
        try requireAVX512(bf16: false)
        for s in shapes {
            for accumulate in [false, true] { try check(s, kernel: .f32, accumulate: accumulate) }
        }
    }

    func testBF16GemmMatchesReference() throws {
        try requireAVX512(bf16: true)
        for s in shapes {
            for accumulate in [false, true] { try check(s, kernel: .bf16, accumulate: accumulate) }
        }
    }

    /// The f32 matrix-vector kernel (decoding): passes of eight weight rows and the rows left
    /// over, k around its 16-float blocks, up to 8 x rows, a row range starting inside a pass,
    /// written over or accumulated into y.
    func testF32MatvecMatchesReference() throws {
        try requireAVX512(bf16: false)
        for (m, k, n) in [(1, 1, 1), (1, 15, 9), (2, 16, 8), (3, 17, 17), (8, 100, 23), (5, 2049, 40), (1, 64, 64)] {
            var rng = SplitMix(seed: UInt64(m * 131 + k * 17 + n))
            let x = (0..<m * k).map { _ in rng.next() }, w = (0..<n * k).map { _ in rng.next() }
            let ldy = n + 2
            let initial = (0..<m * ldy).map { _ in rng.next() }
            let begin = n > 3 ? 3 : 0
            for accumulate in [false, true] {
                var y = initial
                vidlm_f32_matvec_avx512(w, k, begin, n, x, k, m, &y, ldy, accumulate ? 1 : 0)
                for i in 0..<m {
                    for r in 0..<ldy {
                        guard r >= begin && r < n else {
                            XCTAssertEqual(y[i * ldy + r], initial[i * ldy + r], "\(m)×\(k)×\(n): wrote outside the rows")
                            continue
                        }
                        var e = accumulate ? Double(initial[i * ldy + r]) : 0
                        for t in 0..<k { e += Double(x[i * k + t]) * Double(w[r * k + t]) }
                        XCTAssertEqual(Double(y[i * ldy + r]), e, accuracy: 2e-5 * Double(k).squareRoot() + 1e-5,
                                       "\(m)×\(k)×\(n) accumulate \(accumulate) row \(i) out \(r)")
                    }
                }
            }
        }
    }

    /// The Linear layer's f32 paths (matrix-vector kernel up to 8 rows, own GEMM from 9; OpenBLAS
    /// without AVX-512) against the reference, one weight and three fused ones with biases.
    func testLinearF32AcrossTheGemmThreshold() throws {
        var rng = SplitMix(seed: 21)
        for m in [1, 8, 9, 15, 16, 40] {
            let k = 70
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() })
            let ws = [53, 8, 19].map { n in Tensor(shape: [n, k], values: (0..<n * k).map { _ in rng.next() }) }
            let bs = [53, 8, 19].map { n in Tensor(shape: [n], values: (0..<n).map { _ in rng.next() }) }
            let y = x.mixedLinear(parts: [(ws[0], bs[0]), (ws[1], nil), (ws[2], bs[2])]).floats()
            let xs = x.floats(), total = 53 + 8 + 19
            var column = 0
            for (p, w) in ws.enumerated() {
                let n = w.shape[0], wv = w.floats(), bv = p == 1 ? [Float](repeating: 0, count: n) : bs[p].floats()
                for i in 0..<m {
                    for r in 0..<n {
                        var e = Double(bv[r])
                        for t in 0..<k { e += Double(xs[i * k + t]) * Double(wv[r * k + t]) }
                        XCTAssertEqual(Double(y[i * total + column + r]), e, accuracy: 1e-4, "m \(m) part \(p) row \(i) out \(r)")
                    }
                }
                column += n
            }
        }
        for m in [1, 15, 16, 40] {
            let k = 70, n = 53
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() })
            let w = Tensor(shape: [n, k], values: (0..<n * k).map { _ in rng.next() })
            let b = Tensor(shape: [n], values: (0..<n).map { _ in rng.next() })
            let y = x.mixedLinear(weight: w, bias: b).floats()
            let xs = x.floats(), ws = w.floats(), bs = b.floats()
            for i in 0..<m {
                for r in 0..<n {
                    var e = Double(bs[r])
                    for t in 0..<k { e += Double(xs[i * k + t]) * Double(ws[r * k + t]) }
                    XCTAssertEqual(Double(y[i * n + r]), e, accuracy: 1e-4, "m \(m) row \(i) out \(r)")
                }
            }
        }
    }

    /// The Linear layer with f16 weights: the matrix-vector kernel up to 8 rows, widened blocks
    /// through the f32 GEMM (or OpenBLAS) above, biases added; against the widened weights.
    func testLinearF16AcrossTheMatvecLimit() throws {
        var rng = SplitMix(seed: 33)
        for m in [1, 8, 9, 40] {
            let k = 77, n = 45
            let x = Tensor(shape: [m, k], values: (0..<m * k).map { _ in rng.next() })
            let w = Tensor(shape: [n, k], values: (0..<n * k).map { _ in rng.next() }).converted(to: .f16)
            let b = Tensor(shape: [n], values: (0..<n).map { _ in rng.next() })
            let y = x.mixedLinear(weight: w, bias: b).floats()
            let xs = x.floats(), ws = w.toF32().floats(), bs = b.floats()
            for i in 0..<m {
                for r in 0..<n {
                    var e = Double(bs[r])
                    for t in 0..<k { e += Double(xs[i * k + t]) * Double(ws[r * k + t]) }
                    XCTAssertEqual(Double(y[i * n + r]), e, accuracy: 1e-4, "m \(m) row \(i) out \(r)")
                }
            }
        }
    }

    private func check(_ s: (m: Int, k: Int, n: Int), kernel: Kernel, accumulate: Bool) throws {
        let bf16 = kernel != .f32
        var rng = SplitMix(seed: UInt64(s.m * 7919 + s.k * 31 + s.n))
        let x = (0..<s.m * s.k).map { _ in rng.next() }
        let wf = (0..<s.n * s.k).map { _ in rng.next() }
        let ldy = s.n + 3
        let initial = (0..<s.m * ldy).map { _ in rng.next() }
        let bias = (0..<s.n).map { _ in rng.next() }
        var y = initial
        // Rows [begin, end) only: a range starting inside a weight block.
        let begin = s.n > 7 ? 7 : 0, end = s.n
        let round: (Float) -> Float = bf16 ? { Self.bf16($0) } : { $0 }
        if kernel == .amx {
            let w = wf.map { Self.bf16Bits($0) }
            let packedCount = vidlm_amx_packed_x_count(s.m, s.k)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 2, alignment: 64)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: vidlm_amx_gemm_scratch_count() * 2, alignment: 64)
            defer { packed.deallocate(); scratch.deallocate() }
            let xp = packed.bindMemory(to: UInt16.self, capacity: packedCount)
            // Packed in two row ranges, as two workers would.
            let rows = (s.m + 31) / 32 * 32, half = rows / 64 * 32
            vidlm_amx_pack_x(x, s.k, s.m, s.k, 0, half, xp)
            vidlm_amx_pack_x(x, s.k, s.m, s.k, half, rows, xp)
            vidlm_amx_bf16_gemm(xp, s.m, w, s.k, begin, end, &y, ldy, accumulate ? 1 : 0, bias, -1,
                                scratch.bindMemory(to: UInt16.self, capacity: vidlm_amx_gemm_scratch_count()))
        } else if bf16 {
            let w = wf.map { Self.bf16Bits($0) }
            let packedCount = vidlm_bf16_packed_x_count(s.m, s.k)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 2, alignment: 64)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: vidlm_bf16_gemm_scratch_count() * 2, alignment: 64)
            defer { packed.deallocate(); scratch.deallocate() }
            let xp = packed.bindMemory(to: UInt16.self, capacity: packedCount)
            // Packed in two row ranges, as two workers would.
            let block = vidlm_bf16_pack_x_block_rows(s.m), half = (s.m / block / 2) * block
            vidlm_bf16_pack_x_avx512bf16(x, s.k, s.m, s.k, 0, half, xp)
            vidlm_bf16_pack_x_avx512bf16(x, s.k, s.m, s.k, half, s.m, xp)
            vidlm_bf16_gemm_avx512bf16(xp, s.m, w, s.k, begin, end, &y, ldy, accumulate ? 1 : 0, bias, -1,
                                       scratch.bindMemory(to: UInt16.self, capacity: vidlm_bf16_gemm_scratch_count()))
        } else {
            let packedCount = vidlm_f32_packed_x_count(s.m, s.k)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 4, alignment: 64)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: vidlm_f32_gemm_scratch_count() * 4, alignment: 64)
            defer { packed.deallocate(); scratch.deallocate() }
            let xp = packed.bindMemory(to: Float.self, capacity: packedCount)
            // Packed in two row ranges, as two workers would.
            let block = vidlm_f32_pack_x_block_rows(s.m), half = (s.m / block / 2) * block
            vidlm_f32_pack_x_avx512(x, s.k, s.m, s.k, 0, half, xp)
            vidlm_f32_pack_x_avx512(x, s.k, s.m, s.k, half, s.m, xp)
            vidlm_f32_gemm_avx512(xp, s.m, wf, s.k, begin, end, &y, ldy, accumulate ? 1 : 0, bias, -1,
                                  scratch.bindMemory(to: Float.self, capacity: vidlm_f32_gemm_scratch_count()))
        }
        for i in 0..<s.m {
            for r in 0..<ldy {
                let got = y[i * ldy + r]
                guard r >= begin && r < end else {
                    XCTAssertEqual(got, initial[i * ldy + r], "\(s) \(kernel): wrote outside rows \(begin)..<\(end)")
                    continue
                }
                var e = (accumulate ? Double(initial[i * ldy + r]) : 0) + Double(bias[r])
                for t in 0..<s.k { e += Double(round(x[i * s.k + t])) * Double(round(wf[r * s.k + t])) }
                XCTAssertEqual(Double(got), e, accuracy: 2e-5 * Double(s.k).squareRoot() + 1e-5,
                               "\(s) \(kernel) accumulate \(accumulate) row \(i) out \(r)")
            }
        }
    }

    private static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    private static func bf16(_ x: Float) -> Float { Float(bitPattern: UInt32(bf16Bits(x)) << 16) }
}

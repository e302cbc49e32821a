import Foundation
import VidLMTestSupport
import XCTest
@testable import VidLMTensor

/// q4_k: the blocks equal the ones llama.cpp's reference quantizer writes (the layout and
/// quantizer proof), every kernel path equals the scalar reference bit for bit on both layouts,
/// and the safetensors form round-trips and rejects corrupted tables.
final class KQuantizationTests: XCTestCase {
    static let fixture = TestFixtures.tests.appendingPathComponent("Fixtures/quant/ggml_q4_k.safetensors")

    func testBlocksAreByteIdenticalToGGMLsQuantizer() throws {
        let file = try SafetensorsFile(url: Self.fixture)
        for name in ["edges", "mixed"] {
            let input = try file.tensor("\(name).input")
            let expected = try file.tensor("\(name).blocks")
            XCTAssertEqual(expected.shape, [input.shape[0], input.shape[1] / 256, 144], name)
            let ours = input.quantized(to: .q4_k)
            XCTAssertEqual(ours.shape, input.shape)
            let a = Array(ours.rawBytes), e = Array(expected.rawBytes)
            XCTAssertEqual(a.count, e.count, name)
            if let first = zip(a, e).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                let differing = zip(a, e).filter { $0 != $1 }.count
                XCTFail("\(name): \(differing) bytes differ, the first at \(first) (super-block \(first / 144), byte \(first % 144))")
            }
            // Widening gives the gguf package's values exactly.
            XCTAssertEqual(ours.toF32().floats().map(\.bitPattern), try file.tensor("\(name).dequantized").floats().map(\.bitPattern), name)
        }
    }

    func testTheFitIsCloseAndZeroAndConstantBlocksAreExact() {
        var x = QuantizationTests.values(4 * 256, seed: 11, scale: 0.05)
        for t in 0..<256 { x[t] = 0 }             // an all-zero super-block
        for t in 256..<288 { x[t] = 0.25 }        // a constant sub-block
        let w = Tensor(shape: [4, 256], values: x).quantized(to: .q4_k)
        let back = w.toF32().floats()
        XCTAssertEqual(Array(back[0..<256]), [Float](repeating: 0, count: 256))
        var worst: Float = 0
        for t in 512..<1024 { worst = max(worst, abs(back[t] - x[t])) }
        // 4 bits over a range of 0.1: steps of 0.0067; half a step plus the scale rounding.
        XCTAssertLessThan(worst, 0.006)
    }

    /// x rows quantized and the reference dot for each (row, x row).
    static func expected(_ w: Tensor, rows: Int, k: Int, x: [Float], m: Int) -> [Float] {
        let base = w.storage.base + w.byteOffset, rowBytes = DType.q4_k.byteCount(elements: k)
        var out = [Float](repeating: 0, count: m * rows)
        for i in 0..<m {
            let r = QuantizedReference.quantizeRow(Array(x[(i * k)..<(i * k + k)]))
            for j in 0..<rows {
                out[i * rows + j] = QuantizedReference.kDot(weightRow: base + j * rowBytes, k: k, values: r.values, scales: r.scales)
            }
        }
        return out
    }

    func testEveryPathOnEitherLayoutEqualsTheScalarReferenceBitForBit() throws {
        let paths = QuantizedKernels.Path.allCases.filter(\.isAvailable)
        XCTAssertTrue(paths.contains(.portable))
        // k: one super-block and several; m: decoding, the 8/4/2/1-row tails, prefill sizes;
        // rows: a partial panel (row layout) and whole panels (K16); ranges cut panels anywhere.
        for k in [256, 768, 2048] {
            for m in [1, 2, 3, 5, 8, 13, 17] {
                for rows in [37, 48] {
                    var x = QuantizationTests.values(m * k, seed: UInt64(k + 7 * m + rows), scale: 2)
                    x[0] = 0
                    for t in 0..<32 { x[(m - 1) * k + 32 + t] = 0 }  // a whole zero x block
                    let w = Tensor(shape: [rows, k], values: QuantizationTests.values(rows * k, seed: UInt64(k * 5 + m), scale: 0.1))
                        .quantized(to: .q4_k)
                    let wi = w.interleavedForKernels()
                    XCTAssertEqual(wi.dtype, rows % 16 == 0 ? .q4_kr16 : .q4_k)
                    if rows == 48 && m == 1 {
                        XCTAssertEqual(wi.toF32().floats().map(\.bitPattern), w.toF32().floats().map(\.bitPattern), "k=\(k): widened")
                    }
                    let expected = Self.expected(w, rows: rows, k: k, x: x, m: m)
                    let base = wi.storage.base + wi.byteOffset
                    for path in paths {
                        let xq = x.withUnsafeBufferPointer { QuantizedKernels.QuantizedRows($0.baseAddress!, m: m, k: k, path: path) }
                        var y = [Float](repeating: .nan, count: m * rows)
                        y.withUnsafeMutableBufferPointer { yb in
                            for range in [0..<5, 5..<21, 21..<32, 32..<rows] {
                                QuantizedKernels.matmul(weight: base, format: wi.dtype, k: k, rows: range, x: xq, y: yb.baseAddress!, ldy: rows, path: path)
                            }
                        }
                        XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), "k=\(k) m=\(m) rows=\(rows) \(path)")
                    }
                }
            }
        }
    }

    func testQuantizedLinearIsCloseToF32() {
        let k = 512, out = 48, m = 3
        let w = Tensor(shape: [out, k], values: QuantizationTests.values(out * k, seed: 7, scale: 0.1))
        let b = Tensor(shape: [out], values: QuantizationTests.values(out, seed: 8))
        let x = Tensor(shape: [m, k], values: QuantizationTests.values(m * k, seed: 9))
        let reference = x.mixedLinear(weight: w, bias: b)
        for weight in [w.quantized(to: .q4_k), w.quantized(to: .q4_k).interleavedForKernels()] {
            assertClose(x.mixedLinear(weight: weight, bias: b), reference, tolerance: 0.1, "\(weight.dtype)")
        }
        // q4_k is closer to f32 than q4_0 on the same weights (what it is for).
        func error(_ format: DType) -> Float {
            let y = x.mixedLinear(weight: w.quantized(to: format), bias: b).floats(), r = reference.floats()
            return zip(y, r).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
        XCTAssertLessThan(error(.q4_k), error(.q4_0))
    }

    func testSafetensorsRoundTripAndCorruptedTables() throws {
        let w = Tensor(shape: [3, 512], values: QuantizationTests.values(1536, seed: 5, scale: 0.2)).quantized(to: .q4_k)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-q4k-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write(["l.weight": w], to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata?[QuantizedSafetensors.metadataKey], "q4_k")
        let back = try file.tensor("l.weight")
        XCTAssertEqual(back.dtype, .q4_k)
        XCTAssertEqual(back.shape, [3, 512])
        XCTAssertEqual(Array(back.rawBytes), Array(w.rawBytes))
        XCTAssertTrue(try QuantizationTests.header(url).contains("\"l.weight\":{\"dtype\":\"U8\",\"shape\":[3,2,144]"))
        // A table of q4_0-sized blocks declared q4_k.
        let table = Tensor(shape: [2, 1, 18], dtype: .u8, storage: TensorStorage(byteCount: 36))
        let bad = dir.appendingPathComponent("bad.safetensors")
        try SafetensorsWriter.write(["l.weight": table], metadata: [QuantizedSafetensors.metadataKey: "q4_k"], to: bad)
        XCTAssertThrowsError(try SafetensorsFile(url: bad)) { error in
            XCTAssertTrue("\(error)".contains("corrupted q4_k block table"), "\(error)")
        }
    }
}

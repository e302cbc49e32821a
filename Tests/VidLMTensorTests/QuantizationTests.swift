import Foundation
import VidLMTensor
import VidLMTestSupport
import XCTest

/// q8_0 / q4_0: the blocks equal the `gguf` package's (the layout proof), every kernel path
/// equals the scalar reference bit for bit, and the safetensors form round-trips and rejects
/// corrupted tables.
final class QuantizationTests: XCTestCase {
    static let fixture = TestFixtures.tests.appendingPathComponent("Fixtures/quant/gguf_blocks.safetensors")

    func testBlocksAreByteIdenticalToTheGGUFQuantizer() throws {
        let file = try SafetensorsFile(url: Self.fixture)
        let input = try file.tensor("input")
        for format in [DType.q8_0, .q4_0] {
            let name = BlockQuantization.name(of: format)
            let expected = try file.tensor("\(name).blocks")
            XCTAssertEqual(expected.shape, [input.shape[0], input.shape[1] / 32, format.byteSize], name)
            let ours = input.quantized(to: format)
            XCTAssertEqual(ours.byteCount, expected.byteCount, name)
            let same = Array(ours.rawBytes) == Array(expected.rawBytes)
            if !same {
                let a = Array(ours.rawBytes), e = Array(expected.rawBytes)
                let first = zip(a, e).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                XCTFail("\(name): first differing byte at \(first) (block \(first / format.byteSize))")
            }
            // Dequantizing gives the package's values exactly.
            XCTAssertEqual(ours.toF32().floats(), try file.tensor("\(name).dequantized").floats(), name)
        }
    }

    /// Deterministic values in [-scale, scale) (a small LCG, so the test needs no seed API).
    static func values(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    func testEveryPathEqualsTheScalarReferenceBitForBit() throws {
        let paths = QuantizedKernels.Path.allCases.filter(\.isAvailable)
        XCTAssertTrue(paths.contains(.portable))
        // k: one block, an odd number of blocks (the vector paths' half step), 17 blocks (one
        // 16-block scale group and one more), two whole groups;
        // m: below, at and past the 4-row tile; from gemmMinimumRows on, the panel GEMM with its
        // 8/4/2/1-row tails; rows: one partial 16-row panel, and two whole ones plus a partial one.
        for format in [DType.q8_0, .q4_0] {
            for k in [32, 160, 544, 1024] {
                for m in [1, 3, 4, 5, 7, 8, 9, 15, 23] {
                    let rows = m >= QuantizedReference.gemmMinimumRows && k == 160 ? 37 : 7
                    let reference = m >= QuantizedReference.gemmMinimumRows ? QuantizedReference.gemmDot : QuantizedReference.dot
                    let w = Tensor(shape: [rows, k], values: Self.values(rows * k, seed: UInt64(k * 31 + m)))
                        .quantized(to: format)
                    var x = Self.values(m * k, seed: UInt64(k + m), scale: 3)
                    x[0] = 0  // an exact zero and a whole zero block in the last row
                    for t in 0..<32 { x[(m - 1) * k + t] = 0 }
                    let wBase = w.storage.base + w.byteOffset
                    let rowBytes = format.byteCount(elements: k)
                    var expected = [Float](repeating: 0, count: m * rows)
                    var refRows: [(values: [Int8], scales: [Float])] = []
                    for i in 0..<m {
                        let r = QuantizedReference.quantizeRow(Array(x[(i * k)..<(i * k + k)]))
                        refRows.append(r)
                        for j in 0..<rows {
                            expected[i * rows + j] = reference(wBase + j * rowBytes, format, k, r.values, r.scales)
                        }
                    }
                    for path in paths {
                        let xq = x.withUnsafeBufferPointer { QuantizedKernels.QuantizedRows($0.baseAddress!, m: m, k: k, path: path) }
                        XCTAssertEqual(xq.values, refRows.flatMap(\.values), "\(format) k=\(k) m=\(m) \(path): x values")
                        XCTAssertEqual(xq.scales.map(\.bitPattern), refRows.flatMap(\.scales).map(\.bitPattern),
                                       "\(format) k=\(k) m=\(m) \(path): x scales")
                        var y = [Float](repeating: .nan, count: m * rows)
                        // Two calls over split row ranges, as the parallel dispatch makes them.
                        y.withUnsafeMutableBufferPointer { yb in
                            QuantizedKernels.matmul(weight: wBase, format: format, k: k, rows: 0..<3, x: xq, y: yb.baseAddress!, ldy: rows, path: path)
                            QuantizedKernels.matmul(weight: wBase, format: format, k: k, rows: 3..<rows, x: xq, y: yb.baseAddress!, ldy: rows, path: path)
                        }
                        XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), "\(format) k=\(k) m=\(m) \(path)")
                    }
                }
            }
        }
    }

    /// Weights interleaved 16 rows at a time (how `Linear` keeps them) follow the panel order for
    /// every m, on every path, over row ranges that cut panels anywhere; they widen to the same floats.
    func testInterleavedWeightsEqualThePanelReferenceBitForBit() throws {
        let paths = QuantizedKernels.Path.allCases.filter(\.isAvailable)
        for format in [DType.q8_0, .q4_0] {
            for k in [32, 160, 1024] {
                for m in [1, 2, 5, 8, 11] {
                    let rows = 48
                    let w = Tensor(shape: [rows, k], values: Self.values(rows * k, seed: UInt64(k * 7 + m))).quantized(to: format)
                    let wi = w.interleavedForKernels()
                    XCTAssertEqual(wi.dtype, format == .q8_0 ? .q8_0r16 : .q4_0r16)
                    XCTAssertEqual(wi.toF32().floats().map(\.bitPattern), w.toF32().floats().map(\.bitPattern), "\(format) k=\(k): widened")
                    let x = Self.values(m * k, seed: UInt64(k + 3 * m), scale: 2)
                    let wBase = w.storage.base + w.byteOffset, rowBytes = format.byteCount(elements: k)
                    var expected = [Float](repeating: 0, count: m * rows)
                    for i in 0..<m {
                        let r = QuantizedReference.quantizeRow(Array(x[(i * k)..<(i * k + k)]))
                        for j in 0..<rows {
                            expected[i * rows + j] = QuantizedReference.gemmDot(weightRow: wBase + j * rowBytes, format: format, k: k,
                                                                                values: r.values, scales: r.scales)
                        }
                    }
                    let wiBase = wi.storage.base + wi.byteOffset
                    for path in paths {
                        let xq = x.withUnsafeBufferPointer { QuantizedKernels.QuantizedRows($0.baseAddress!, m: m, k: k, path: path) }
                        var y = [Float](repeating: .nan, count: m * rows)
                        y.withUnsafeMutableBufferPointer { yb in
                            for range in [0..<5, 5..<21, 21..<32, 32..<rows] {
                                QuantizedKernels.matmul(weight: wiBase, format: wi.dtype, k: k, rows: range, x: xq, y: yb.baseAddress!, ldy: rows, path: path)
                            }
                        }
                        XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), "\(format) k=\(k) m=\(m) \(path)")
                    }
                }
            }
        }
        // Rows that are not whole panels stay in the row layout.
        let odd = Tensor(shape: [20, 64], values: Self.values(20 * 64, seed: 3)).quantized(to: .q8_0)
        XCTAssertEqual(odd.interleavedForKernels().dtype, .q8_0)
    }

    func testQuantizedLinearIsCloseToF32() {
        let k = 256, out = 40, m = 3
        let w = Tensor(shape: [out, k], values: Self.values(out * k, seed: 7, scale: 0.1))
        let b = Tensor(shape: [out], values: Self.values(out, seed: 8))
        let x = Tensor(shape: [m, k], values: Self.values(m * k, seed: 9))
        let reference = x.mixedLinear(weight: w, bias: b)
        for (format, tolerance) in [(DType.q8_0, Float(0.01)), (.q4_0, 0.15)] {
            let y = x.mixedLinear(weight: w.quantized(to: format), bias: b)
            assertClose(y, reference, tolerance: tolerance, "\(format)")
            // Fused with an f32 part: each part lands in its own columns.
            let fused = x.mixedLinear(parts: [(w.quantized(to: format), b), (w, nil)])
            XCTAssertEqual(fused.shape, [m, 2 * out])
            let f = fused.floats(), yf = y.floats(), rf = x.mixedLinear(weight: w).floats()
            for i in 0..<m {
                XCTAssertEqual(Array(f[(i * 2 * out)..<(i * 2 * out + out)]), Array(yf[(i * out)..<(i * out + out)]))
                XCTAssertEqual(Array(f[(i * 2 * out + out)..<(i * 2 * out + 2 * out)]), Array(rf[(i * out)..<(i * out + out)]))
            }
        }
    }

    func testSafetensorsRoundTripStoresU8BlockTables() throws {
        let w = Tensor(shape: [5, 64], values: Self.values(320, seed: 3)).quantized(to: .q4_0)
        let bias = Tensor(shape: [5], values: [1, 2, 3, 4, 5])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-quant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write(["l.weight": w, "l.bias": bias], to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata?[QuantizedSafetensors.metadataKey], "q4_0")
        let back = try file.tensor("l.weight")
        XCTAssertEqual(back.dtype, .q4_0)
        XCTAssertEqual(back.shape, [5, 64])
        XCTAssertEqual(Array(back.rawBytes), Array(w.rawBytes))
        XCTAssertEqual(try file.tensor("l.bias").floats(), [1, 2, 3, 4, 5])
        // On disk: a plain U8 [rows, blocks, 18] any safetensors reader opens.
        let header = try Self.header(url)
        XCTAssertTrue(header.contains("\"l.weight\":{\"dtype\":\"U8\",\"shape\":[5,2,18]"), header)
    }

    static func header(_ url: URL) throws -> String {
        let data = try Data(contentsOf: url)
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        return String(decoding: data[8..<(8 + n)], as: UTF8.self)
    }

    func testCorruptedBlockTablesAndUnknownFormatsAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-quant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A U8 table of 33-byte blocks declared q8_0 (34 bytes).
        let table = Tensor(shape: [2, 1, 33], dtype: .u8, storage: TensorStorage(byteCount: 66))
        let bad = dir.appendingPathComponent("bad.safetensors")
        try SafetensorsWriter.write(["l.weight": table], metadata: [QuantizedSafetensors.metadataKey: "q8_0"], to: bad)
        XCTAssertThrowsError(try SafetensorsFile(url: bad)) { error in
            XCTAssertTrue("\(error)".contains("corrupted q8_0 block table"), "\(error)")
        }
        let unknown = dir.appendingPathComponent("unknown.safetensors")
        try SafetensorsWriter.write(["b": Tensor(shape: [1], values: [1])], metadata: [QuantizedSafetensors.metadataKey: "q3_x"], to: unknown)
        XCTAssertThrowsError(try SafetensorsFile(url: unknown)) { error in
            XCTAssertTrue("\(error)".contains("unknown quantization 'q3_x'"), "\(error)")
        }
        // A header naming a block format as a dtype is not a safetensors dtype.
        XCTAssertThrowsError(try SafetensorsFile(url: Self.rewrite(bad, from: "\"U8\"", to: "\"Q8_0\"", in: dir)))
    }

    static func rewrite(_ url: URL, from: String, to: String, in dir: URL) throws -> URL {
        var data = try Data(contentsOf: url)
        let range = try XCTUnwrap(data.range(of: Data(from.utf8)))
        data.replaceSubrange(range, with: Data(to.utf8))
        // The header grew or shrank: rewrite its length prefix.
        let n = UInt64(littleEndian: data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) + UInt64(to.utf8.count - from.utf8.count)
        withUnsafeBytes(of: n.littleEndian) { data.replaceSubrange(0..<8, with: $0) }
        let out = dir.appendingPathComponent("rewritten.safetensors")
        try data.write(to: out)
        return out
    }
}

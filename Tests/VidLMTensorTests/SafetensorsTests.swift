import Foundation
import XCTest
@testable import VidLMTensor

/// Reader, writer, weight store and binder for safetensors. Oracles: a file built byte by byte
/// here, and files written by the reference Python package (tools/parity/make_safetensors_fixtures.py).
final class SafetensorsTests: XCTestCase {
    private static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/safetensors")

    private var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    // MARK: - Round trips

    func testRoundTripAllDtypesIncludingScalarAndEmpty() throws {
        let tensors: [String: Tensor] = [
            "f32": Tensor(shape: [2, 3], values: [1, -2, 3.5, 0, -0.25, 1e10]),
            "bf16": Tensor(shape: [4], values: [1, -2.5, 0.15625, 384]).converted(to: .bf16),
            "f16": Tensor(shape: [2, 2], values: [1.5, -0.75, 2048, 0.0009765625]).converted(to: .f16),
            "i64": makeTensor([3], .i64, Int64(0), Int64(-7), Int64.max),
            "scalar": Tensor(shape: [], values: [2.25]),
            "empty": Tensor(shape: [0, 3], values: []),
            "empty.bf16": Tensor(shape: [0], values: []).converted(to: .bf16),
            "u8": makeTensor([3], .u8, UInt8(1), UInt8(0), UInt8(255)),
        ]
        let url = tmp.appendingPathComponent("round.safetensors")
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "note": "é \"quoted\"\n\u{1}"], to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.names, tensors.keys.sorted())
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "é \"quoted\"\n\u{1}"])
        for (name, expected) in tensors {
            let t = try file.tensor(name)
            XCTAssertEqual(t.shape, expected.shape, name)
            XCTAssertEqual(t.dtype, expected.dtype, name)
            XCTAssertEqual(Array(t.rawBytes), Array(expected.rawBytes), name)
            XCTAssertEqual(try file.info(name).shape, expected.shape, name)
        }
        XCTAssertEqual(try file.tensor("scalar").floats(), [2.25])
        XCTAssertEqual(try file.tensor("bf16").floats(), [1, -2.5, 0.15625, 384])
        XCTAssertEqual(try file.tensor("f16").floats(), [1.5, -0.75, 2048, 0.0009765625])
        XCTAssertEqual(try file.tensor("i64").rawBytes.loadUnaligned(fromByteOffset: 16, as: Int64.self), Int64.max)
    }

    func testTensorsAreZeroCopyAndAligned() throws {
        let url = tmp.appendingPathComponent("zc.safetensors")
        try SafetensorsWriter.write(["a": makeTensor([1], .u8, UInt8(1)), "b": Tensor(shape: [3], values: [1, 2, 3]),
                                     "c": Tensor(shape: [3], values: [1, 2, 3]).converted(to: .bf16)], to: url)
        let file = try SafetensorsFile(url: url)
        let t1 = try file.tensor("b"), t2 = try file.tensor("b")
        XCTAssertEqual(t1.storage.base, t2.storage.base, "both views share the mapped bytes")
        for name in file.names {
            let t = try file.tensor(name)
            XCTAssertEqual(Int(bitPattern: t.rawBytes.baseAddress) % t.dtype.byteSize, 0, name)
        }
        // The tensor keeps the mapping alive after the file object is gone.
        var f: SafetensorsFile? = try SafetensorsFile(url: url)
        let kept = try f!.tensor("b")
        f = nil
        XCTAssertEqual(kept.floats(), [1, 2, 3])
    }

    func testWriterIsAtomicAndOverwrites() throws {
        let url = tmp.appendingPathComponent("out.safetensors")
        try SafetensorsWriter.write(["x": Tensor(shape: [1], values: [1])], to: url)
        try SafetensorsWriter.write(["y": Tensor(shape: [2], values: [3, 4])], to: url)
        XCTAssertEqual(try SafetensorsFile(url: url).names, ["y"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["out.safetensors"],
                       "no temporary file left behind")
        let missingDir = tmp.appendingPathComponent("no/such/dir/out.safetensors")
        assertThrows("writeFailed") { try SafetensorsWriter.write(["x": Tensor(shape: [1], values: [1])], to: missingDir) }
        assertThrows(.invalidInput(file: url.path, reason: "'__metadata__' is reserved and cannot name a tensor")) {
            try SafetensorsWriter.write(["__metadata__": Tensor(shape: [1], values: [1])], to: url)
        }
        XCTAssertEqual(try SafetensorsFile(url: url).names, ["y"], "a failed write leaves the old file")
    }

    // MARK: - Format oracles

    /// The layout, built by hand: u64 LE length, compact JSON padded with spaces to 8, data.
    func testHandBuiltFileMatchesWriterAndReads() throws {
        let json = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#  // 54 bytes → pad 2
        var bytes: [UInt8] = [56, 0, 0, 0, 0, 0, 0, 0]
        bytes += Array(json.utf8) + [0x20, 0x20]
        bytes += [0x00, 0x00, 0xC0, 0x3F]  // 1.5f
        bytes += [0x00, 0x00, 0x00, 0xC0]  // -2.0f
        XCTAssertEqual(try SafetensorsWriter.serialize(["a": Tensor(shape: [2], values: [1.5, -2])]), bytes)
        let file = try open(bytes)
        XCTAssertEqual(try file.tensor("a").floats(), [1.5, -2])
        XCTAssertNil(file.metadata)
    }

    func testReferenceFixtureLoadsWithRightValues() throws {
        let file = try SafetensorsFile(url: Self.fixtures.appendingPathComponent("reference.safetensors"))
        let expected = try referenceValues()
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(Set(file.names), Set(expected.keys))
        for (name, e) in expected {
            let t = try file.tensor(name)
            XCTAssertEqual(t.dtype, e.dtype, name)
            XCTAssertEqual(t.shape, e.shape, name)
            XCTAssertEqual(t.floats(), e.values.map(Float.init), name)
        }
        XCTAssertEqual(try file.tensor("position_ids").rawBytes.loadUnaligned(fromByteOffset: 16, as: Int64.self), -7)
    }

    /// Same tensors → the same bytes as the reference writer (`safetensors.torch.save_file`).
    func testWriterOutputIsByteIdenticalToReference() throws {
        let reference = try Array(Data(contentsOf: Self.fixtures.appendingPathComponent("reference.safetensors")))
        var tensors: [String: Tensor] = [:]
        for (name, e) in try referenceValues() {
            switch e.dtype {
            case .f32, .bf16, .f16: tensors[name] = Tensor(shape: e.shape, values: e.values.map(Float.init)).converted(to: e.dtype)
            case .i64: tensors[name] = makeTensor(e.shape, .i64, e.values.map { Int64($0) })
            case .i32: tensors[name] = makeTensor(e.shape, .i32, e.values.map { Int32($0) })
            case .u8: tensors[name] = makeTensor(e.shape, .u8, e.values.map { UInt8($0) })
            default: XCTFail("fixture dtype \(e.dtype) not handled")
            }
        }
        XCTAssertEqual(try SafetensorsWriter.serialize(tensors, metadata: ["format": "pt"]), reference)
    }

    /// Data at offsets that are not a multiple of the element size (legal, but not what the
    /// reference writes) is copied rather than read through a misaligned pointer.
    func testMisalignedTensorIsCopiedWithRightValues() throws {
        var data: [UInt8] = [7, 9]
        withUnsafeBytes(of: Float(3.5).bitPattern.littleEndian) { data += $0 }
        let file = try open(rawFile(#"{"m":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"f":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, data: data))
        XCTAssertEqual(try file.tensor("f").floats(), [3.5])
        XCTAssertEqual(try file.tensor("m").floats(), [7, 9])
    }

    func testEscapedNamesAndEmptyHeader() throws {
        let file = try open(rawFile(#"{"a\u00e9\ud83d\ude00\n":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#, data: [0, 0, 128, 63]))
        XCTAssertEqual(file.names, ["aé😀\n"])
        XCTAssertEqual(try file.tensor("aé😀\n").floats(), [1])
        XCTAssertEqual(try open(rawFile("{}")).names, [])
        XCTAssertEqual(try open(rawFile(" \t{ } \n")).names, [], "JSON whitespace around the object is allowed")
    }

    // MARK: - Malformed files → specific errors

    func testCannotOpen() throws {
        let missing = tmp.appendingPathComponent("nope.safetensors").path
        assertThrows(.cannotOpen(file: missing, reason: "No such file or directory")) { try SafetensorsFile(path: missing) }
        assertThrows(.cannotOpen(file: tmp.path, reason: "not a regular file")) { try SafetensorsFile(path: tmp.path) }
        // A FIFO with no writer must be refused, not block the open.
        let fifo = tmp.appendingPathComponent("fifo.safetensors").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertThrows(.cannotOpen(file: fifo, reason: "not a regular file")) { try SafetensorsFile(path: fifo) }
    }

    func testTooSmall() throws {
        let path = try write([1, 2, 3, 4, 5])
        assertThrows(.tooSmall(file: path, size: 5)) { try SafetensorsFile(path: path) }
        let empty = try write([])
        assertThrows(.tooSmall(file: empty, size: 0)) { try SafetensorsFile(path: empty) }
    }

    func testHeaderLengthOutOfBounds() throws {
        let path = try write(rawFile("{}", length: 1000))
        assertThrows(.headerLengthOutOfBounds(file: path, headerLength: 1000, fileSize: 16)) { try SafetensorsFile(path: path) }
        let huge = try write(rawFile("{}", length: .max))
        assertThrows(.headerLengthOutOfBounds(file: huge, headerLength: .max, fileSize: 16)) { try SafetensorsFile(path: huge) }

        // Over the 100 MB cap yet inside the file: a sparse file, so this costs no disk.
        let capped = tmp.appendingPathComponent("capped.safetensors")
        let length = UInt64(SafetensorsFile.maxHeaderLength + 1)
        try Data(withUnsafeBytes(of: length.littleEndian) { Array($0) }).write(to: capped)
        let handle = try FileHandle(forWritingTo: capped)
        try handle.truncate(atOffset: length + 16)
        try handle.close()
        assertThrows(.headerLengthOutOfBounds(file: capped.path, headerLength: length, fileSize: Int(length) + 16)) {
            try SafetensorsFile(url: capped)
        }
        XCTAssertTrue(SafetensorsError.headerLengthOutOfBounds(file: "f", headerLength: length, fileSize: 0)
            .description.contains("limit"))
    }

    func testHeaderNotJSON() throws {
        for header in ["{abc", "", "{\"a\":1,}", "{} x", "{\"a\":tru}", "{\"a\":01}", "{\"a\":\"\\x\"}",
                       "{\"a\":\"\\ud800\"}", "{\"a\":\"\u{1}\"}", "{\"a\":{}, \"a\":{}}",
                       String(repeating: "[", count: 100_000)] {
            assertThrows("headerNotJSON", header) { try open(rawFile(header)) }
        }
        // Invalid UTF-8 inside a string, and a lone continuation byte.
        for bad: [UInt8] in [[0xC3, 0x28], [0x80], [0xED, 0xA0, 0x80], [0xC0, 0xAF]] {
            let header = Array("{\"".utf8) + bad + Array("\":{}}".utf8)
            assertThrows("headerNotJSON", "\(bad)") { try open(rawFile(bytes: header)) }
        }
        let path = try write(rawFile("{\"a\":{}, \"a\":{}}"))
        assertThrows(.headerNotJSON(file: path, reason: "duplicate key \"a\" at byte 9")) { try SafetensorsFile(path: path) }
    }

    func testHeaderNotObject() throws {
        for header in ["[1,2]", "\"s\"", "12", "null", "true"] {
            assertThrows("headerNotObject", header) { try open(rawFile(header)) }
        }
    }

    func testBadMetadata() throws {
        let path = try write(rawFile(#"{"__metadata__":{"a":1}}"#))
        assertThrows(.badMetadata(file: path, reason: "key 'a' is the number 1, expected a string")) { try SafetensorsFile(path: path) }
        assertThrows("badMetadata") { try open(rawFile(#"{"__metadata__":"x"}"#)) }
        assertThrows("badMetadata") { try open(rawFile(#"{"__metadata__":null}"#)) }
    }

    func testBadEntries() throws {
        let cases: [(String, String)] = [
            (#"{"t":{"shape":[1],"data_offsets":[0,4]}}"#, "has no 'dtype' field"),
            (#"{"t":{"dtype":"F32","data_offsets":[0,4]}}"#, "has no 'shape' field"),
            (#"{"t":{"dtype":"F32","shape":[1]}}"#, "has no 'data_offsets' field"),
            (#"{"t":[1]}"#, "is an array, expected an object"),
            (#"{"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, "has dtype the number 32, expected a string"),
            (#"{"t":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}"#, "has shape the number 1, expected an array of non-negative integers"),
            (#"{"t":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, "has shape entry true, expected a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, "has shape entry the number 1.0, expected a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}"#, "has shape entry the number 1e0, expected a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "has shape entry the number -1, expected a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, "has shape entry the string \"1\", expected a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, "has shape [4294967296, 4294967296] whose byte size overflows"),
            (#"{"t":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#, "has shape [0, 4294967296, 4294967296] whose byte size overflows"),
            (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, "has 3 data_offsets, expected [begin, end]"),
            (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":{"a":1}}}"#, "has data_offsets an object, expected [begin, end]"),
            (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,null]}}"#, "has data_offsets entry null, expected a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#, "has data_offsets entry the number 18446744073709551616, which is too large"),
            (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}"#, "has unknown field 'extra'"),
        ]
        for (header, reason) in cases {
            let path = try write(rawFile(header, data: [0, 0, 0, 0]))
            assertThrows(.badEntry(file: path, tensor: "t", reason: reason), header) { try SafetensorsFile(path: path) }
        }
    }

    func testUnknownDType() throws {
        for dtype in ["F8_E4M3", "U32", "f32", ""] {
            let path = try write(rawFile(#"{"t":{"dtype":"\#(dtype)","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            assertThrows(.unknownDType(file: path, tensor: "t", dtype: dtype)) { try SafetensorsFile(path: path) }
        }
    }

    func testSizeMismatch() throws {
        let path = try write(rawFile(#"{"a.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, data: .init(repeating: 0, count: 16)))
        let expected = SafetensorsError.sizeMismatch(file: path, tensor: "a.weight", dtype: .f32, shape: [2, 2], begin: 0, end: 12)
        assertThrows(expected) { try SafetensorsFile(path: path) }
        XCTAssertEqual(SafetensorsError.sizeMismatch(file: "model.safetensors", tensor: "a.weight", dtype: .f32, shape: [2, 2], begin: 0, end: 12).description,
                       "model.safetensors: tensor 'a.weight' has data_offsets [0, 12] but F32 [2, 2] needs 16 bytes.")
    }

    func testOffsetsOutOfBounds() throws {
        let path = try write(rawFile(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: .init(repeating: 0, count: 8)))
        assertThrows(.offsetsOutOfBounds(file: path, tensor: "t", begin: 4, end: 12, dataSize: 8)) { try SafetensorsFile(path: path) }
        let reversed = try write(rawFile(#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: .init(repeating: 0, count: 8)))
        assertThrows(.offsetsOutOfBounds(file: reversed, tensor: "t", begin: 8, end: 4, dataSize: 8)) { try SafetensorsFile(path: reversed) }
    }

    func testOverlappingRanges() throws {
        let path = try write(rawFile(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#,
                                     data: .init(repeating: 0, count: 12)))
        assertThrows(.overlappingRanges(file: path, first: "a", second: "b")) { try SafetensorsFile(path: path) }
        // An empty tensor inside another's range touches no bytes: fine.
        let ok = try open(rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}}"#,
                                  data: .init(repeating: 0, count: 8)))
        XCTAssertEqual(try ok.tensor("z").shape, [0, 5])
    }

    func testMissingTensor() throws {
        let url = tmp.appendingPathComponent("m.safetensors")
        try SafetensorsWriter.write(["a": Tensor(shape: [1], values: [1])], to: url)
        let file = try SafetensorsFile(url: url)
        assertThrows(.missingTensor(file: url.path, tensor: "b")) { try file.tensor("b") }
        assertThrows(.missingTensor(file: url.path, tensor: "b")) { try file.info("b") }
        XCTAssertFalse(file.contains("b"))
    }

    func testDescriptionsAreOneSentenceNamingFileAndTensor() {
        let errors: [SafetensorsError] = [
            .cannotOpen(file: "m.st", reason: "Permission denied"), .tooSmall(file: "m.st", size: 3),
            .headerLengthOutOfBounds(file: "m.st", headerLength: 99, fileSize: 20), .headerNotJSON(file: "m.st", reason: "x at byte 1"),
            .headerNotObject(file: "m.st"), .badMetadata(file: "m.st", reason: "is null, expected an object of strings"),
            .badEntry(file: "m.st", tensor: "t", reason: "has no 'dtype' field"), .unknownDType(file: "m.st", tensor: "t", dtype: "U32"),
            .offsetsOutOfBounds(file: "m.st", tensor: "t", begin: 0, end: 9, dataSize: 8), .overlappingRanges(file: "m.st", first: "t", second: "u"),
            .missingTensor(file: "m.st", tensor: "t"), .badIndex(file: "m.st", reason: "no 'weight_map'"),
            .missingShard(index: "m.st", shard: "s"), .tensorNotInShard(index: "m.st", tensor: "t", shard: "s"),
            .noWeights(directory: "m.st"), .duplicateTensor(directory: "m.st", tensor: "t", files: ["a", "b"]),
            .invalidInput(file: "m.st", reason: "r"), .writeFailed(file: "m.st", reason: "r"),
            .wrongShape(source: "m.st", mismatch: ShapeMismatch(name: "t", shape: [1], expected: [2])),
        ]
        for e in errors {
            let d = e.description
            XCTAssertTrue(d.hasPrefix("m.st: "), d)
            XCTAssertTrue(d.hasSuffix("."), d)
            XCTAssertEqual(d.filter { $0 == "\n" }.count, 0, d)
        }
    }

    // MARK: - Mutation fuzzing

    /// Deterministic mutations of a valid file: each must either load (and then every tensor reads
    /// without crashing, inside the file) or fail with a SafetensorsError — never crash or hang.
    func testMutationsLoadOrFailCleanly() throws {
        let base = try SafetensorsWriter.serialize([
            "w": Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
            "b": Tensor(shape: [3], values: [1, 2, 3]).converted(to: .bf16),
            "h": Tensor(shape: [2], values: [1, 2]).converted(to: .f16),
            "i": makeTensor([2], .i64, Int64(5), Int64(-5)),
            "s": Tensor(shape: [], values: [9]),
            "e": Tensor(shape: [0, 4], values: []),
        ], metadata: ["k": "v"])
        let headerEnd = 8 + Int(base.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var rng = SplitMix64(seed: 0x5AFE_7E45)
        let structural = Array("{}[]\":,0123456789-.eE \\tnfu".utf8)
        var loaded = 0, failed = 0
        var kinds: [String: Int] = [:]
        // tmpfs where there is one: 1200 file creations on a slow disk take seconds.
        var dir = tmp!
        let shm = URL(fileURLWithPath: "/dev/shm/safetensors-mutations-\(UUID().uuidString)")
        if (try? FileManager.default.createDirectory(at: shm, withIntermediateDirectories: false)) != nil { dir = shm }
        defer { if dir == shm { try? FileManager.default.removeItem(at: shm) } }

        for i in 0..<1200 {
            var bytes = base
            let kind = i % 8
            switch kind {
            case 0:  // flip one bit in the header
                let at = 8 + rng.below(headerEnd - 8)
                bytes[at] ^= UInt8(1) << UInt8(rng.below(8))
            case 1:  // overwrite header bytes with JSON-structural characters (reaches deeper parser states)
                for _ in 0...rng.below(3) { bytes[8 + rng.below(headerEnd - 8)] = structural[rng.below(structural.count)] }
            case 2:  // overwrite random bytes anywhere (data included)
                for _ in 0...rng.below(4) { bytes[rng.below(bytes.count)] = UInt8(rng.below(256)) }
            case 3:  // truncate
                bytes = Array(bytes.prefix(rng.below(bytes.count)))
            case 4:  // change the header length field: small deltas and random values
                let n = UInt64(headerEnd - 8)
                let new: UInt64 = rng.below(2) == 0 ? n &+ UInt64(bitPattern: Int64(rng.below(33) - 16)) : rng.next() >> UInt64(rng.below(64))
                withUnsafeBytes(of: new.littleEndian) { for j in 0..<8 { bytes[j] = $0[j] } }
            case 5:  // splice garbage in
                let at = rng.below(bytes.count + 1)
                bytes.insert(contentsOf: (0..<(1 + rng.below(16))).map { _ in UInt8(rng.below(256)) }, at: at)
            case 6:  // change a digit inside the header (offsets and shapes stay syntactically valid)
                let digits = (8..<headerEnd).filter { (48...57).contains(bytes[$0]) }
                bytes[digits[rng.below(digits.count)]] = UInt8(48 + rng.below(10))
            default:  // delete a range
                let a = rng.below(bytes.count), len = 1 + rng.below(12)
                bytes.removeSubrange(a..<min(bytes.count, a + len))
            }
            let url = dir.appendingPathComponent("mut-\(i).safetensors")
            try Data(bytes).write(to: url)
            do {
                let file = try SafetensorsFile(url: url)
                for name in file.names {
                    let t = try file.tensor(name)
                    let info = try file.info(name)
                    XCTAssertLessThanOrEqual(info.dataOffsets.upperBound, file.fileSize)
                    XCTAssertEqual(t.floats().count, t.count)
                }
                loaded += 1
            } catch {
                // `error` is statically a SafetensorsError (typed throws); its message must be usable.
                XCTAssertFalse(error.description.isEmpty)
                failed += 1
                kinds[caseName(error), default: 0] += 1
            }
            try FileManager.default.removeItem(at: url)
        }
        XCTAssertEqual(loaded + failed, 1200)
        XCTAssertGreaterThan(loaded, 50, "some mutations keep the file valid (e.g. data bytes)")
        XCTAssertGreaterThan(failed, 300)
        XCTAssertGreaterThanOrEqual(kinds.count, 6, "mutations reach many different checks: \(kinds)")
    }

    // MARK: - Weight store

    func testShardedIndexLoads() throws {
        let dir = Self.fixtures.appendingPathComponent("sharded")
        let store = try WeightStore(directory: dir)
        let expected = try referenceValues()
        XCTAssertEqual(Set(store.names), Set(expected.keys))
        XCTAssertEqual(store.files.count, 2)
        for (name, e) in expected {
            XCTAssertEqual(try store.tensor(name).floats(), e.values.map(Float.init), name)
            XCTAssertEqual(try store.info(name).shape, e.shape)
        }
        assertThrows(.missingTensor(file: dir.path, tensor: "nope")) { try store.tensor("nope") }
        XCTAssertEqual(store.missing(["layer.weight", "nope", "x"]), ["nope", "x"])
    }

    func testShardedIndexMissingShard() throws {
        let dir = try copyShardedFixture()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        assertThrows(.missingShard(index: dir.appendingPathComponent("model.safetensors.index.json").path,
                                   shard: "model-00002-of-00002.safetensors")) { try WeightStore(directory: dir) }
    }

    func testShardedIndexNameNotInShard() throws {
        let dir = try copyShardedFixture()
        try editIndex(dir) { $0.replacingOccurrences(of: #""mask": "model-00002"#, with: #""mask": "model-00001"#) }
        assertThrows(.tensorNotInShard(index: dir.appendingPathComponent("model.safetensors.index.json").path,
                                       tensor: "mask", shard: "model-00001-of-00002.safetensors")) { try WeightStore(directory: dir) }
    }

    func testShardedIndexBadJSONAndStructure() throws {
        let dir = try copyShardedFixture()
        let index = dir.appendingPathComponent("model.safetensors.index.json").path
        let cases: [(String, String)] = [
            (#"{"weight_map": {"a": "x.safetensors",}}"#, "expected a string key, found character '}' at byte 37"),
            ("[]", "not a JSON object"),
            (#"{"metadata": {}}"#, "no 'weight_map'"),
            (#"{"weight_map": []}"#, "'weight_map' is an array, expected an object"),
            (#"{"weight_map": {"a": 1}}"#, "'weight_map' entry 'a' is the number 1, expected a file name"),
            (#"{"weight_map": {"a": "../x.safetensors"}}"#, "'weight_map' entry 'a' names '../x.safetensors', which is not a file in the model directory"),
            (#"{"weight_map": {}}"#, "'weight_map' is empty"),
            ("", "file is empty"),
        ]
        for (json, reason) in cases {
            try Data(json.utf8).write(to: URL(fileURLWithPath: index))
            assertThrows(.badIndex(file: index, reason: reason), json) { try WeightStore(directory: dir) }
        }
    }

    func testShardedIndexPropagatesCorruptShard() throws {
        let dir = try copyShardedFixture()
        let shard = dir.appendingPathComponent("model-00001-of-00002.safetensors")
        try Data([1, 2, 3]).write(to: shard)
        assertThrows(.tooSmall(file: shard.path, size: 3)) { try WeightStore(directory: dir) }
    }

    func testStoreLayouts() throws {
        // Single file preferred; unindexed directories merge all *.safetensors; duplicates fail.
        try SafetensorsWriter.write(["a": Tensor(shape: [1], values: [1])], to: tmp.appendingPathComponent("x.safetensors"))
        try SafetensorsWriter.write(["b": Tensor(shape: [1], values: [2])], to: tmp.appendingPathComponent("y.safetensors"))
        XCTAssertEqual(try WeightStore(directory: tmp).names, ["a", "b"])
        try SafetensorsWriter.write(["a": Tensor(shape: [1], values: [3])], to: tmp.appendingPathComponent("z.safetensors"))
        assertThrows(.duplicateTensor(directory: tmp.path, tensor: "a", files: ["x.safetensors", "z.safetensors"])) {
            try WeightStore(directory: tmp)
        }
        try SafetensorsWriter.write(["only": Tensor(shape: [1], values: [4])], to: tmp.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(try WeightStore(directory: tmp).names, ["only"])
        XCTAssertEqual(try WeightStore(directory: tmp.appendingPathComponent("x.safetensors")).names, ["a"], "a file works too")

        let empty = tmp.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        assertThrows(.noWeights(directory: empty.path)) { try WeightStore(directory: empty) }
        let nowhere = tmp.appendingPathComponent("nowhere")
        assertThrows(.cannotOpen(file: nowhere.path, reason: "No such file or directory")) { try WeightStore(directory: nowhere) }
    }

    // MARK: - Binding

    private func bindingStore() throws -> WeightStore {
        let url = tmp.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write([
            "q.weight": Tensor.zeros([4, 4]), "x.weight": Tensor.zeros([3, 4]), "k.weight": Tensor.zeros([4, 4]),
            "unused.bias": Tensor.zeros([4]), "rotary.inv_freq": Tensor.zeros([2]),
        ], to: url)
        return try WeightStore(directory: tmp)
    }

    func testBinderCollectsEveryProblemIntoOneError() throws {
        let store = try bindingStore()
        let b = store.binder()
        XCTAssertEqual(try b.take("q.weight", shape: [4, 4]).shape, [4, 4])
        let wrong = try b.take("x.weight", shape: [4, 4])
        XCTAssertEqual(wrong.shape, [4, 4], "placeholder has the requested shape")
        let missing = try b.take("v.weight", shape: [4, 4])
        XCTAssertEqual(missing.floats(), [Float](repeating: 0, count: 16))
        _ = try b.take("o.weight", shape: [1 << 20, 1 << 12])  // 16 GB placeholder: lazily mapped, free
        XCTAssertNil(try b.takeIfPresent("q.bias", shape: [4]))
        XCTAssertNotNil(try b.takeIfPresent("k.weight", shape: [4, 4]))

        let expected = SafetensorsError.bindingFailed(
            source: tmp.path, missing: ["v.weight", "o.weight"], unexpected: ["unused.bias"],
            wrongShapes: [ShapeMismatch(name: "x.weight", shape: [3, 4], expected: [4, 4])])
        assertThrows(expected) { try b.checkAllConsumed(ignoring: { $0.hasSuffix(".inv_freq") }) }
        XCTAssertEqual(expected.description,
                       "\(tmp.path): weights do not match the model: 2 missing ('v.weight', 'o.weight'); 1 unexpected ('unused.bias'); 1 with the wrong shape ('x.weight' has shape [3, 4], expected [4, 4]).")
        XCTAssertEqual(b.unconsumed(), ["rotary.inv_freq", "unused.bias"])
    }

    func testBinderStrictModeThrowsAtOnce() throws {
        let store = try bindingStore()
        let b = store.binder(mode: .strict)
        let mismatch = ShapeMismatch(name: "x.weight", shape: [3, 4], expected: [4, 4])
        assertThrows(.wrongShape(source: tmp.path, mismatch: mismatch)) { try b.take("x.weight", shape: [4, 4]) }
        XCTAssertEqual(SafetensorsError.wrongShape(source: "m", mismatch: mismatch).description,
                       "m: weight 'x.weight' has shape [3, 4], expected [4, 4].")
        assertThrows(.missingTensor(file: tmp.path, tensor: "v.weight")) { try b.take("v.weight", shape: [4]) }
        assertThrows(.wrongShape(source: tmp.path, mismatch: mismatch)) { try b.takeIfPresent("x.weight", shape: [4, 4]) }
    }

    func testBinderLoadChecksEverything() throws {
        let store = try bindingStore()
        let all = try WeightBinder.load(store) { b in
            try store.names.map { try b.take($0, shape: store.info($0).shape) }
        }
        XCTAssertEqual(all.count, 5)

        // A build step failing because of a placeholder still reports the binding problems.
        struct BuildFailed: Error {}
        do {
            _ = try WeightBinder.load(store) { b -> Int in
                _ = try b.take("gone", shape: [2])
                throw BuildFailed()
            }
            XCTFail("expected an error")
        } catch let e as SafetensorsError {
            XCTAssertEqual(e, .bindingFailed(source: tmp.path, missing: ["gone"], unexpected: [], wrongShapes: []))
        }
        do {
            _ = try WeightBinder.load(store, ignoring: { $0 != "q.weight" }) { b in try b.take("q.weight", shape: [4, 4]) }
        } catch {
            XCTFail("everything else ignored: \(error)")
        }
        assertThrows("bindingFailed") { try WeightBinder.load(store) { b in try b.take("q.weight", shape: [4, 4]) } }
    }

    // MARK: - Helpers

    private struct Expected { let dtype: DType; let shape: [Int]; let values: [Double] }

    private func referenceValues() throws -> [String: Expected] {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("reference.json"))
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let tensors = try XCTUnwrap(root["tensors"] as? [String: [String: Any]])
        return try tensors.mapValues { t in
            Expected(dtype: try XCTUnwrap(DType(rawValue: t["dtype"] as? String ?? "")),
                     shape: try XCTUnwrap(t["shape"] as? [Int]), values: try XCTUnwrap(t["values"] as? [Double]))
        }
    }

    private func makeTensor<T>(_ shape: [Int], _ dtype: DType, _ values: T...) -> Tensor { makeTensor(shape, dtype, values) }

    private func makeTensor<T>(_ shape: [Int], _ dtype: DType, _ values: [T]) -> Tensor {
        precondition(MemoryLayout<T>.size == dtype.byteSize && values.count == Tensor.elementCount(shape))
        let storage = TensorStorage(byteCount: values.count * dtype.byteSize)
        values.withUnsafeBytes { if let b = $0.baseAddress { storage.mutableBase.copyMemory(from: b, byteCount: $0.count) } }
        return Tensor(shape: shape, dtype: dtype, storage: storage)
    }

    /// A file from a header string, padded like the reference writer; `length` overrides the field.
    private func rawFile(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        rawFile(bytes: Array(header.utf8), data: data, length: length)
    }

    private func rawFile(bytes header: [UInt8], data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let padded = header + [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        return withUnsafeBytes(of: (length ?? UInt64(padded.count)).littleEndian) { Array($0) } + padded + data
    }

    private var counter = 0
    private func write(_ bytes: [UInt8]) throws -> String {
        counter += 1
        let url = tmp.appendingPathComponent("f\(counter).safetensors")
        try Data(bytes).write(to: url)
        return url.path
    }

    private func open(_ bytes: [UInt8]) throws -> SafetensorsFile { try SafetensorsFile(path: write(bytes)) }

    private func copyShardedFixture() throws -> URL {
        let dir = tmp.appendingPathComponent("sharded")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("sharded"), to: dir)
        return dir
    }

    private func editIndex(_ dir: URL, _ edit: (String) -> String) throws {
        let url = dir.appendingPathComponent("model.safetensors.index.json")
        try Data(edit(String(decoding: Data(contentsOf: url), as: UTF8.self)).utf8).write(to: url)
    }

    private func caseName(_ e: SafetensorsError) -> String {
        Mirror(reflecting: e).children.first?.label ?? "\(e)"
    }

    /// Asserts `body` throws exactly `expected`.
    private func assertThrows<T>(_ expected: SafetensorsError, _ context: String = "", file: StaticString = #filePath,
                                 line: UInt = #line, _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("expected \(expected) \(context)", file: file, line: line)
        } catch let e as SafetensorsError {
            XCTAssertEqual(e, expected, context, file: file, line: line)
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error) \(context)", file: file, line: line)
        }
    }

    /// Asserts `body` throws a SafetensorsError of the case named `kind`.
    private func assertThrows<T>(_ kind: String, _ context: String = "", file: StaticString = #filePath,
                                 line: UInt = #line, _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("expected a \(kind) error \(context)", file: file, line: line)
        } catch let e as SafetensorsError {
            XCTAssertEqual(caseName(e), kind, "\(e) \(context)", file: file, line: line)
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error) \(context)", file: file, line: line)
        }
    }
}

/// Deterministic PRNG (SplitMix64) so the mutation corpus is the same on every run.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform-enough integer in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

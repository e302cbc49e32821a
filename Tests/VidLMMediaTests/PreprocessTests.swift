import Foundation
import XCTest
@testable import VidLMMedia

/// Parity of the Swift preprocessing with Pillow / transformers, against the fixtures written by
/// tools/parity/make_preprocess_fixtures.py (see Tests/Fixtures/preprocess/cases.json).
final class PreprocessTests: XCTestCase {

    // MARK: Fixtures

    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/preprocess")

    struct Manifest: Decodable {
        struct Input: Decodable { let file: String; let width: Int; let height: Int }
        struct ResizeCase: Decodable {
            let name: String, op: String, input: String, filter: String, resample: Int
            let width: Int?, height: Int?
            let shortest_edge: Int?, resized_width: Int?, resized_height: Int?
            let crop_width: Int?, crop_height: Int?
            let output: String, output_width: Int, output_height: Int
            /// `ResamplePassOrder` raw values (Pillow releases) that give exactly these bytes.
            let pass_orders: [String]
        }
        struct TensorCase: Decodable {
            let name: String, config: String, frames: [String], output: String, shape: [Int], oracle: String
            let pass_order: String
        }
        let pillow: String
        let inputs: [String: Input]
        let resize_cases: [ResizeCase]
        let tensor_cases: [TensorCase]
    }

    func data(_ name: String) throws -> Data {
        try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
    }

    func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: data("cases.json"))
    }

    func input(_ name: String, _ m: Manifest) throws -> RGBImage {
        let spec = try XCTUnwrap(m.inputs[name], "no input \(name)")
        let bytes = [UInt8](try data(spec.file))
        XCTAssertEqual(bytes.count, spec.width * spec.height * 3)
        return RGBImage(width: spec.width, height: spec.height, pixels: bytes)
    }

    /// nil if identical, else a description with the largest byte difference and where it is.
    func byteDiff(_ got: [UInt8], _ want: [UInt8], width: Int) -> String? {
        guard got.count == want.count else { return "size \(got.count) bytes, expected \(want.count)" }
        var maxDiff = 0, differing = 0, firstAt = -1
        for i in 0..<got.count where got[i] != want[i] {
            let d = abs(Int(got[i]) - Int(want[i]))
            maxDiff = max(maxDiff, d)
            differing += 1
            if firstAt < 0 { firstAt = i }
        }
        guard differing > 0 else { return nil }
        let px = firstAt / 3
        return "\(differing) of \(got.count) bytes differ, max diff \(maxDiff), first at x=\(px % width) y=\(px / width) channel \(firstAt % 3)"
    }

    // MARK: Pillow parity

    func testResizeMatchesPillowByteForByte() throws {
        let m = try manifest()
        XCTAssertFalse(m.resize_cases.isEmpty)
        var checked = Set<ResamplePassOrder>()
        for c in m.resize_cases {
            let image = try input(c.input, m)
            let filter = try XCTUnwrap(ResampleFilter(rawValue: c.resample))
            XCTAssertEqual("\(filter)", c.filter)
            let want = [UInt8](try data(c.output))
            XCTAssertFalse(c.pass_orders.isEmpty, c.name)
            for orderName in c.pass_orders {
                let order = try XCTUnwrap(ResamplePassOrder(rawValue: orderName), orderName)
                checked.insert(order)
                let got: RGBImage
                switch c.op {
                case "resize":
                    got = try image.resized(width: try XCTUnwrap(c.width), height: try XCTUnwrap(c.height),
                                            filter: filter, passOrder: order)
                case "shortest_edge_center_crop":
                    let se = try XCTUnwrap(c.shortest_edge)
                    let size = try RGBImage.shortestSideOutputSize(width: image.width, height: image.height, shortestEdge: se)
                    XCTAssertEqual(size.width, c.resized_width, c.name)
                    XCTAssertEqual(size.height, c.resized_height, c.name)
                    got = try image.resizedShortestSide(to: se, filter: filter, passOrder: order)
                        .centerCropped(width: try XCTUnwrap(c.crop_width), height: try XCTUnwrap(c.crop_height))
                default:
                    XCTFail("unknown op \(c.op)")
                    continue
                }
                XCTAssertEqual(got.width, c.output_width, c.name)
                XCTAssertEqual(got.height, c.output_height, c.name)
                if let diff = byteDiff(got.pixels, want, width: c.output_width) {
                    XCTFail("\(c.name) [\(orderName)] differs from Pillow: \(diff)")
                }
            }
        }
        XCTAssertEqual(checked, Set(ResamplePassOrder.allCases))
    }

    /// The pass-order cases only mean something if the orders really disagree on them.
    func testPassOrdersDisagreeWhereFixturesSayTheyDo() throws {
        let m = try manifest()
        let image = try input("odd_97x61", m)
        let v = try image.resized(width: 90, height: 20, filter: .bicubic, passOrder: .pillow13)
        let h = try image.resized(width: 90, height: 20, filter: .bicubic, passOrder: .horizontalFirst)
        XCTAssertNotEqual(v.pixels, h.pixels)
        XCTAssertEqual(try image.resized(width: 90, height: 20, filter: .bicubic, passOrder: .pillow12_2), h)
        // NEAREST and single-axis resizes do not depend on the order.
        for order in ResamplePassOrder.allCases {
            XCTAssertEqual(try image.resized(width: 90, height: 20, filter: .nearest, passOrder: order),
                           try image.resized(width: 90, height: 20, filter: .nearest))
            XCTAssertEqual(try image.resized(width: 97, height: 20, filter: .bicubic, passOrder: order),
                           try image.resized(width: 97, height: 20, filter: .bicubic))
        }
    }

    func testResizerIsReusableAcrossFrames() throws {
        let m = try manifest()
        let image = try input("odd_97x61", m)
        let resizer = try PillowResizer(inputWidth: 97, inputHeight: 61, outputWidth: 160, outputHeight: 100,
                                        filter: .bicubic)
        let want = [UInt8](try data("odd_97x61_to_160x100_bicubic_up.rgb"))
        for i in 0..<3 {
            if let diff = byteDiff(try resizer.resize(image).pixels, want, width: 160) { XCTFail("run \(i): \(diff)") }
        }
    }

    // MARK: transformers parity (float tensors)

    func testTensorsMatchTransformers() throws {
        let m = try manifest()
        XCTAssertEqual(m.tensor_cases.count, 2)
        for c in m.tensor_cases {
            let config = try PreprocessConfig.decode(json: try data(c.config))
            let frames = try c.frames.map { try input($0, m) }
            let order = try XCTUnwrap(ResamplePassOrder(rawValue: c.pass_order))
            let tensor = try ImagePreprocessor(config, passOrder: order).preprocess(frames)
            XCTAssertEqual(tensor.shape, c.shape, c.name)
            let raw = try data(c.output)
            XCTAssertEqual(raw.count, tensor.values.count * 4, c.name)
            let want: [Float] = raw.withUnsafeBytes { buf in
                (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            guard want.count == tensor.values.count else { continue }
            var maxDiff: Float = 0, notBitExact = 0
            for (a, b) in zip(tensor.values, want) {
                maxDiff = max(maxDiff, abs(a - b))
                if a.bitPattern != b.bitPattern { notBitExact += 1 }
            }
            XCTAssertLessThanOrEqual(maxDiff, 1e-5, "\(c.name) vs \(c.oracle): max diff \(maxDiff)")
            // Same float32 operations in the same order as numpy, so it should be exact, not just close.
            XCTAssertEqual(notBitExact, 0, "\(c.name): \(notBitExact) values not bit-identical (max diff \(maxDiff))")
            XCTAssertTrue(tensor.littleEndianBytes() == [UInt8](raw), "\(c.name): serialised bytes differ")
        }
    }

    // MARK: Config decoding

    func decode(_ json: String, family: PreprocessConfig.Family? = nil) throws -> PreprocessConfig {
        try PreprocessConfig.decode(json: Data(json.utf8), family: family)
    }

    func testFixtureConfigsDecodeWithClassDefaults() throws {
        // BLIP files leave out do_center_crop: BlipImageProcessor's default is "no crop".
        let blip = try PreprocessConfig.decode(json: try data("blip_like_preprocessor_config.json"))
        XCTAssertTrue(blip.doResize)
        XCTAssertEqual(blip.size, .heightWidth(height: 44, width: 44))
        XCTAssertEqual(blip.resample, .bicubic)
        XCTAssertFalse(blip.doCenterCrop)
        XCTAssertNil(blip.cropSize)
        XCTAssertEqual(blip.imageMean, PreprocessConfig.openAIClipMean)

        // Old CLIPFeatureExtractor file: int size = shortest edge, int crop = square, and no
        // do_rescale / rescale_factor, which CLIPImageProcessor defaults to on and 1/255.
        let clip = try PreprocessConfig.decode(json: try data("clip_like_preprocessor_config.json"))
        XCTAssertEqual(clip.size, .shortestEdge(48))
        XCTAssertEqual(clip.cropSize, .init(height: 40, width: 40))
        XCTAssertTrue(clip.doCenterCrop)
        XCTAssertTrue(clip.doRescale)
        XCTAssertEqual(clip.rescaleFactor, 1.0 / 255.0)
        XCTAssertEqual(clip.imageStd, PreprocessConfig.openAIClipStd)
    }

    func testDefaultsForAbsentFields() throws {
        // No processor type: transformers' BaseImageProcessor, where every step is off.
        let base = try decode("{}")
        XCTAssertEqual(base, PreprocessConfig())
        XCTAssertFalse(base.doResize)
        XCTAssertEqual(base.resample, .bilinear)
        XCTAssertEqual(base.rescaleFactor, 1.0 / 255.0)

        XCTAssertEqual(try decode(#"{"image_processor_type": "CLIPImageProcessor"}"#), .clip)
        XCTAssertEqual(try decode(#"{"image_processor_type": "CLIPImageProcessorFast"}"#), .clip)
        XCTAssertEqual(try decode(#"{"image_processor_type": "BlipImageProcessor"}"#), .blip)
        XCTAssertEqual(try decode(#"{"image_processor_type": "SiglipImageProcessor"}"#), .siglip)
        XCTAssertEqual(try decode("{}", family: .clip), .clip)

        let clip = PreprocessConfig.clip
        XCTAssertEqual(clip.size, .shortestEdge(224))
        XCTAssertEqual(clip.cropSize, .init(height: 224, width: 224))
        XCTAssertEqual(PreprocessConfig.blip.size, .heightWidth(height: 384, width: 384))
        XCTAssertFalse(PreprocessConfig.blip.doCenterCrop)

        // null means "use the default", as in transformers.
        let nulls = try decode(#"{"image_processor_type": "CLIPImageProcessor", "crop_size": null, "image_mean": null}"#)
        XCTAssertEqual(nulls, .clip)
    }

    func testSizeForms() throws {
        XCTAssertEqual(try decode(#"{"size": {"height": 10, "width": 20}}"#).size, .heightWidth(height: 10, width: 20))
        XCTAssertEqual(try decode(#"{"size": {"shortest_edge": 7}}"#).size, .shortestEdge(7))
        XCTAssertEqual(try decode(#"{"size": [10, 20]}"#).size, .heightWidth(height: 10, width: 20))
        XCTAssertEqual(try decode(#"{"size": 30}"#).size, .heightWidth(height: 30, width: 30))
        XCTAssertEqual(try decode(#"{"size": 30, "default_to_square": false}"#).size, .shortestEdge(30))
        XCTAssertEqual(try decode(#"{"size": 30}"#, family: .clip).size, .shortestEdge(30))
        XCTAssertEqual(try decode(#"{"crop_size": 12}"#).cropSize, .init(height: 12, width: 12))
        XCTAssertEqual(try decode(#"{"image_mean": 0.5}"#).imageMean, [0.5, 0.5, 0.5])
        for (code, filter) in [(0, ResampleFilter.nearest), (2, .bilinear), (3, .bicubic)] {
            XCTAssertEqual(try decode(#"{"resample": \#(code)}"#).resample, filter)
        }
    }

    func testEncodeDecodeRoundTrip() throws {
        for config in [PreprocessConfig.clip, .blip, .siglip, PreprocessConfig()] {
            let json = try JSONEncoder().encode(config)
            XCTAssertEqual(try PreprocessConfig.decode(json: json), config)
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
            XCTAssertNotNil(obj["do_resize"])   // snake_case keys
        }
    }

    // MARK: Invalid configs

    func assertThrows(_ json: String, family: PreprocessConfig.Family? = nil, _ expected: PreprocessError,
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(json, family: family), file: file, line: line) { error in
            XCTAssertEqual(error as? PreprocessError, expected, "\(error)", file: file, line: line)
        }
    }

    func testInvalidConfigsThrowTypedErrors() throws {
        assertThrows(#"{"do_resize": true, "size": {"height": 0, "width": 4}}"#, .invalidSize("size.height", 0))
        assertThrows(#"{"do_resize": true, "size": {"shortest_edge": -3}}"#, .invalidSize("size.shortest_edge", -3))
        assertThrows(#"{"do_resize": true, "size": 0}"#, .invalidSize("size.height", 0))
        assertThrows(#"{"do_center_crop": true, "crop_size": {"height": 5, "width": 0}}"#, .invalidSize("crop_size.width", 0))
        assertThrows(#"{"image_mean": [0.5, 0.5]}"#, family: .clip, .wrongChannelCount(field: "image_mean", count: 2))
        assertThrows(#"{"image_std": [0.5, 0.5, 0.5, 0.5]}"#, family: .clip, .wrongChannelCount(field: "image_std", count: 4))
        assertThrows(#"{"image_std": [0.5, 0, 0.5]}"#, family: .clip, .invalidValue(field: "image_std", value: 0))
        assertThrows(#"{"resample": 7}"#, .unsupportedResample(7))
        assertThrows(#"{"size": {"longest_edge": 5}}"#, .unsupportedSizeKeys(field: "size", keys: ["longest_edge"]))
        assertThrows(#"{"size": {"height": 5}}"#, .unsupportedSizeKeys(field: "size", keys: ["height"]))
        assertThrows(#"{"do_resize": true}"#, .missingField("size"))
        assertThrows(#"{"do_center_crop": true}"#, .missingField("crop_size"))
        assertThrows(#"{"do_normalize": true}"#, .missingField("image_mean"))
        // Fields of disabled steps are not checked (transformers ignores them too).
        XCTAssertNoThrow(try decode(#"{"do_normalize": false, "image_mean": [1, 2]}"#))
        // Malformed JSON is a DecodingError, not a crash.
        XCTAssertThrowsError(try decode(#"{"do_resize": "yes"}"#)) { XCTAssertTrue($0 is DecodingError) }

        var bad = PreprocessConfig.clip
        bad.imageMean = [0.1]
        XCTAssertThrowsError(try ImagePreprocessor(bad))
        XCTAssertThrowsError(try bad.preprocess([RGBImage(width: 2, height: 2)]))
    }

    // MARK: Ops

    func testShortestSideSizing() throws {
        func size(_ w: Int, _ h: Int, _ s: Int) throws -> [Int] {
            let r = try RGBImage.shortestSideOutputSize(width: w, height: h, shortestEdge: s)
            return [r.width, r.height]
        }
        XCTAssertEqual(try size(640, 360, 224), [398, 224])   // int(224 * 640 / 360) = int(398.2)
        XCTAssertEqual(try size(360, 640, 224), [224, 398])
        XCTAssertEqual(try size(1920, 1080, 224), [398, 224])
        XCTAssertEqual(try size(45, 80, 64), [64, 113])       // truncates 113.78, no rounding
        XCTAssertEqual(try size(100, 100, 224), [224, 224])
        XCTAssertThrowsError(try size(10, 10, 0))
    }

    func testCenterCropOffsetsAndPadding() throws {
        // 5 x 3 picture whose red byte is the x coordinate and green the y coordinate.
        var px = [UInt8]()
        for y in 0..<3 { for x in 0..<5 { px += [UInt8(x), UInt8(y), 9] } }
        let img = RGBImage(width: 5, height: 3, pixels: px)

        // Surplus 3 columns: left offset 3 // 2 = 1 (the odd pixel goes right).
        let c = try img.centerCropped(width: 2, height: 2)
        XCTAssertEqual(c.pixel(x: 0, y: 0).0, 1)
        XCTAssertEqual(c.pixel(x: 0, y: 0).1, 0)   // 1 surplus row: top offset 0
        XCTAssertEqual(c.pixel(x: 1, y: 1).0, 2)

        // Larger than the image: zero padding, ceil(deficit / 2) before.
        let p = try img.centerCropped(width: 8, height: 6)
        XCTAssertEqual(p.width, 8)
        XCTAssertTrue(p.pixel(x: 1, y: 1) == (0, 0, 0))        // padding
        XCTAssertTrue(p.pixel(x: 2, y: 2) == (0, 0, 9))        // deficit 3 -> 2 columns, 3 -> 2 rows before
        XCTAssertTrue(p.pixel(x: 6, y: 4) == (4, 2, 9))
        XCTAssertTrue(p.pixel(x: 7, y: 5) == (0, 0, 0))

        XCTAssertEqual(try img.centerCropped(width: 5, height: 3), img)
        XCTAssertThrowsError(try img.centerCropped(width: 0, height: 3))
    }

    func testResizeEdgeCases() throws {
        let img = RGBImage(width: 7, height: 5, fill: (10, 200, 30))
        XCTAssertEqual(try img.resized(width: 7, height: 5), img)   // Pillow returns a copy
        for filter in ResampleFilter.allCases {
            // A flat colour stays flat under every (normalised) filter.
            let r = try img.resized(width: 3, height: 11, filter: filter)
            XCTAssertEqual(r.pixels, RGBImage(width: 3, height: 11, fill: (10, 200, 30)).pixels, "\(filter)")
        }
        XCTAssertEqual(try img.resized(width: 1, height: 1).pixels, [10, 200, 30])
        XCTAssertThrowsError(try img.resized(width: 0, height: 4)) {
            XCTAssertEqual($0 as? PreprocessError, .invalidSize("output width", 0))
        }
        let resizer = try PillowResizer(inputWidth: 8, inputHeight: 5, outputWidth: 4, outputHeight: 4, filter: .bilinear)
        XCTAssertThrowsError(try resizer.resize(img)) {
            XCTAssertEqual($0 as? PreprocessError,
                           .imageSizeMismatch(expectedWidth: 8, expectedHeight: 5, width: 7, height: 5))
        }
    }

    func testPreprocessShapesAndErrors() throws {
        var cfg = PreprocessConfig.clip
        cfg.size = .shortestEdge(8)
        cfg.cropSize = .init(height: 6, width: 7)
        let frames = [RGBImage(width: 20, height: 10), RGBImage(width: 9, height: 15, fill: (255, 255, 255))]
        let t = try cfg.preprocess(frames)
        XCTAssertEqual(t.shape, [2, 3, 6, 7])
        XCTAssertEqual(t.strides, [126, 42, 7, 1])
        XCTAssertEqual(try ImagePreprocessor(cfg).outputSize(width: 20, height: 10).width, 7)
        // Frame 1, channel 2 is white: (1 - mean) / std in float32.
        let white = (Float(Double(255) * (1.0 / 255.0)) - Float(0.40821073)) / Float(0.27577711)
        XCTAssertEqual(t.values[126 + 2 * 42], white)

        XCTAssertThrowsError(try cfg.preprocess([])) { XCTAssertEqual($0 as? PreprocessError, .noFrames) }
        cfg.doCenterCrop = false   // shortest-edge output then depends on the aspect ratio
        XCTAssertThrowsError(try cfg.preprocess(frames)) { error in
            guard case .inconsistentFrameSizes? = error as? PreprocessError else { return XCTFail("\(error)") }
        }

        // No rescale / normalize: raw byte values as floats.
        let plain = try PreprocessConfig().preprocess([RGBImage(width: 1, height: 1, fill: (1, 2, 3))])
        XCTAssertEqual(plain.values, [1, 2, 3])

        XCTAssertThrowsError(try PixelTensor(shape: [2, 2], values: [1, 2, 3]))
        XCTAssertEqual(try PixelTensor(shape: [1], values: [1]).littleEndianBytes(), [0, 0, 0x80, 0x3F])
    }
}

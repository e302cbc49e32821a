import Foundation
import XCTest
@testable import VidLMMedia

/// Stills against the pixels transformers' image loaders give (Pillow's `load_image`, and
/// torchcodec's `decode_image`, which the fixture tool asserts agree): JPEG in every chroma
/// layout, progressive, gray and CMYK; lossy WebP with and without alpha; every EXIF orientation;
/// and 16-bit PNGs, where the two disagree and torchcodec (the default processors' loader) is the
/// oracle. Fixtures: tools/parity/make_still_fixtures.py (Tests/Fixtures/stills).
final class StillPictureTests: XCTestCase {
    static let folder = Fixtures.root.appendingPathComponent("stills")

    struct Case: Decodable {
        let name: String
        let file: String
        let expected: String
        let width: Int
        let height: Int
        let exif_orientation: Int
    }

    struct Manifest: Decodable {
        let cases: [Case]
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
    }

    static func picture(_ file: String, size: PixelSize? = nil) async throws -> RGBImage {
        let decoder = try await MediaDecoder.open(folder.appendingPathComponent(file).path)
        return try await decoder.frame(at: 0, size: size).image
    }

    func testEveryStillGivesTheLoadersPixels() async throws {
        let cases = try Self.manifest().cases
        XCTAssertGreaterThanOrEqual(cases.count, 23)
        for c in cases {
            // The expected picture is a PNG: lossless, so libav reads back exactly what Pillow wrote.
            let want = try await Self.picture(c.expected)
            XCTAssertEqual([want.width, want.height], [c.width, c.height], "\(c.name): expected picture")
            let got = try await Self.picture(c.file)
            XCTAssertEqual([got.width, got.height], [c.width, c.height], "\(c.name): upright size")
            guard got.width == want.width, got.height == want.height else { continue }
            var worst = 0
            for (a, b) in zip(got.pixels, want.pixels) { worst = max(worst, abs(Int(a) - Int(b))) }
            XCTAssertEqual(worst, 0, "\(c.name): pixels differ from Pillow's by up to \(worst)")
        }
    }

    func testProbeReportsTheUprightSizeAndTheTag() async throws {
        for c in try Self.manifest().cases where c.exif_orientation != 1 {
            let info = try await MediaDecoder.open(Self.folder.appendingPathComponent(c.file).path).probe()
            let v = try XCTUnwrap(info.video, c.name)
            XCTAssertTrue(info.isStillImage, c.name)
            XCTAssertEqual([v.displayWidth, v.displayHeight], [c.width, c.height], "\(c.name): display size")
            XCTAssertEqual(v.exifOrientation, c.exif_orientation, c.name)
            XCTAssertEqual(v.rotation, 0, c.name)
        }
        let plain = try await MediaDecoder.open(Self.folder.appendingPathComponent("jpeg_420.jpg").path).probe()
        XCTAssertNil(plain.video?.exifOrientation)
    }

    /// `--size` resizes the upright picture (the quarter turn first, then the resampler).
    func testRequestedSizeAppliesToTheUprightPicture() async throws {
        let turned = try await Self.picture("jpeg_exif6.jpg", size: PixelSize(width: 34, height: 58))
        let upright = try await Self.picture("jpeg_exif6.expected.png", size: PixelSize(width: 34, height: 58))
        XCTAssertEqual(turned, upright)
    }

    /// Pillow refuses a JPEG that ends early; libjpeg alone would pad it with grey.
    func testTruncatedJPEGIsAnError() async throws {
        let decoder = try await MediaDecoder.open(Self.folder.appendingPathComponent("jpeg_truncated.jpg").path)
        await assertThrowsMediaError({ $0.description.contains("truncated") }) {
            try await decoder.frame(at: 0)
        }
    }

    func testOrientationTagParsing() {
        // Little- and big-endian directories, SHORT and LONG values.
        let le: [UInt8] = [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]
        XCTAssertEqual(ExifOrientation.orientation(inTIFF: le), 6)
        let be: [UInt8] = [0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 4, 0, 0, 0, 1, 0, 0, 0, 8]
        XCTAssertEqual(ExifOrientation.orientation(inTIFF: be), 8)
        // Out of range, a wrong type, a directory past the end, a bad byte order: as stored.
        var outOfRange = le; outOfRange[18] = 9
        XCTAssertEqual(ExifOrientation.orientation(inTIFF: outOfRange), 1)
        var ascii = le; ascii[12] = 2
        XCTAssertEqual(ExifOrientation.orientation(inTIFF: ascii), 1)
        var farDirectory = le; farDirectory[4] = 200
        XCTAssertEqual(ExifOrientation.orientation(inTIFF: farDirectory), 1)
        XCTAssertEqual(ExifOrientation.orientation(inTIFF: Array(le.prefix(19))), 1)   // the value cut in half
        XCTAssertEqual(ExifOrientation.orientation(inTIFF: [0x41, 0x41] + le.dropFirst(2)), 1)
        // Random bytes never trap and always give a valid orientation.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var t = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if t.count >= 4, Bool.random(using: &rng) { t[0] = 0x49; t[1] = 0x49; t[2] = 42; t[3] = 0 }
            XCTAssertTrue((1...8).contains(ExifOrientation.orientation(inTIFF: t)))
        }
    }

    /// The eight orientations against their definitions on a 3×2 picture (Pillow's transposes).
    func testTheEightOrientations() {
        // Pixel values 0...5 in reading order: 0 1 2 / 3 4 5.
        let image = RGBImage(width: 3, height: 2, pixels: (0..<6).flatMap { [UInt8($0), 0, 0] })
        let expected: [Int: (Int, Int, [UInt8])] = [
            1: (3, 2, [0, 1, 2, 3, 4, 5]),
            2: (3, 2, [2, 1, 0, 5, 4, 3]),
            3: (3, 2, [5, 4, 3, 2, 1, 0]),
            4: (3, 2, [3, 4, 5, 0, 1, 2]),
            5: (2, 3, [0, 3, 1, 4, 2, 5]),
            6: (2, 3, [3, 0, 4, 1, 5, 2]),
            7: (2, 3, [5, 2, 4, 1, 3, 0]),
            8: (2, 3, [2, 5, 1, 4, 0, 3]),
        ]
        for (o, (w, h, values)) in expected {
            let out = ExifOrientation.apply(o, to: image)
            XCTAssertEqual([out.width, out.height], [w, h], "orientation \(o)")
            XCTAssertEqual(stride(from: 0, to: out.pixels.count, by: 3).map { out.pixels[$0] }, values, "orientation \(o)")
        }
    }
}

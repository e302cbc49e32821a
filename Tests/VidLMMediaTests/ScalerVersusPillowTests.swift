import XCTest
@testable import VidLMMedia

/// Frames resized by the decoder (`frames --size`) are Pillow's bicubic exactly, as the image
/// processors make them: the PNG of the 640×360 fixture input decoded to 224×224 vs Pillow.
/// (libswscale's own bicubic was 1.07 levels off on average, max 20, on this image: too far.)
final class ScalerVersusPillowTests: XCTestCase {
    func testDecoderResizeIsPillowBicubic() async throws {
        let folder = Fixtures.root.appendingPathComponent("preprocess")
        let input = try Data(contentsOf: folder.appendingPathComponent("input_640x360.rgb"))
        let pillow = try Data(contentsOf: folder.appendingPathComponent("frame_640x360_to_224x224_bicubic.rgb"))
        let png = try PNGEncoder.encode(RGBImage(width: 640, height: 360, pixels: [UInt8](input)))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-scale-\(UUID().uuidString).png")
        try png.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let decoder = try await MediaDecoder.open(url.path)
        let scaled = try await decoder.frame(at: 0, size: PixelSize(width: 224, height: 224))
        // The PNG round trip itself is lossless.
        let full = try await decoder.frame(at: 0)
        XCTAssertEqual(full.image.pixels, [UInt8](input))
        XCTAssertEqual(scaled.image.pixels, [UInt8](pillow))
    }
}

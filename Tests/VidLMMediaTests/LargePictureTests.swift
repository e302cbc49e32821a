import Foundation
import XCTest
import VidLMTensor
@testable import VidLMMedia

/// Memory for very large pictures (8K): the PNG writer streams, and the decoder plan gives up
/// parallel decoders, frame threads and decoding ahead before it breaks the memory bound.
final class LargePictureTests: XCTestCase {
    /// Noise does not compress, so this picture spans several IDAT chunks; libav's PNG decoder
    /// (independent of the writer) must give back every byte, from memory and from a file.
    func testStreamingPNGRoundTripsAcrossChunks() async throws {
        let width = 641, height = 363 // odd sizes: rows are not multiples of anything
        var generator = SystemRandomNumberGenerator()
        let pixels = (0..<(width * height * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = RGBImage(width: width, height: height, pixels: pixels)
        let data = try PNGEncoder.encode(image)
        XCTAssertGreaterThan(data.count, 2 * PNGEncoder.chunkBytes, "the picture must span several IDAT chunks")
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fromMemory = dir.appendingPathComponent("memory.png"), fromFile = dir.appendingPathComponent("file.png")
        try data.write(to: fromMemory)
        try PNGEncoder.write(image, to: fromFile)
        XCTAssertEqual(try Data(contentsOf: fromFile), data, "writing to a file gives the same bytes")
        for url in [fromMemory, fromFile] {
            let decoder = try await MediaDecoder.open(url.path)
            let frame = try await decoder.frame(at: 0)
            XCTAssertEqual(frame.image.width, width)
            XCTAssertEqual(frame.image.height, height)
            XCTAssertEqual(frame.image.pixels, pixels)
        }
    }

    func testDecoderPlanShrinksForLargePictures() {
        let cores = ThreadBudget.cores
        let small = ThreadBudget.decoders(forSegments: 8, pictureBytes: 1280 * 720 * 3 / 2)
        XCTAssertEqual(small.decoders, min(cores, 8))
        XCTAssertTrue(small.decodeAhead)
        // 8K 4:2:0: 50 MB a picture. One single-threaded decoder, nothing decoded ahead.
        let eightK = ThreadBudget.decoders(forSegments: 8, pictureBytes: 7680 * 4320 * 3 / 2)
        XCTAssertEqual(eightK.decoders, 1)
        XCTAssertEqual(eightK.threadsEach, 1)
        XCTAssertFalse(eightK.decodeAhead)
        // Whatever the plan, its estimate fits the budget unless nothing is left to give up.
        for bytes in [0, 1 << 20, 12 << 20, 30 << 20, 50 << 20, 400 << 20] {
            let plan = ThreadBudget.decoders(forSegments: 4, pictureBytes: bytes)
            XCTAssertGreaterThanOrEqual(plan.decoders, 1)
            XCTAssertGreaterThanOrEqual(plan.threadsEach, 1)
            if plan.decoders > 1 || plan.threadsEach > 1 {
                XCTAssertLessThanOrEqual(plan.decoders * (4 + plan.threadsEach) * bytes, ThreadBudget.decodedPictureBudget)
            }
        }
    }
}

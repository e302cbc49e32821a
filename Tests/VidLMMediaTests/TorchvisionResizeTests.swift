import Foundation
import XCTest
@testable import VidLMMedia

/// `resizedLikeTorchvision` against torchvision's own resize of the same uint8 pictures
/// (tools/parity/make_torchvision_resize_fixtures.py): nearest (transformers' NEAREST_EXACT),
/// bilinear and bicubic, down and up, one axis at a time, odd sizes. Every byte must match.
final class TorchvisionResizeTests: XCTestCase {
    static let folder = Fixtures.root.appendingPathComponent("preprocess")

    struct Manifest: Decodable {
        struct Case: Decodable {
            let name: String, input: String, input_width: Int, input_height: Int, resample: Int, width: Int, height: Int
            let output: String
        }
        let cases: [Case]
    }

    func testResizeMatchesTorchvisionByteForByte() throws {
        let manifest = try JSONDecoder().decode(
            Manifest.self, from: Data(contentsOf: Self.folder.appendingPathComponent("torchvision/cases.json")))
        XCTAssertGreaterThanOrEqual(manifest.cases.count, 30)
        for c in manifest.cases {
            let input = RGBImage(width: c.input_width, height: c.input_height,
                                 pixels: [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(c.input))))
            let filter = try XCTUnwrap(ResampleFilter(rawValue: c.resample), c.name)
            let got = try input.resizedLikeTorchvision(width: c.width, height: c.height, filter: filter)
            let want = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent("torchvision/\(c.output)")))
            XCTAssertEqual(got.width, c.width, c.name)
            XCTAssertEqual(got.height, c.height, c.name)
            let differing = zip(got.pixels, want).filter { $0 != $1 }.count
            XCTAssertTrue(got.pixels.count == want.count && differing == 0,
                          "\(c.name): \(differing) of \(want.count) bytes differ from torchvision")
        }
    }
}

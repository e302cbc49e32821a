import Foundation
import XCTest
@testable import VidLM

/// Inputs the manifest fuzz target (Fuzz/Sources/fuzz-manifest) found problems with.
final class ManifestFuzzRegressionTests: XCTestCase {
    private static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/manifest")

    /// Every regression input loads or fails with a one-line ManifestError.
    func testEveryRegressionInputEndsCleanly() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).sorted()
        XCTAssertFalse(names.isEmpty)
        for name in names {
            do {
                _ = try FrameOrderManifest.load(Self.folder.appendingPathComponent(name))
            } catch {
                XCTAssertFalse(error.description.contains("\n"), "\(name): \(error)")
            }
        }
    }

    /// CRLF line ends: "\r\n" is one Character, so splitting on "\n" used to read the whole file
    /// as line 1 ("line 1 is not a JSON object").
    func testCRLFLineEnds() throws {
        let m = try FrameOrderManifest.load(Self.folder.appendingPathComponent("crlf.jsonl"))
        XCTAssertEqual(m.entries.map(\.video), ["a.mp4", "b.mp4", "c.mp4"])
        XCTAssertEqual(m.entries.map(\.line), [1, 2, 4])
        XCTAssertEqual(m.entries.map(\.id), ["line-1", "2", "line-4"])
        XCTAssertEqual(m.entries.map(\.caption), ["first", "second", "third"])
    }
}

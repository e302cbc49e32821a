import Foundation
import XCTest
import VidLMModels
import VidLMTensor
@testable import VidLM

final class FrameOrderTests: XCTestCase {
    private func manifest(_ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.tests.appendingPathComponent("Fixtures/media/cfr_bframes.mp4"),
                                         to: dir.appendingPathComponent("clip.mp4"))
        let url = dir.appendingPathComponent("manifest.jsonl")
        try Data(text.utf8).write(to: url)
        return url
    }

    func testManifestErrorsNameTheLine() throws {
        let cases: [(String, String)] = [
            ("{\"video\": \"clip.mp4\", \"caption\": \"a\"}\nnot json\n", "line 2 is not a JSON object"),
            ("{\"video\": \"clip.mp4\", \"caption\": \"  \"}\n", "line 1 has an empty caption"),
            ("\n{\"caption\": \"a\"}\n", "line 2 needs a non-empty string 'video'"),
            ("{\"video\": \"clip.mp4\"}\n", "line 1 needs a string 'caption'"),
            ("\n\n", "has no entries"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try FrameOrderManifest.load(try manifest(text))) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error) should say \(message)")
            }
        }
        let ok = try FrameOrderManifest.load(try manifest("{\"video\": \"clip.mp4\", \"caption\": \"a\", \"id\": 7}\n"))
        XCTAssertEqual(ok.entries.first?.id, "7")
        XCTAssertTrue(FileManager.default.fileExists(atPath: ok.entries[0].url.path))
    }

    func testCreditRuleAndTies() {
        XCTAssertEqual(FrameOrderEvaluation.credit(trueScore: -1, others: [-2, -3]), 1)
        XCTAssertEqual(FrameOrderEvaluation.credit(trueScore: -3, others: [-2, -3]), 0)
        XCTAssertEqual(FrameOrderEvaluation.credit(trueScore: -2, others: [-2]), 0.5)
        XCTAssertEqual(FrameOrderEvaluation.credit(trueScore: -2, others: [-2, -2, -5]), 1.0 / 3)
        XCTAssertEqual(FrameOrderEvaluation.credit(trueScore: -50, others: [-50.0000001]), 0.5, "float noise is a tie")
    }

    func testPerturbationsAreDistinctAndSeeded() async throws {
        let engine = try await Engine.load(directory: Fixtures.parity("e2e_vidlm_tiny"))
        let eval = FrameOrderEvaluation(engine: engine, settings: FrameOrderSettings(mode: .both, shuffles: 5, seed: 3))
        let p = eval.perturbations(frames: 4, clipIndex: 0)
        XCTAssertEqual(p.count, 6)
        XCTAssertEqual(p[0].order, [3, 2, 1, 0])
        XCTAssertEqual(Set(p.map(\.order)).count, 6)
        XCTAssertFalse(p.contains { $0.order == [0, 1, 2, 3] })
        XCTAssertEqual(p.map(\.order), eval.perturbations(frames: 4, clipIndex: 0).map(\.order))
        // Two frames allow only one other order.
        XCTAssertEqual(eval.perturbations(frames: 2, clipIndex: 0).count, 1)
    }

    /// With order removed the vidlm model is order-blind: every clip gets exactly chance credit.
    /// BLIP-2 has no order signal at all: both arms sit exactly at chance.
    func testControlIsChanceAndBadClipsAreReported() async throws {
        let url = try manifest("""
        {"video": "clip.mp4", "caption": "a square moves", "id": "a"}
        {"video": "missing.mp4", "caption": "x", "id": "gone"}
        {"video": "clip.mp4", "caption": "the circle grows"}
        """)
        let m = try FrameOrderManifest.load(url)
        for name in ["e2e_vidlm_tiny", "e2e_blip2_opt"] {
            let engine = try await Engine.load(directory: Fixtures.parity(name))
            let settings = FrameOrderSettings(mode: .both, shuffles: 2, frames: 3, seed: 1, bootstrap: 50)
            let report = try await FrameOrderEvaluation(engine: engine, settings: settings).run(m)
            XCTAssertEqual(report.clips, 3)
            XCTAssertEqual(report.failed, 1)
            XCTAssertEqual(report.rows[1].id, "gone")
            XCTAssertNotNil(report.rows[1].error)
            XCTAssertEqual(report.chance, 0.25, accuracy: 1e-12)
            XCTAssertEqual(report.orderRemoved.accuracy, 0.25, accuracy: 1e-12, name)
            if name == "e2e_blip2_opt" {
                XCTAssertEqual(report.trueOrder.accuracy, 0.25, accuracy: 1e-12)
                XCTAssertTrue(report.orderSignal.hasPrefix("none"))
            } else {
                // Real positions make the scores differ between orders.
                XCTAssertTrue(report.rows[0].perturbations.contains { abs($0.score - report.rows[0].trueScore) > 1e-3 })
            }
            XCTAssertTrue(MarginPlot.svg(report).hasPrefix("<svg"))
        }
    }

    func testSettingsValidation() {
        XCTAssertThrowsError(try FrameOrderSettings(mode: .shuffle, shuffles: 0).validate())
        XCTAssertThrowsError(try FrameOrderSettings(mode: .both, shuffles: 2, frames: 1).validate())
        XCTAssertNoThrow(try FrameOrderSettings(mode: .reverse, shuffles: 0).validate())
    }
}

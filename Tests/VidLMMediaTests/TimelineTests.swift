import XCTest
@testable import VidLMMedia

final class TimelineTests: XCTestCase {
    /// Both ways of building a timeline (MP4 sample table, packet scan) give ffprobe's pts.
    func testTimelineMatchesFFprobePts() async throws {
        for name in MediaManifest.clips + ["long_10h.mp4"] {
            let d = try await MediaDecoder.open(Fixtures.media(name))
            let expected = MediaManifest.pts(name)
            let t = try await d.timeline()
            XCTAssertEqual(t.pts, expected, name)
            XCTAssertEqual(t.keyframes.map(\.pts), MediaManifest.entry(name).keyframePts, "\(name) key frames")
            let scanned = try await d.timeline(forceScan: true)
            XCTAssertEqual(scanned.pts, expected, "\(name) (scanned)")
            XCTAssertEqual(scanned.keyframes.map(\.pts), MediaManifest.entry(name).keyframePts, "\(name) key frames")
        }
    }

    func testIndexLookupAndSeekDecision() {
        let t = Timeline(pts: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90], timeBase: 0.01, endPts: 100,
                         keyframes: [.init(seekTimestamp: 0, pts: 0), .init(seekTimestamp: 80, pts: 80)])
        XCTAssertEqual(t.index(displayedAt: 0), 0)
        XCTAssertEqual(t.index(displayedAt: 0.0999), 0)
        XCTAssertEqual(t.index(displayedAt: 0.1), 1)
        XCTAssertEqual(t.index(displayedAt: 0.95), 9)
        XCTAssertEqual(t.index(ofPts: 30), 3)
        XCTAssertNil(t.index(ofPts: 31))
        XCTAssertEqual(t.keyframePosition(before: 79), 0)
        XCTAssertEqual(t.keyframePosition(before: 80), 1)
        XCTAssertFalse(t.shouldSeek(from: 10, to: 50), "same GOP: decode forward")
        XCTAssertTrue(t.shouldSeek(from: 10, to: 90), "key frame 80 is 7 frames ahead")
        XCTAssertFalse(t.shouldSeek(from: 50, to: 90), "key frame only 3 frames ahead")
        XCTAssertTrue(t.shouldSeek(from: 50, to: 20), "behind")
        XCTAssertEqual(t.durationSeconds, 1.0, accuracy: 1e-12)
    }
}

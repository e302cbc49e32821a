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
        XCTAssertFalse(t.hasSharedPts)
        XCTAssertTrue(t.shouldSeek(fromIndex: 5, toIndex: 5), "not ahead")
        XCTAssertFalse(t.shouldSeek(fromIndex: 1, toIndex: 5))
        XCTAssertTrue(t.shouldSeek(fromIndex: 1, toIndex: 9))
    }

    /// Two frames with one pts (a container rounding times): both are frames; the later one is on
    /// screen; a key frame sharing its pts is no seek point (a decoder landing there could not
    /// tell which of the two it is), unless it is the first.
    func testFramesSharingAPts() {
        let t = Timeline(pts: [0, 0, 10, 20, 20, 30, 40, 50, 50, 60], timeBase: 0.01, endPts: 70,
                         keyframes: [.init(seekTimestamp: 0, pts: 0), .init(seekTimestamp: 20, pts: 20),
                                     .init(seekTimestamp: 40, pts: 40), .init(seekTimestamp: 50, pts: 50)])
        XCTAssertTrue(t.hasSharedPts)
        XCTAssertEqual(t.count, 10)
        XCTAssertEqual(t.keyframes.map(\.pts), [0, 40])
        XCTAssertEqual(t.index(displayedAtPts: 0), 1)
        XCTAssertEqual(t.index(displayedAtPts: -5), 0)
        XCTAssertEqual(t.index(displayedAtPts: 25), 4)
        XCTAssertEqual(t.index(displayedAt: 0.5), 8)
        XCTAssertEqual(t.indices(ofPts: 20), 3...4)
        XCTAssertEqual(t.indices(ofPts: 30), 5...5)
        XCTAssertNil(t.indices(ofPts: 35))
        XCTAssertEqual(t.index(ofPts: 50), 8)
        XCTAssertEqual(t.keyframePosition(beforeIndex: 8), 1)
        XCTAssertTrue(t.shouldSeek(fromIndex: 4, toIndex: 3), "behind, though at the same pts")
        XCTAssertFalse(t.shouldSeek(fromIndex: 3, toIndex: 4), "the next frame at the same pts")
        let planned = try? SamplingPlanner.indices(for: FrameRequest(.all), on: t)
        XCTAssertEqual(planned, Array(0..<10))
    }
}

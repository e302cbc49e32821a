import XCTest
@testable import VidLMMedia

final class PlannerTests: XCTestCase {
    /// 100 frames at 25 fps in a 1/12800 time base, starting at pts 1000.
    private let cfr = Timeline(pts: (0..<100).map { 1000 + Int64($0) * 512 }, timeBase: 1.0 / 12800,
                               endPts: 1000 + 100 * 512, keyframes: [.init(seekTimestamp: 1000, pts: 1000)])

    func testUniformConvention() throws {
        for n in [1, 3, 8, 16, 100] {
            let got = try SamplingPlanner.indices(for: FrameRequest(.uniform(count: n)), on: cfr)
            XCTAssertEqual(got, (0..<n).map { Int((Double($0) + 0.5) * 100 / Double(n)) }, "n = \(n)")
        }
        // More frames than exist: each frame once.
        XCTAssertEqual(try SamplingPlanner.indices(for: FrameRequest(.uniform(count: 500)), on: cfr), Array(0..<100))
    }

    func testRangeIsRelativeToFirstFrame() throws {
        let got = try SamplingPlanner.indices(for: FrameRequest(.all, start: 1.0, end: 2.0), on: cfr)
        XCTAssertEqual(got, Array(25..<50))
        let uniform = try SamplingPlanner.indices(for: FrameRequest(.uniform(count: 2), start: 2, end: 4), on: cfr)
        XCTAssertEqual(uniform, [62, 87])
    }

    func testFps() throws {
        XCTAssertEqual(try SamplingPlanner.indices(for: FrameRequest(.fps(rate: 1, maxFrames: nil)), on: cfr), [0, 25, 50, 75])
        XCTAssertEqual(try SamplingPlanner.indices(for: FrameRequest(.fps(rate: 25, maxFrames: 4)), on: cfr),
                       try SamplingPlanner.indices(for: FrameRequest(.uniform(count: 4)), on: cfr))
    }

    func testInvalidRequests() {
        func fails(_ r: FrameRequest, _ match: (MediaError) -> Bool, line: UInt = #line) {
            XCTAssertThrowsError(try SamplingPlanner.indices(for: r, on: cfr), line: line) { e in
                XCTAssertTrue(match(e as! MediaError), "\(e)", line: line)
            }
        }
        fails(FrameRequest(.uniform(count: 0))) { if case .invalidRequest = $0 { true } else { false } }
        fails(FrameRequest(.uniform(count: 4), start: 4.0)) { if case .startAfterEnd = $0 { true } else { false } }
        fails(FrameRequest(.uniform(count: 4), start: 9.5)) { if case .startAfterEnd = $0 { true } else { false } }
        fails(FrameRequest(.uniform(count: 4), start: 2, end: 1)) { if case .invalidRequest = $0 { true } else { false } }
        fails(FrameRequest(.uniform(count: 4), start: -1)) { if case .invalidRequest = $0 { true } else { false } }
        fails(FrameRequest(.fps(rate: 0, maxFrames: nil))) { if case .invalidRequest = $0 { true } else { false } }
        fails(FrameRequest(.timestamps([5.0]))) { if case .timestampOutOfRange = $0 { true } else { false } }
        fails(FrameRequest(.timestamps([]))) { if case .invalidRequest = $0 { true } else { false } }
        fails(FrameRequest(.uniform(count: 2), start: .nan)) { if case .invalidRequest = $0 { true } else { false } }
    }
}

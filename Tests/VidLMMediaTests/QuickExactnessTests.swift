import XCTest
@testable import VidLMMedia

final class QuickExactnessTests: XCTestCase {
    func testEveryFrameCarriesItsIndex() async throws {
        for clip in ["cfr_bframes.mp4", "open_gop.mp4", "vfr.mp4", "start_offset.ts", "start_offset.mp4", "no_duration.mkv", "rotated90.mp4", "rotated180.mp4", "rotated270.mp4", "animated.gif"] {
            let d = try await MediaDecoder.open(Fixtures.media(clip))
            let t = try await d.timeline()
            let frames = try await collect(d.frames(FrameRequest(.all)))
            XCTAssertEqual(frames.map(\.index), Array(0..<t.count), clip)
            for f in frames { XCTAssertEqual(readIndexCode(f.image), f.index, "\(clip) frame \(f.index)") }
            // Sparse, backwards-spanning request through the parallel path.
            let wanted = [t.count - 1, 0, t.count / 2, t.count / 3, 1].sorted()
            let some = try await collect(d.frames(FrameRequest(.timestamps(wanted.map { t.seconds(ofPts: t.pts[$0]) }))))
            XCTAssertEqual(some.map(\.index), Array(Set(wanted)).sorted(), clip)
            for f in some { XCTAssertEqual(readIndexCode(f.image), f.index, "\(clip) sparse frame \(f.index)") }
            print(clip, t.count, "keyframes", t.keyframes.count, await d.statistics)
        }
    }
}

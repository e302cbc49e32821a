import Foundation
import XCTest
import VidLMMedia
@testable import VidLM

/// A clip's frame count, duration and fps as transformers' video processors read them (torchcodec's
/// exact scan), and SmolVLM's sampled frames from them, on clips with awkward time bases
/// (tools/parity/make_video_timing_fixtures.py). The duration must be the same float64, not one
/// ulp off: SmolVLM starts at frame `int(1 s × fps)`, which 9.999999999999998 fps turns from 10
/// into 9, and its prompt prints each frame's `index / fps` seconds. Where packets state no duration
/// (FLV), torchcodec's clip ends at the last frame's pts, one frame shorter than vidlm's own
/// timeline (which gives that frame the average frame's length so a time range can reach it).
final class VideoTimingParityTests: XCTestCase {
    struct Sample: Decodable {
        let fps: Double
        let max_frames: Int
        let indices: [Int]
        let timestamps: [Double]
    }

    struct Clip: Decodable {
        let file: String
        let num_frames: Int
        let duration_seconds: Double
        let average_fps: Double
        let samples: [Sample]
    }

    struct Expected: Decodable { let clips: [Clip] }

    func testDurationFPSAndSmolVLMSamplingMatchTransformers() async throws {
        let folder = Fixtures.repo.appendingPathComponent("Tests/Fixtures/media/timing")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
        XCTAssertEqual(expected.clips.count, 5)
        for clip in expected.clips {
            let decoder = try await MediaDecoder.open(folder.appendingPathComponent(clip.file).path)
            let t = try await decoder.timeline()
            XCTAssertEqual(t.count, clip.num_frames, "\(clip.file): frames")
            XCTAssertEqual(t.sampledDurationSeconds, clip.duration_seconds, "\(clip.file): duration")
            let info = ClipInfo(kind: .video, frameCount: t.count, durationSeconds: t.sampledDurationSeconds)
            XCTAssertEqual(info.averageFPS, clip.average_fps, "\(clip.file): fps")
            for s in clip.samples {
                let indices = SmolVLMFamily.sampleIndices(frameCount: info.frameCount, fps: info.averageFPS,
                                                          duration: info.durationSeconds, targetFPS: s.fps, maxFrames: s.max_frames)
                XCTAssertEqual(indices, s.indices, "\(clip.file): fps \(s.fps), at most \(s.max_frames)")
                XCTAssertEqual(indices.map { Double($0) / info.averageFPS }, s.timestamps, "\(clip.file): timestamps")
            }
        }
    }
}

extension VideoTimingParityTests {
    /// vidlm's own timeline still lets the last FLV frame last one average frame (25 fps: 0.04 s),
    /// so `frames --start/--end` and the probe's rate see a 2.52 s, 25 fps clip.
    func testOwnTimelineKeepsTheLastFrameOnScreen() async throws {
        let path = Fixtures.repo.appendingPathComponent("Tests/Fixtures/media/timing/flv_no_durations.flv").path
        let t = try await MediaDecoder.open(path).timeline()
        XCTAssertEqual(t.sampledDurationSeconds, 2.48, accuracy: 1e-12)
        XCTAssertEqual(t.durationSeconds, 2.52, accuracy: 1e-12)
        XCTAssertEqual(t.index(displayedAt: 2.5), 62)
    }
}

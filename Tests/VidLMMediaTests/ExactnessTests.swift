import Foundation
import XCTest
@testable import VidLMMedia

/// Tests/Fixtures/media/exactness/expected.json: what ffprobe said about every frame of the
/// exactness clips (tools/media/make_test_clips.py --only exactness).
struct ExactnessSet: Decodable {
    let clips: [String: Clip]

    struct Clip: Decodable {
        let formatName: String
        let codecName: String
        let timeBase: [Int]
        let frameCount: Int
        let nbFrames: Int?
        /// "sample_table" or "packet_scan": how vidlm should build the timeline.
        let timelinePath: String
        let frameCountSource: String
        /// Every frame's pts in presentation order (frames may share one).
        let pts: [Int64]
        let endPts: Int64
        let keyframePts: [Int64]
        /// Packets carry dts only: `pts` are the sorted dts (frame slots).
        let decodeTimestampsOnly: Bool
        let sharedPts: [Int64]
        /// H.264 only: the packets whose picture libavcodec skips with `-skip_frame noref`, by
        /// decode position and by presentation index.
        let nonReferenceDecodeOrder: [Int]?
        let nonReferenceFrames: [Int]?
        let block: Int

        var tick: Double { Double(timeBase[0]) / Double(timeBase[1]) }
        var durationSeconds: Double { Double(endPts - pts[0]) * tick }

        /// The frame on screen at clip time `t`: the last frame whose pts ≤ t (the tolerance
        /// vidlm documents, so a time computed from a pts maps to that frame).
        func index(at t: Double) -> Int {
            let target = pts[0] + Int64((t / tick + 1e-6).rounded(.down))
            return max(0, (pts.lastIndex { $0 <= target }) ?? 0)
        }
    }

    static let shared: ExactnessSet = {
        let url = Fixtures.root.appendingPathComponent("media/exactness/expected.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(ExactnessSet.self, from: Data(contentsOf: url))
        } catch {
            preconditionFailure("Tests/Fixtures/media/exactness/expected.json is unreadable: \(error)")
        }
    }()

    static var names: [String] { shared.clips.keys.sorted() }
    static func clip(_ name: String) -> Clip { shared.clips[name]! }
    static func path(_ name: String) -> String { Fixtures.media("exactness/\(name)") }
}

/// Exact sampling on every timeline path (MP4 sample table; packet scan for Matroska, MPEG-TS,
/// WebM/VP9, AVI/MJPEG, and variable-rate MP4) at constant and variable rate, including frames
/// that share a pts: every frame returned shows the index it is reported under, and its pts is
/// ffprobe's for that frame.
final class ExactnessTests: XCTestCase {
    private func checkFrames(_ frames: [VideoFrame], _ name: String, file: StaticString = #filePath,
                             line: UInt = #line) {
        let c = ExactnessSet.clip(name)
        for f in frames {
            XCTAssertEqual(readIndexCode(f.image, block: c.block), f.index, "\(name): content of frame \(f.index)",
                           file: file, line: line)
            XCTAssertEqual(f.pts, c.pts[f.index], "\(name): pts of frame \(f.index)", file: file, line: line)
            XCTAssertEqual(f.seconds, Double(c.pts[f.index] - c.pts[0]) * c.tick, accuracy: 1e-9,
                           "\(name): seconds of frame \(f.index)", file: file, line: line)
        }
    }

    private func sample(_ name: String, _ request: FrameRequest, expected: [Int], file: StaticString = #filePath,
                        line: UInt = #line) async throws {
        let d = try await MediaDecoder.open(ExactnessSet.path(name))
        let planned = try await d.plan(request)
        XCTAssertEqual(planned, expected, "\(name) \(request.selection): planned", file: file, line: line)
        let frames = try await collect(d.frames(request))
        XCTAssertEqual(frames.map(\.index), expected, "\(name) \(request.selection): returned", file: file, line: line)
        checkFrames(frames, name, file: file, line: line)
    }

    private static func dedupe(_ xs: [Int]) -> [Int] {
        var out: [Int] = []
        for x in xs where out.last != x { out.append(x) }
        return out
    }

    func testSetCoversEveryTimelinePathAndContainer() {
        let clips = ExactnessSet.shared.clips
        func has(_ f: (String, ExactnessSet.Clip) -> Bool) -> Bool { clips.contains { f($0.key, $0.value) } }
        XCTAssertTrue(has { $1.timelinePath == "sample_table" && $1.formatName.contains("mp4") })
        for (ext, format, codec) in [("mkv", "matroska", "h264"), ("ts", "mpegts", "h264"), ("webm", "matroska", "vp9"),
                                     ("avi", "avi", "mjpeg"), ("mp4", "mp4", "h264")] {
            for rate in ["cfr_", "vfr_"] {
                XCTAssertTrue(has { $0.hasPrefix(rate) && $0.hasSuffix("." + ext) && $1.formatName.contains(format)
                        && $1.codecName == codec }, "\(rate)*.\(ext)")
            }
        }
        XCTAssertTrue(has { $0.hasSuffix(".mkv") && !$1.sharedPts.isEmpty }, "Matroska with frames sharing a pts")
        XCTAssertTrue(has { $0.hasSuffix(".avi") && $1.codecName == "h264" && $1.decodeTimestampsOnly },
                      "AVI with B-frames: decode timestamps only")
        XCTAssertTrue(has { $0.hasSuffix(".mkv") && $0.hasPrefix("ratechange") && $1.sharedPts.isEmpty })
    }

    /// The timeline is ffprobe's, from the path the container calls for (the sample table reads
    /// no packet; a scan reads each once), and a forced scan agrees.
    func testTimelineIsFFprobesPts() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            let d = try await MediaDecoder.open(ExactnessSet.path(name))
            let t = try await d.timeline()
            XCTAssertEqual(t.pts, c.pts, name)
            XCTAssertEqual(t.endPts, c.endPts, name)
            XCTAssertEqual(t.hasSharedPts, !c.sharedPts.isEmpty, name)
            XCTAssertEqual(t.timestampsFromDecodeOrder, c.decodeTimestampsOnly, name)
            XCTAssertEqual(t.keyframes.map(\.pts), c.keyframePts, "\(name) key frames")
            let read = await d.statistics.packetsRead
            XCTAssertEqual(read, c.timelinePath == "sample_table" ? 0 : c.frameCount, "\(name): packets read")
            let scanned = try await d.timeline(forceScan: true)
            XCTAssertEqual(scanned.pts, c.pts, "\(name) (scanned)")
            XCTAssertEqual(scanned.keyframes.map(\.pts), c.keyframePts, "\(name) key frames (scanned)")
        }
    }

    func testAllFramesInOrder() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            try await sample(name, FrameRequest(.all), expected: Array(0..<c.frameCount))
        }
    }

    /// `--count n`: the frame on screen at the centre of each of n equal segments.
    func testCountSamplingIsExact() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            for n in [1, 8, 13, c.frameCount] {
                let expected = Self.dedupe((0..<n).map { c.index(at: (Double($0) + 0.5) * c.durationSeconds / Double(n)) })
                try await sample(name, FrameRequest(.uniform(count: n)), expected: expected)
            }
        }
    }

    /// `--fps r`: the frame on screen at k/r seconds.
    func testFpsSamplingIsExact() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            for rate in [1.0, 2.5, 7, 30] {
                var times: [Double] = []
                var k = 0
                while Double(k) / rate < c.durationSeconds { times.append(Double(k) / rate); k += 1 }
                try await sample(name, FrameRequest(.fps(rate: rate, maxFrames: nil)), expected: Self.dedupe(times.map(c.index(at:))))
            }
        }
    }

    /// One decoder asked for frames backwards, forwards and across key frames, including both
    /// frames that share a pts, in either order.
    func testRandomAccessInAnyOrder() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            let n = c.frameCount
            var order = Array(stride(from: n - 1, through: 0, by: -7)) + Array(stride(from: 3, to: n, by: 5))
            for p in c.sharedPts {
                let first = try XCTUnwrap(c.pts.firstIndex(of: p))
                order += [first + 1, first, first + 1, first - 1, first, n - 1, first]
            }
            let d = try await MediaDecoder.open(ExactnessSet.path(name))
            var frames: [VideoFrame] = []
            for i in order {
                let f = try await d.frame(at: i)
                XCTAssertEqual(f.index, i, "\(name): asked for \(i)")
                frames.append(f)
            }
            checkFrames(frames, name)
        }
    }

    /// A decoder that served a planned request (told its frames, so it skipped unwanted
    /// non-reference frames past each) still returns exact frames when asked for others,
    /// including the neighbours of the frames it was told about.
    func testDirectAccessAfterAPlannedRequest() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            let n = c.frameCount
            let d = try await MediaDecoder.open(ExactnessSet.path(name))
            let planned = try await collect(d.frames(FrameRequest(.uniform(count: 6))))
            var order: [Int] = []
            for f in planned { order += [f.index, min(n - 1, f.index + 1), min(n - 1, f.index + 2)] }
            order += [0, n / 2, n / 2 + 1]
            var frames: [VideoFrame] = planned
            for i in order {
                let f = try await d.frame(at: i)
                XCTAssertEqual(f.index, i, "\(name): asked for \(i)")
                frames.append(f)
            }
            checkFrames(frames, name)
        }
    }

    func testKeyframeModeReportsTrueIndices() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            let d = try await MediaDecoder.open(ExactnessSet.path(name))
            let request = FrameRequest(.uniform(count: 8), mode: .nearestKeyframe)
            let frames = try await collect(d.frames(request))
            XCTAssertFalse(frames.isEmpty, name)
            let plan = try await d.plan(request)
            XCTAssertEqual(frames.map(\.index), plan, "\(name): every planned key frame comes out")
            checkFrames(frames, name)
            for f in frames { XCTAssertTrue(c.keyframePts.contains(f.pts), "\(name): \(f.index) is not a key frame") }
        }
    }

    /// MPEG-TS seeks are approximate: a seek to the second key frame of this 4-frame clip (key
    /// frames 0 and 2) lands elsewhere, and key-frame mode used to return frame 0 twice (the
    /// repeat then dropped), so 2 planned frames gave 1.
    func testKeyframeModeOnAnApproximateSeekDemuxer() async throws {
        let path = Fixtures.root.appendingPathComponent("media/tiny_mpeg2.ts").path
        let d = try await MediaDecoder.open(path)
        let request = FrameRequest(.uniform(count: 2), mode: .nearestKeyframe)
        let plan = try await d.plan(request)
        XCTAssertEqual(plan, [0, 2])
        let frames = try await collect(d.frames(request))
        XCTAssertEqual(frames.map(\.index), [0, 2])
        let near3 = try await d.keyframe(near: 3), near0 = try await d.keyframe(near: 0)
        XCTAssertEqual(near3.index, 2)
        XCTAssertEqual(near0.index, 0)
    }

    /// probe counts frames exactly: from the MP4 sample table, else by scanning; the average rate
    /// of a scanned clip is frames / duration, not the container's guess from the first frames.
    func testProbeCountsFramesExactly() async throws {
        for name in ExactnessSet.names {
            let c = ExactnessSet.clip(name)
            let info = try await MediaDecoder.open(ExactnessSet.path(name)).probe()
            let v = try XCTUnwrap(info.video, name)
            XCTAssertEqual(v.frameCount, c.frameCount, name)
            XCTAssertEqual(v.frameCountSource, c.frameCountSource, name)
            XCTAssertNotNil(info.durationSeconds, name)
            if c.frameCountSource == "scan" {
                XCTAssertEqual(v.averageFpsSource, "scan", name)
                XCTAssertEqual(try XCTUnwrap(v.averageFps), Double(c.frameCount) / c.durationSeconds, accuracy: 1e-9, name)
            }
        }
    }
}

import XCTest
@testable import VidLMMedia

/// Every sampling mode returns exactly the planned frames, and each frame's pixels carry the
/// index the decoder claims (the code drawn by the fixture generator).
final class SamplingTests: XCTestCase {
    private func check(_ name: String, _ request: FrameRequest, file: StaticString = #filePath, line: UInt = #line) async throws -> [VideoFrame] {
        let d = try await MediaDecoder.open(Fixtures.media(name))
        let planned = try await d.plan(request)
        let frames = try await collect(d.frames(request))
        XCTAssertEqual(frames.map(\.index), planned, "\(name) \(request.selection)", file: file, line: line)
        let block = MediaManifest.entry(name).block ?? 8
        for f in frames {
            XCTAssertEqual(readIndexCode(f.image, block: block), f.index, "\(name) frame \(f.index)", file: file, line: line)
        }
        return frames
    }

    func testAllFramesInPresentationOrder() async throws {
        for name in MediaManifest.clips {
            let frames = try await check(name, FrameRequest(.all))
            XCTAssertEqual(frames.map(\.index), Array(0..<MediaManifest.pts(name).count), name)
            XCTAssertEqual(frames.map(\.pts), MediaManifest.pts(name), name)
        }
    }

    func testUniformTakesSegmentCentres() async throws {
        for name in MediaManifest.clips {
            let frames = try await check(name, FrameRequest(.uniform(count: 8)))
            XCTAssertEqual(frames.count, 8, name)
            if name == "cfr_bframes.mp4" {
                // Constant rate: index ⌊(i + ½)·N/n⌋ with N = 100, n = 8.
                XCTAssertEqual(frames.map(\.index), (0..<8).map { Int((Double($0) + 0.5) * 100 / 8) })
            }
        }
    }

    func testFpsAndRangeAndTimestamps() async throws {
        for name in MediaManifest.clips {
            let pts = MediaManifest.pts(name)
            _ = try await check(name, FrameRequest(.fps(rate: 5, maxFrames: nil)))
            _ = try await check(name, FrameRequest(.fps(rate: 100, maxFrames: 6)))
            let d = try await MediaDecoder.open(Fixtures.media(name))
            let t = try await d.timeline()
            let mid = t.durationSeconds / 2
            let ranged = try await check(name, FrameRequest(.uniform(count: 3), start: mid, end: t.durationSeconds))
            XCTAssertTrue(ranged.allSatisfy { $0.seconds >= t.seconds(ofPts: t.pts[t.index(displayedAt: mid)]) }, name)
            // Exact timestamps of frames, given out of order, come back sorted.
            let wanted = [pts.count - 1, pts.count / 3, 0, 1]
            let times = wanted.map { t.seconds(ofPts: pts[$0]) }
            let picked = try await check(name, FrameRequest(.timestamps(times)))
            XCTAssertEqual(picked.map(\.index), Array(Set(wanted)).sorted(), name)
        }
    }

    /// Frames displayed before an open-GOP key frame but decoded after it need the GOP before.
    func testOpenGopLeadingFramesAreExact() async throws {
        let name = "open_gop.mp4"
        let pts = MediaManifest.pts(name)
        let leading = try XCTUnwrap(MediaManifest.entry(name).leadingFrames).flatMap(\.leadingPts)
        XCTAssertFalse(leading.isEmpty)
        for p in leading {
            let index = try XCTUnwrap(pts.firstIndex(of: p))
            let d = try await MediaDecoder.open(Fixtures.media(name))
            let f = try await d.frame(at: index)
            XCTAssertEqual(f.index, index)
            XCTAssertEqual(readIndexCode(f.image), index, "leading frame \(index)")
        }
    }

    /// Every frame of the open-GOP clip asked for alone, as a one-frame request (the decoder
    /// drains right after the frame's packet). After an open-GOP key frame libavcodec withholds
    /// the frames that reference its leading pictures, even when drained: frames 32, 34, 62, …
    /// came back as their neighbours until the decoder learned to start a GOP earlier.
    func testEveryFrameAloneAfterAnOpenGopKeyframe() async throws {
        let name = "open_gop.mp4"
        let count = MediaManifest.pts(name).count
        for index in 0..<count {
            let d = try await MediaDecoder.open(Fixtures.media(name))
            let frames = try await collect(d.frames(FrameRequest(.indices([index]))))
            XCTAssertEqual(frames.map(\.index), [index], "\(name): asked for \(index)")
            if let f = frames.first { XCTAssertEqual(readIndexCode(f.image), index, "\(name): pixels of \(index)") }
        }
    }

    func testKeyframeModeReturnsKeyframesWithTrueIndices() async throws {
        for name in ["cfr_bframes.mp4", "open_gop.mp4", "long_10h.mp4"] {
            let keyPts = Set(try XCTUnwrap(MediaManifest.entry(name).keyframePts))
            let frames = try await check(name, FrameRequest(.uniform(count: 8), mode: .nearestKeyframe))
            XCTAssertFalse(frames.isEmpty)
            for f in frames { XCTAssertTrue(keyPts.contains(f.pts), "\(name): \(f.index) is not a key frame") }
        }
    }

    func testSparseRequestOnTenHourClipDecodesOnlyNearTargets() async throws {
        let name = "long_10h.mp4"
        let d = try await MediaDecoder.open(Fixtures.media(name), threads: 1)
        let planned = try await d.plan(FrameRequest(.uniform(count: 8)))
        for index in planned {
            let f = try await d.frame(at: index)
            XCTAssertEqual(readIndexCode(f.image), index)
        }
        let stats = await d.statistics
        // keyint 250: at most one GOP per target, out of 36000 frames.
        XCTAssertLessThanOrEqual(stats.framesDecoded, 8 * 250)
        XCTAssertLessThanOrEqual(stats.packetsRead, 8 * 250)
        _ = try await check(name, FrameRequest(.uniform(count: 8)))
    }

    func testRotatedClipsComeOutUpright() async throws {
        for name in ["rotated90.mp4", "rotated180.mp4", "rotated270.mp4"] {
            let frames = try await check(name, FrameRequest(.uniform(count: 3)))
            for f in frames {
                XCTAssertEqual(f.image.width, 160, name)
                XCTAssertEqual(f.image.height, 96, name)
                let (r, g, b) = f.image.pixel(x: 8, y: 96 - 8)  // red marker, bottom-left
                XCTAssertTrue(r > 200 && g < 60 && b < 60, "\(name): marker is (\(r),\(g),\(b))")
            }
        }
    }

    func testOutputSizeScalesAfterRotation() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("rotated90.mp4"))
        let f = try await collect(d.frames(FrameRequest(.uniform(count: 1), size: PixelSize(width: 320, height: 192))))
        XCTAssertEqual(f[0].image.width, 320)
        XCTAssertEqual(f[0].image.height, 192)
        XCTAssertEqual(readIndexCode(f[0].image, scale: 2), f[0].index)
    }

    func testStillImagesAreOneFrameClips() async throws {
        for name in MediaManifest.stills {
            let d = try await MediaDecoder.open(Fixtures.media(name))
            let frames = try await collect(d.frames(FrameRequest(.uniform(count: 8))))
            XCTAssertEqual(frames.count, 1, name)
            XCTAssertEqual(frames[0].index, 0)
            XCTAssertEqual(frames[0].image.width, 160)
            XCTAssertEqual(readIndexCode(frames[0].image), 1234, name)
            let (r, g, b) = frames[0].image.pixel(x: 8, y: 96 - 8)
            XCTAssertTrue(r > 200 && g < 60 && b < 60, "\(name) marker (\(r),\(g),\(b))")
        }
    }

    func test8KImageScaledOnDecode() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("huge_8k.png"))
        let frames = try await collect(d.frames(FrameRequest(.uniform(count: 1), size: PixelSize(width: 480, height: 270))))
        XCTAssertEqual(frames.count, 1)
        XCTAssertEqual(frames[0].image.pixels.count, 480 * 270 * 3)
        XCTAssertEqual(readIndexCode(frames[0].image, block: 64, scale: 480.0 / 7680.0), 4321)
    }

    func testDamagedPacketIsSkippedWithAWarning() async throws {
        let warnings = WarningCollector()
        let previous = Diagnostics.setSink { warnings.add($0) }
        defer { Diagnostics.setSink(previous) }
        let damaged = try XCTUnwrap(MediaManifest.entry("corrupt_middle.mp4").damaged)
        let d = try await MediaDecoder.open(Fixtures.media("corrupt_middle.mp4"))
        let frames = try await collect(d.frames(FrameRequest(.all)))
        let indices = frames.map(\.index)
        XCTAssertFalse(indices.contains(damaged.frameIndex), "the damaged frame has no picture")
        XCTAssertEqual(indices, indices.sorted())
        XCTAssertEqual(Set(indices).count, indices.count)
        for f in frames where f.index < damaged.affectedFrameRange[0] || f.index > damaged.affectedFrameRange[1] {
            XCTAssertEqual(readIndexCode(f.image), f.index)
        }
        XCTAssertFalse(warnings.lines.isEmpty)
    }
}

final class WarningCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func add(_ s: String) { lock.lock(); stored.append(s); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}

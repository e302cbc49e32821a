import XCTest
@testable import VidLMMedia

final class ProbeTests: XCTestCase {
    func testProbeMatchesFFprobe() async throws {
        for name in MediaManifest.clips + MediaManifest.stills + ["long_10h.mp4", "huge_8k.png"] {
            let e = MediaManifest.entry(name)
            let info = try await MediaDecoder.open(Fixtures.media(name)).probe()
            let v = try XCTUnwrap(info.video, name)
            XCTAssertEqual(info.container, e.formatName, name)
            XCTAssertEqual(v.codec, e.codecName, name)
            XCTAssertEqual(v.width, e.codedWidth, name)
            XCTAssertEqual(v.height, e.codedHeight, name)
            XCTAssertEqual(v.displayWidth, e.displayWidth, name)
            XCTAssertEqual(v.displayHeight, e.displayHeight, name)
            // ffprobe reports counter-clockwise degrees; vidlm the clockwise turn that uprights.
            XCTAssertEqual(v.rotation, ((-(e.rotation ?? 0)) % 360 + 360) % 360, name)
            XCTAssertEqual(v.frameCount, e.frameCount, name)
            XCTAssertEqual(info.isStillImage, e.kind == "image", name)
            if e.kind == "video" {
                XCTAssertEqual(v.timeBase, "\(e.timeBase![0])/\(e.timeBase![1])", name)
                XCTAssertEqual(v.startPts, e.startPts, name)
                XCTAssertEqual(v.averageFrameRate, "\(e.avgFrameRate![0])/\(e.avgFrameRate![1])", name)
                XCTAssertNotNil(info.durationSeconds, name)
            }
        }
    }

    func testDurationAndFrameCountFromScanWhenContainerHasNone() async throws {
        let info = try await MediaDecoder.open(Fixtures.media("no_duration.mkv")).probe()
        XCTAssertEqual(info.durationSource, "scan")
        XCTAssertEqual(info.video?.frameCountSource, "scan")
        XCTAssertEqual(info.video?.frameCount, 50)
        XCTAssertEqual(try XCTUnwrap(info.durationSeconds), 2.0, accuracy: 1e-9)
    }

    /// A long MP4 states its exact frame count in the sample table: probe reads no packet.
    func testProbeOfLongMP4ReadsNoPackets() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("long_10h.mp4"))
        let info = try await d.probe()
        XCTAssertEqual(info.video?.frameCount, 36000)
        XCTAssertEqual(info.video?.frameCountSource, "container")
        XCTAssertEqual(info.video?.averageFpsSource, "container")
        let read = await d.statistics.packetsRead
        XCTAssertEqual(read, 0)
    }

    func testAudioOnlyProbesButHasNoVideo() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("audio_only.m4a"))
        let info = try await d.probe()
        XCTAssertNil(info.video)
        XCTAssertEqual(info.audioStreamCount, 1)
        await assertThrowsMediaError({ if case .noVideoStream = $0 { true } else { false } }) {
            try await d.plan(FrameRequest(.uniform(count: 4)))
        }
    }

    func testProbeJSONUsesSnakeCaseKeys() throws {
        let info = MediaInfo(path: "a", container: "c", durationSeconds: 1, durationSource: "container", bitRate: nil,
                             streamCount: 1, audioStreamCount: 0, isStillImage: false, video: nil)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let text = String(decoding: try encoder.encode(info), as: UTF8.self)
        XCTAssertTrue(text.contains("\"duration_seconds\""))
        XCTAssertTrue(text.contains("\"is_still_image\""))
    }
}

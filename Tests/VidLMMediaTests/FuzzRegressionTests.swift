import Foundation
import XCTest
@testable import VidLMMedia

/// Inputs the media fuzz target (Fuzz/Sources/fuzz-media) found problems with, replayed the way
/// the target drives the decoder: each must give frames or a MediaError, never a crash.
/// (Leaks show under `swift test --sanitize=address` or `make fuzz`.)
final class MediaFuzzRegressionTests: XCTestCase {
    private static let folder = Fixtures.root.appendingPathComponent("fuzz/media")

    /// What fuzz-media does with one input.
    private func exercise(_ path: String) async throws(MediaError) {
        let d = try await MediaDecoder.open(path, threads: 1)
        _ = try await d.probe()
        let t = try await d.timeline()
        let small = PixelSize(width: 32, height: 24)
        for request in [FrameRequest(.uniform(count: 3), size: small),
                        FrameRequest(.uniform(count: 2), mode: .nearestKeyframe, size: small)] {
            do {
                for try await f in d.frames(request) { XCTAssertEqual(f.image.width, 32) }
            } catch let e as MediaError {
                _ = e  // a typed error is an acceptable outcome for damaged data
            } catch {
                XCTFail("frames threw \(error)")
            }
        }
        _ = try? await d.frame(at: t.count - 1, size: small)
        _ = try await d.timeline(forceScan: true)
    }

    func testEveryRegressionInputEndsCleanly() async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).sorted()
        XCTAssertFalse(names.isEmpty)
        for name in names {
            do { try await exercise(Self.folder.appendingPathComponent(name).path) } catch { _ = error.description }
        }
    }

    /// A WebP whose alpha chunk libwebp refuses: it used to fall back to libav's WebP decoder,
    /// which aborted the process (an assertion in avcodec_send_packet). Now it is an error.
    func testDamagedWebPIsAnErrorNotAnAbort() async throws {
        let path = Self.folder.appendingPathComponent("webp-alpha-libav-abort").path
        let d = try await MediaDecoder.open(path, threads: 1)
        await assertThrowsMediaError({ $0.description.contains("libwebp cannot decode") }) {
            try await d.frame(at: 0)
        }
    }

    /// avformat_find_stream_info fails after avformat_open_input succeeded: the input used to be
    /// closed in init and again in deinit (SEGV in avformat_close_input).
    func testStreamInfoFailureIsAnErrorNotADoubleFree() async {
        let path = Self.folder.appendingPathComponent("find-stream-info-fails").path
        for _ in 0..<3 {
            await assertThrowsMediaError({ if case .unreadable = $0 { true } else { false } }) {
                try await MediaDecoder.open(path)
            }
        }
    }

    /// Key-frame requests and scans on this MPEG-TS rewind through the path whose checked seek
    /// fails (the packet read back is kept only when decoding can start there); it used to leak
    /// that packet each time.
    func testRewindOnMPEGTSKeepsWorking() async throws {
        let path = Self.folder.appendingPathComponent("rewind-check-fails-ts").path
        let d = try await MediaDecoder.open(path, threads: 1)
        let t = try await d.timeline()
        XCTAssertEqual(t.count, 4)
        for _ in 0..<3 {
            _ = try await d.keyframe(near: 0)
            let first = try await d.frame(at: 0)
            XCTAssertEqual(first.index, 0)
            _ = try await d.frame(at: t.count - 1)
            let scanned = try await d.timeline(forceScan: true)
            XCTAssertEqual(scanned.count, 4)
        }
    }
}

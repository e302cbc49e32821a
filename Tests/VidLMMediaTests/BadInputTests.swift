import XCTest
@testable import VidLMMedia

/// Every bad input is one clear typed error, never a crash or a hang.
final class BadInputTests: XCTestCase {
    private func openFails(_ path: String, _ match: (MediaError) -> Bool, line: UInt = #line) async {
        await assertThrowsMediaError(match, line: line) {
            let d = try await MediaDecoder.open(path)
            return try await collect(d.frames(FrameRequest(.uniform(count: 4))))
        }
    }

    func testMissingPathDirectoryAndEmptyFile() async {
        await openFails("/nonexistent/clip.mp4") { if case .fileNotFound = $0 { true } else { false } }
        await openFails(Fixtures.root.path) { if case .isDirectory = $0 { true } else { false } }
        await openFails(Fixtures.media("empty.mp4")) { if case .emptyFile = $0 { true } else { false } }
    }

    func testNotMediaAndTruncated() async {
        await openFails(Fixtures.media("text.mp4")) { if case .unreadable = $0 { true } else { false } }
        await openFails(Fixtures.media("truncated.mp4")) { if case .unreadable = $0 { true } else { false } }
    }

    func testAudioOnlyAndUnknownCodec() async {
        await openFails(Fixtures.media("audio_only.m4a")) { if case .noVideoStream = $0 { true } else { false } }
        await openFails(Fixtures.media("unknown_codec.mp4")) {
            if case .unsupportedCodec(let name) = $0 { name.contains("zzzz") } else { false }
        }
    }

    func testErrorsReadAsOneSentence() {
        let errors: [MediaError] = [.fileNotFound("a.mp4"), .isDirectory("d"), .emptyFile("e.mp4"),
                                    .unreadable(path: "t.mp4", reason: "unrecognised or damaged data"),
                                    .noVideoStream("a.m4a"), .unsupportedCodec(name: "'zzzz'"),
                                    .startAfterEnd(start: 9, duration: 4), .frameTooLarge(width: 40000, height: 10, limit: 16384)]
        for e in errors {
            let text = e.description
            XCTAssertTrue(text.hasSuffix("."), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
    }

    func testStartAfterEndAndZeroCount() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("cfr_bframes.mp4"))
        await assertThrowsMediaError({ if case .startAfterEnd = $0 { true } else { false } }) {
            try await collect(d.frames(FrameRequest(.uniform(count: 4), start: 60)))
        }
        await assertThrowsMediaError({ if case .invalidRequest = $0 { true } else { false } }) {
            try await collect(d.frames(FrameRequest(.uniform(count: 0))))
        }
        await assertThrowsMediaError({ if case .invalidRequest = $0 { true } else { false } }) {
            try await d.frame(at: 100)
        }
    }

    func testOversizedOutputIsRefused() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("still.png"))
        await assertThrowsMediaError({ if case .invalidRequest = $0 { true } else { false } }) {
            try await d.frame(at: 0, size: PixelSize(width: 100_000, height: 10))
        }
    }
}

/// Ending or cancelling a consumer stops decoding; frame folders appear whole or not at all.
final class StreamingTests: XCTestCase {
    func testBreakingOutStopsTheProducers() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("long_10h.mp4"))
        var seen = 0
        for try await _ in d.frames(FrameRequest(.all)) {
            seen += 1
            if seen == 3 { break }
        }
        XCTAssertEqual(seen, 3)
    }

    func testCancellingTheConsumerEndsTheStream() async throws {
        let d = try await MediaDecoder.open(Fixtures.media("long_10h.mp4"))
        let counter = WarningCollector()
        let task = Task {
            for try await f in d.frames(FrameRequest(.all)) { counter.add("\(f.index)") }
        }
        while counter.lines.count < 2 { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        let result = await task.result
        let count = counter.lines.count
        XCTAssertLessThan(count, 36000)
        if case .success = result {
            // Ended quietly after cancellation: fine, as long as it ended early.
        }
    }

    func testFolderAppearsWhole() async throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: parent) }
        let out = parent.appendingPathComponent("frames")
        let d = try await MediaDecoder.open(Fixtures.media("cfr_bframes.mp4"))
        let written = try await FrameFolderWriter.write(d.frames(FrameRequest(.uniform(count: 4))), to: out)
        XCTAssertEqual(written.map(\.file), ["frame-000.png", "frame-001.png", "frame-002.png", "frame-003.png"])
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(names, written.map(\.file) + ["frames.json"])
        let json = try JSONDecoder().decode([ExportedFrame].self, from: Data(contentsOf: out.appendingPathComponent("frames.json")))
        XCTAssertEqual(json, written)
        // The PNGs decode back through the same path with the right index code.
        let png = try await MediaDecoder.open(out.appendingPathComponent("frame-002.png").path)
        let back = try await collect(png.frames(FrameRequest(.uniform(count: 1))))
        XCTAssertEqual(readIndexCode(back[0].image), written[2].index)
        // An existing, non-empty folder is refused.
        do {
            _ = try await FrameFolderWriter.write(d.frames(FrameRequest(.uniform(count: 1))), to: out)
            XCTFail("expected an error")
        } catch let e as MediaError {
            guard case .writeFailed = e else { return XCTFail("\(e)") }
        }
    }

    func testFailedRequestLeavesNothing() async throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: parent) }
        let d = try await MediaDecoder.open(Fixtures.media("cfr_bframes.mp4"))
        do {
            _ = try await FrameFolderWriter.write(d.frames(FrameRequest(.uniform(count: 2), start: 99)), to: parent.appendingPathComponent("out"))
            XCTFail("expected an error")
        } catch is MediaError {}
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), [])
    }
}

import Foundation
import VidLM
import VidLMModels
import XCTest
@testable import VidLMServer

/// Confinement, admission (429), disconnects and concurrency.
final class ServerLimitsTests: XCTestCase {
    func testMediaRootConfinement() async throws {
        // A root holding one clip, a symlink to it (allowed: it stays inside) and symlinks that
        // lead outside (refused), next to a clip outside the root.
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-root-\(UUID().uuidString)")
        let root = base.appendingPathComponent("root"), outside = base.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let clip = SharedEngine.samples.appendingPathComponent("world/sequence.mp4")
        try FileManager.default.copyItem(at: clip, to: root.appendingPathComponent("sub/clip.mp4"))
        try FileManager.default.copyItem(at: clip, to: outside.appendingPathComponent("secret.mp4"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("inside-link.mp4").path, withDestinationPath: "sub/clip.mp4")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("escape.mp4").path,
                                                   withDestinationPath: outside.appendingPathComponent("secret.mp4").path)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("escape-dir").path, withDestinationPath: outside.path)

        let s = try await RunningServer.start { $0.mediaRoot = root.path }
        for allowed in ["sub/clip.mp4", "inside-link.mp4", root.appendingPathComponent("sub/clip.mp4").path,
                        "file://" + root.appendingPathComponent("sub/clip.mp4").path] {
            let r = try await s.post(["messages": videoMessages(allowed)])
            XCTAssertEqual(r.status, 200, "\(allowed): \(r.text)")
            XCTAssertEqual(try content(r), sequenceCaption)
        }
        for refused in ["../outside/secret.mp4", "sub/../../outside/secret.mp4", "escape.mp4", "escape-dir/secret.mp4",
                        outside.appendingPathComponent("secret.mp4").path, "/etc/passwd", "file:///etc/passwd",
                        root.path + "/../outside/secret.mp4"] {
            let r = try await s.post(["messages": videoMessages(refused)])
            XCTAssertEqual(r.status, 403, "\(refused): \(r.text)")
            XCTAssertEqual(try errorObject(r)["type"] as? String, "permission_error")
            let preview = try await s.post(["url": refused], to: "/v1/frames")
            XCTAssertEqual(preview.status, 403, "frames \(refused): \(preview.text)")
        }
        // A folder is not a media file.
        let folder = try await s.post(["messages": videoMessages("sub")])
        XCTAssertEqual(folder.status, 400)
        await s.stop()

        // Without --media-root no path is opened at all.
        let closed = try await RunningServer.start { $0.mediaRoot = nil }
        let r = try await closed.post(["messages": videoMessages(clip.path)])
        XCTAssertEqual(r.status, 403)
        await closed.stop()
    }

    func testQueueFullAnswers429() async throws {
        let latch = Latch()
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let s = try await RunningServer.start({ $0.maxConcurrent = 1; $0.queueLimit = 1 }) {
            enteredContinuation.yield()
            try await latch.wait()
        }
        let body = ["messages": videoMessages("world/sequence.mp4")]
        let first = Task { try await s.post(["messages": videoMessages("world/sequence.mp4")]) }
        var enteredIterator = entered.makeAsyncIterator()
        _ = await enteredIterator.next()                      // the first holds the only slot
        let second = Task { try await s.post(["messages": videoMessages("world/sequence.mp4")]) }
        try await eventually("the second request waits in the queue") { await s.server.gate.queueDepth == 1 }
        let third = try await s.post(body)                    // no slot, no room in the queue
        XCTAssertEqual(third.status, 429, third.text)
        XCTAssertEqual(third.headers["retry-after"], "1")
        XCTAssertEqual(try errorObject(third)["code"] as? String, "queue_full")
        let metrics = try await s.get("/metrics")
        XCTAssertTrue(metrics.text.contains("vidlm_queue_depth 1"), metrics.text)
        XCTAssertTrue(metrics.text.contains("vidlm_requests_running 1"), metrics.text)
        await latch.open()
        let a = try await first.value, b = try await second.value
        XCTAssertEqual(try content(a), sequenceCaption)
        XCTAssertEqual(try content(b), sequenceCaption)
        await s.stop()
    }

    /// A client that closes its connection cancels its request: the work in flight sees
    /// cancellation, the slot comes back and the next request runs.
    func testDisconnectCancelsTheRequest() async throws {
        for stream in [true, false] {
            let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
            let (cancelled, cancelledContinuation) = AsyncStream<ContinuousClock.Instant>.makeStream()
            let s = try await RunningServer.start({ $0.maxConcurrent = 1; $0.queueLimit = 0 }) {
                enteredContinuation.yield()
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    cancelledContinuation.yield(.now)
                    throw error
                }
            }
            let body = try JSONSerialization.data(withJSONObject: ["messages": videoMessages("world/sequence.mp4"), "stream": stream])
            var connection: RawHTTPConnection? = try RawHTTPConnection(port: s.port)
            try connection?.send(method: "POST", path: "/v1/chat/completions", body: body)
            var enteredIterator = entered.makeAsyncIterator()
            _ = await enteredIterator.next()
            let closedAt = ContinuousClock.now
            connection = nil                                  // closes the socket
            var cancelledIterator = cancelled.makeAsyncIterator()
            let next = await cancelledIterator.next()
            let cancelledAt = try XCTUnwrap(next)
            print("disconnect → cancellation (stream: \(stream)): \(cancelledAt - closedAt)")
            try await eventually("the slot is given back") { await s.server.gate.running == 0 }
            await s.stop()
        }
    }

    /// Requests computing side by side give exactly the answers (token ids) they give one at a time.
    func testConcurrentRequestsMatchSequentialOnes() async throws {
        let s = try await RunningServer.start { $0.maxConcurrent = 3; $0.queueLimit = 8 }
        let clips = ["world/sequence.mp4", "world/grows.mp4", "world/moves-left.mp4", "world/colour-change.mp4"]
        func ids(_ r: RawHTTPResponse) throws -> [Int] {
            try XCTUnwrap((try r.json()["vidlm"] as? [String: Any])?["token_ids"] as? [Int])
        }
        var sequential: [[Int]] = []
        for clip in clips { sequential.append(try ids(try await s.post(["messages": videoMessages(clip)]))) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (i, clip) in clips.enumerated() {
                group.addTask { (i, try ids(try await s.post(["messages": videoMessages(clip), "stream": false]))) }
            }
            var out = Array(repeating: [Int](), count: clips.count)
            for try await (i, ids) in group { out[i] = ids }
            return out
        }
        XCTAssertEqual(concurrent, sequential)
        XCTAssertEqual(Set(sequential.map { $0 }).count, clips.count, "different clips should give different answers")
        await s.stop()
    }

    func testDeadline() async throws {
        let s = try await RunningServer.start({ $0.requestTimeout = 0.2 }) {
            try await Task.sleep(for: .seconds(3600))
        }
        let r = try await s.post(["messages": videoMessages("world/sequence.mp4")])
        XCTAssertEqual(r.status, 504, r.text)
        XCTAssertEqual(try errorObject(r)["code"] as? String, "deadline_exceeded")
        let streamed = try await s.post(["messages": videoMessages("world/sequence.mp4"), "stream": true])
        XCTAssertEqual(streamed.events.last, "[DONE]")
        XCTAssertTrue(streamed.events.contains { $0.contains("deadline_exceeded") }, streamed.text)
        await s.stop()
    }
}

final class ServerPartsTests: XCTestCase {
    func testConversationFitForOneTurnFamilies() async throws {
        let model = try await SharedEngine.engine().model
        XCTAssertFalse(model.takesConversations)
        let messages = [
            ChatMessage.system("be brief"),
            ChatMessage(role: "user", content: .parts([.video(source: "a.mp4"), .text("first?")])),
            ChatMessage.assistant("one"),
            ChatMessage(role: "user", content: .parts([.image(source: "b.png"), .text("second?")])),
        ]
        let fitted = ConversationFit.fit(messages, for: model)
        XCTAssertTrue(fitted.droppedHistory)
        XCTAssertEqual(fitted.messages.count, 1)
        XCTAssertEqual(fitted.messages[0].role, "user")
        guard case .parts(let parts) = fitted.messages[0].content else { return XCTFail("expected parts") }
        XCTAssertEqual(parts.count, 3)
        if case .video(let a) = parts[0], case .image(let b) = parts[1], case .text(let q) = parts[2] {
            XCTAssertEqual([a, b, q], ["a.mp4", "b.png", "second?"])
        } else {
            XCTFail("media parts in order, then the last question: \(parts)")
        }
        let single = [ChatMessage(role: "user", content: .parts([.video(source: "a.mp4"), .text("q")]))]
        XCTAssertFalse(ConversationFit.fit(single, for: model).droppedHistory)
    }

    func testStopMatcherHoldsBackPossibleStops() {
        var m = StopMatcher(["END"])
        XCTAssertEqual(m.feed("abc E").0, "abc ")
        XCTAssertEqual(m.feed("N").0, "")
        let (out, stopped) = m.feed("D more")
        XCTAssertEqual(out, "")
        XCTAssertTrue(stopped)
        XCTAssertEqual(m.emitted, "abc ")
        var n = StopMatcher(["END"])
        XCTAssertEqual(n.feed("E").0, "")
        XCTAssertEqual(n.feed("x").0, "Ex")
        XCTAssertEqual(n.feed("EN").0, "")
        XCTAssertEqual(n.flush(), "EN")
        XCTAssertEqual(n.emitted, "ExEN")
    }

    func testAPIKeyComparison() {
        let key = APIKey("abc123")
        XCTAssertTrue(key.accepts(authorization: "Bearer abc123"))
        XCTAssertTrue(key.accepts(authorization: "bearer abc123"))
        XCTAssertFalse(key.accepts(authorization: "Bearer abc124"))
        XCTAssertFalse(key.accepts(authorization: "Bearer abc1234"))
        XCTAssertFalse(key.accepts(authorization: "Bearer abc12"))
        XCTAssertFalse(key.accepts(authorization: "Bearer "))
        XCTAssertFalse(key.accepts(authorization: nil))
        XCTAssertFalse(APIKey.constantTimeEqual(Array("a".utf8), Array("a\0".utf8)))
    }

    func testDataURLParsing() throws {
        XCTAssertEqual(try CompletionRequest.reference("data:video/mp4;base64,AAAA", param: "p"),
                       .inline(mime: "video/mp4", base64: "AAAA", param: "p"))
        XCTAssertThrowsError(try CompletionRequest.reference("data:video/mp4,AAAA", param: "p"))
        XCTAssertThrowsError(try CompletionRequest.reference("ftp://x/y.mp4", param: "p"))
        XCTAssertEqual(try CompletionRequest.reference("clips/a.mp4", param: "p"), .path("clips/a.mp4", param: "p"))
    }
}

import Foundation
import VidLM
import VidLMTestSupport
import XCTest
@testable import VidLMServer

/// The built-in model, loaded once for every server test.
enum SharedEngine {
    static let modelDirectory = TestFixtures.repository.appendingPathComponent("models/vidlm-shapes")
    static let samples = TestFixtures.repository.appendingPathComponent("samples")
    private static let loading = Task { try await Engine.load(directory: modelDirectory) }
    static func engine() async throws -> Engine { try await loading.value }
}

/// The answer the built-in model gives about samples/world/sequence.mp4 with its default frames
/// (the clip's true caption, samples/world/README.md; `make demo` prints it).
let sequenceCaption = "the blue square appears, then the triangle changes colour from red to yellow."

/// A server on an ephemeral loopback port, stopped by `stop()`.
final class RunningServer: @unchecked Sendable {
    let server: CompletionServer
    let port: Int
    private let task: Task<Void, Error>

    private init(server: CompletionServer, port: Int, task: Task<Void, Error>) {
        self.server = server
        self.port = port
        self.task = task
    }

    static func start(_ configure: (inout ServerConfiguration) -> Void = { _ in },
                      beforeCompute: (@Sendable () async throws -> Void)? = nil) async throws -> RunningServer {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.maxConcurrent = 2
        configuration.mediaRoot = SharedEngine.samples.path
        configure(&configuration)
        let server = try CompletionServer(engine: try await SharedEngine.engine(), configuration: configuration,
                                          beforeCompute: beforeCompute)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw RawHTTPError("the server did not start") }
        return RunningServer(server: server, port: port, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    func post(_ json: Any, to path: String = "/v1/chat/completions", headers: [String: String] = [:]) async throws -> RawHTTPResponse {
        try await http(port, "POST", path, headers: headers, json: json)
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> RawHTTPResponse {
        try await http(port, "GET", path, headers: headers)
    }
}

/// A one-way gate tests open; waiting on it ends early (throwing) when the waiter is cancelled.
actor Latch {
    private var isOpen = false
    private var waiters: [UInt64: CheckedContinuation<Void, Error>] = [:]
    private var next: UInt64 = 0

    func wait() async throws {
        if isOpen { return }
        next += 1
        let id = next
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                if Task.isCancelled { c.resume(throwing: CancellationError()) } else { waiters[id] = c }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    func open() {
        isOpen = true
        for c in waiters.values { c.resume() }
        waiters.removeAll()
    }

    private func cancel(_ id: UInt64) { waiters.removeValue(forKey: id)?.resume(throwing: CancellationError()) }
}

/// A user turn about a media URL.
func videoMessages(_ url: String, question: String = "what happens", type: String = "video_url") -> [[String: Any]] {
    [["role": "user", "content": [
        ["type": type, type: ["url": url]],
        ["type": "text", "text": question],
    ] as [Any]]]
}

/// Polls `condition` (state, not time: the bound only stops a broken test from hanging).
func eventually(_ what: String, _ condition: @Sendable () async -> Bool) async throws {
    for _ in 0..<2000 {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    XCTFail("never: \(what)")
    throw RawHTTPError("never: \(what)")
}

func content(_ response: RawHTTPResponse) throws -> String {
    let json = try response.json()
    let choices = json["choices"] as? [[String: Any]]
    let message = choices?.first?["message"] as? [String: Any]
    guard let text = message?["content"] as? String else { throw RawHTTPError("no content in \(response.text)") }
    return text
}

func errorObject(_ response: RawHTTPResponse) throws -> [String: Any] {
    guard let error = try response.json()["error"] as? [String: Any] else { throw RawHTTPError("no error object in \(response.text)") }
    return error
}

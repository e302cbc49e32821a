import Foundation
import Hummingbird
import Logging
import NIOCore
import VidLM

/// The HTTP server over one loaded engine: OpenAI's chat completions (video and image parts),
/// models, health, Prometheus metrics, the frame preview and the web page (docs/server.md).
public final class CompletionServer: Sendable {
    let engine: Engine
    let configuration: ServerConfiguration
    let modelName: String
    let runner: CompletionRunner
    let metrics = ServerMetrics()
    let gate: AdmissionGate
    let uploads: UploadFolder
    let mediaRoot: MediaRoot?
    let apiKey: APIKey?
    let started = Int(Date().timeIntervalSince1970)
    /// Tests only: runs once a completion holds its slot, inside the task that a disconnect or
    /// the deadline cancels (it lets a test hold a slot for as long as it needs).
    let beforeCompute: (@Sendable () async throws -> Void)?

    public convenience init(engine: Engine, configuration: ServerConfiguration) throws {
        try self.init(engine: engine, configuration: configuration, beforeCompute: nil)
    }

    init(engine: Engine, configuration: ServerConfiguration, beforeCompute: (@Sendable () async throws -> Void)?) throws {
        self.beforeCompute = beforeCompute
        guard configuration.maxConcurrent >= 1 else { throw ServerSetupError("--max-concurrent must be at least 1.") }
        guard configuration.queueLimit >= 0 else { throw ServerSetupError("--queue must not be negative.") }
        guard configuration.maxBodyBytes >= 1024 else { throw ServerSetupError("--max-body-mb must be positive.") }
        guard configuration.requestTimeout > 0 else { throw ServerSetupError("--timeout must be positive.") }
        guard configuration.defaultMaxTokens >= 1 else { throw ServerSetupError("--max-tokens must be at least 1.") }
        if let key = configuration.apiKey, key.isEmpty { throw ServerSetupError("--api-key must not be empty.") }
        self.engine = engine
        self.configuration = configuration
        modelName = configuration.modelName ?? engine.directory.standardizedFileURL.lastPathComponent
        runner = CompletionRunner(engine: engine, defaults: try ModelDefaults.load(directory: engine.directory), metrics: metrics,
                                  defaultMaxTokens: configuration.defaultMaxTokens)
        gate = AdmissionGate(maxRunning: configuration.maxConcurrent, maxWaiting: configuration.queueLimit)
        mediaRoot = try configuration.mediaRoot.map { try MediaRoot($0) }
        apiKey = configuration.apiKey.map(APIKey.init)
        uploads = try UploadFolder()
    }

    /// Serves until the calling task is cancelled; `onListening` gets the bound port.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        // The gate decides how many compute; the engine's scheduler must not hold them back further.
        let previousLimit = await ComputeScheduler.shared.limit
        await ComputeScheduler.shared.setLimit(configuration.maxConcurrent)
        defer {
            uploads.removeAll()
            Task { await ComputeScheduler.shared.setLimit(previousLimit) }
        }
        let app = Application(
            responder: Responder(server: self),
            server: .http1(configuration: .init(additionalChannelHandlers: [DisconnectHandler()])),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: {
                var logger = Logger(label: "vidlm-serve")
                logger.logLevel = .critical
                return logger
            }()
        )
        try await app.run()
    }

    struct Responder: HTTPResponder {
        typealias Context = ServerContext
        let server: CompletionServer

        func respond(to request: Request, context: ServerContext) async throws -> Response {
            let start = ContinuousClock.now
            let route = Self.route(request.uri.path)
            var response: Response
            var tokens = 0
            do {
                (response, tokens) = try await server.handle(request, route: route, context: context)
            } catch let error as APIError {
                response = Self.errorResponse(error)
            } catch is CancellationError {
                // The client went away; nobody reads this.
                response = Self.errorResponse(APIError(status: .init(code: 499, reasonPhrase: "Client Closed Request"),
                                                       message: "Cancelled.", type: "cancelled", param: nil, code: nil))
            } catch {
                response = Self.errorResponse(.internalError("The server failed on this request."))
            }
            server.metrics.countRequest(route: route, status: response.status.code)
            if let log = server.configuration.accessLog {
                log(String(format: "%@ %@ %d %.3fs%@", request.method.rawValue, route, response.status.code,
                           seconds(ContinuousClock.now - start), tokens > 0 ? " \(tokens) tokens" : ""))
            }
            return response
        }

        /// The route as a fixed name (metrics and logs never carry client-chosen paths).
        static func route(_ path: String) -> String {
            switch path {
            case "/", "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/frames": return path
            default: return "other"
            }
        }

        static func errorResponse(_ error: APIError) -> Response {
            var headers: HTTPFields = [.contentType: "application/json"]
            if error.status == .tooManyRequests { headers[.retryAfter] = "1" }
            if error.status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
            if error.status == .contentTooLarge { headers[.connection] = "close" }
            return Response(status: error.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: error.json)))
        }
    }

    func handle(_ request: Request, route: String, context: ServerContext) async throws -> (Response, Int) {
        let path = request.uri.path
        let method = request.method
        if path == "/health" {
            guard method == .get else { throw APIError.methodNotAllowed("Use GET /health.") }
            return (json(Data(#"{"status":"ok"}"#.utf8)), 0)
        }
        if path == "/" {
            // The page is static (no data in it); its API calls carry the key.
            guard method == .get else { throw APIError.methodNotAllowed("Use GET /.") }
            return (Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                             body: .init(byteBuffer: ByteBuffer(string: WebPage.html))), 0)
        }
        if let apiKey, !apiKey.accepts(authorization: request.headers[.authorization]) { throw APIError.unauthorized() }
        switch (path, method) {
        case ("/v1/models", .get):
            return (json(OpenAIResponses.models(modelName, created: started)), 0)
        case ("/metrics", .get):
            let (running, queued) = (await gate.running, await gate.queueDepth)
            let text = metrics.render(running: running, queued: queued, maxRunning: gate.maxRunning, maxQueued: gate.maxWaiting)
            return (Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                             body: .init(byteBuffer: ByteBuffer(string: text))), 0)
        case ("/v1/chat/completions", .post):
            return try await completion(request, context: context)
        case ("/v1/frames", .post):
            return (try await framePreview(request, context: context), 0)
        case ("/v1/models", _), ("/metrics", _):
            throw APIError.methodNotAllowed("Use GET \(path).")
        case ("/v1/chat/completions", _), ("/v1/frames", _):
            throw APIError.methodNotAllowed("Use POST \(path).")
        default:
            throw APIError.notFound("No route \(method.rawValue) \(route == "other" ? "for this path" : path).")
        }
    }

    func json(_ data: Data) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The whole body, refused with 413 past the limit (before reading it when Content-Length says so).
    func body(_ request: Request) async throws -> JSONValue {
        let limit = configuration.maxBodyBytes
        let tooLarge = APIError.tooLarge("The request body is larger than the server's limit of \(limit >> 20) MiB.")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        var collected = ByteBuffer()
        for try await part in request.body {
            guard collected.readableBytes + part.readableBytes <= limit else { throw tooLarge }
            var part = part
            collected.writeBuffer(&part)
        }
        return try JSONValue.parse(Data(collected.readableBytesView))
    }

    /// Waits for a slot (bounded queue), answering 429 when none is to be had.
    func admit() async throws -> AdmissionTicket {
        do {
            try await gate.enter()
        } catch is AdmissionGate.Full {
            throw APIError.busy()
        }
        return AdmissionTicket(gate: gate)
    }

    func completion(_ request: Request, context: ServerContext) async throws -> (Response, Int) {
        let arrival = ContinuousClock.now
        let parsed = try CompletionRequest.parse(try await body(request), maxFrames: configuration.maxFrames)
        _ = try runner.options(for: parsed)
        let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let created = Int(Date().timeIntervalSince1970)
        let channel = context.channel
        let timeout = configuration.requestTimeout
        let deadline = arrival + .milliseconds(Int64(timeout * 1000))
        let ticket = try await cancellingOnDisconnect(channel) { [self] in
            try await withDeadline(timeout) { try await self.admit() }
        }
        let media: ResolvedMedia
        do {
            media = try ResolvedMedia.resolve(parsed.media.map(\.reference), folder: uploads, root: mediaRoot,
                                              maxMediaBytes: configuration.maxMediaBytes)
        } catch {
            ticket.release()
            throw error
        }
        let runner = self.runner, model = modelName, beforeCompute = self.beforeCompute
        let remaining = max(0.001, seconds(deadline - ContinuousClock.now))
        if !parsed.stream {
            defer { media.cleanUp(); ticket.release() }
            let outcome = try await cancellingOnDisconnect(channel) {
                try await withDeadline(remaining) {
                    try await beforeCompute?()
                    return try await runner.run(parsed, media: media, arrival: arrival) { _ in }
                }
            }
            return (json(OpenAIResponses.completion(id: id, created: created, model: model, outcome: outcome)), outcome.completionTokens)
        }
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        let body = ResponseBody { writer in
            defer { media.cleanUp(); ticket.release() }
            try await writer.write(ByteBuffer(string: OpenAIResponses.chunk(id: id, created: created, model: model,
                                                                              delta: ["role": "assistant", "content": ""], finishReason: nil)))
            let events = AsyncStream<String>.makeStream()
            // The engine runs in its own task (cancelled on disconnect or deadline); its text comes
            // through `events` so the writer stays with this task.
            let work = Task {
                defer { events.continuation.finish() }
                do {
                    let outcome = try await cancellingOnDisconnect(channel) {
                        try await withDeadline(remaining) {
                            try await beforeCompute?()
                            return try await runner.run(parsed, media: media, arrival: arrival) { piece in
                                events.continuation.yield(OpenAIResponses.chunk(id: id, created: created, model: model,
                                                                               delta: ["content": piece], finishReason: nil))
                            }
                        }
                    }
                    events.continuation.yield(OpenAIResponses.chunk(
                        id: id, created: created, model: model, delta: [:], finishReason: outcome.finishReason,
                        extra: ["vidlm": ["frames": OpenAIResponses.frames(outcome.frames)]]))
                    if parsed.includeUsage {
                        events.continuation.yield(OpenAIResponses.usageChunk(id: id, created: created, model: model, outcome: outcome))
                    }
                } catch let error as APIError {
                    events.continuation.yield(OpenAIResponses.event(["error": error.object]))
                } catch {
                    if !(error is CancellationError) {
                        events.continuation.yield(OpenAIResponses.event(["error": ["message": "The server failed on this request.",
                                                                                   "type": "server_error"]]))
                    }
                }
                events.continuation.yield(OpenAIResponses.done)
            }
            do {
                for await event in events.stream { try await writer.write(ByteBuffer(string: event)) }
                try await writer.finish(nil)
            } catch {
                work.cancel()
                throw error
            }
        }
        return (Response(status: .ok, headers: headers, body: body), 0)
    }

    func framePreview(_ request: Request, context: ServerContext) async throws -> Response {
        let parsed = try FramePreview.parse(try await body(request), maxFrames: configuration.maxFrames)
        let ticket = try await cancellingOnDisconnect(context.channel) { [self] in
            try await withDeadline(configuration.requestTimeout) { try await self.admit() }
        }
        defer { ticket.release() }
        let media = try ResolvedMedia.resolve([parsed.reference], folder: uploads, root: mediaRoot,
                                              maxMediaBytes: configuration.maxMediaBytes)
        defer { media.cleanUp() }
        guard case .media(let path) = media.inputs[0] else { throw APIError.internalError("The server failed on this request.") }
        let model = engine.model
        do {
            return json(try await cancellingOnDisconnect(context.channel) {
                try await withDeadline(self.configuration.requestTimeout) {
                    try await FramePreview.run(parsed, path: path, model: model)
                }
            })
        } catch let error as CancellationError {
            throw error
        } catch {
            throw CompletionRunner.apiError(error, media: media)
        }
    }
}

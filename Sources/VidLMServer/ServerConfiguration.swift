import Foundation
import VidLM

/// How `vidlm serve` listens and what it allows (docs/server.md lists every limit).
public struct ServerConfiguration: Sendable {
    /// Address to bind; loopback unless asked otherwise.
    public var host = "127.0.0.1"
    /// Port; 0 picks a free one (tests).
    public var port = 8080
    /// When set, every route but /health and the page at / needs `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Completion requests computing at once.
    public var maxConcurrent = ComputeScheduler.defaultLimit
    /// Requests allowed to wait for a slot; one more is answered 429.
    public var queueLimit = 8
    /// Largest request body accepted (413 over it).
    public var maxBodyBytes = 64 << 20
    /// Largest decoded media file (one part) accepted (413 over it).
    public var maxMediaBytes = 48 << 20
    /// The only folder whose files requests may name by path; nil refuses paths.
    public var mediaRoot: String?
    /// Seconds a request may run, queue included, before it is stopped (504).
    public var requestTimeout: Double = 300
    /// Most frames a request may ask for (`frame_sampling.frames`; the cap of `fps`).
    public var maxFrames = 64
    /// `max_tokens` when a request gives none.
    public var defaultMaxTokens = 256
    /// The model id /v1/models reports (the model folder's name by default).
    public var modelName: String?
    /// One line per request (method, route, status, seconds, tokens; never content).
    public var accessLog: (@Sendable (String) -> Void)?

    public init() {}
}

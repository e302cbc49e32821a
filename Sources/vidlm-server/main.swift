import ArgumentParser
import Foundation
import VidLM
import VidLMServer

/// `vidlm-server` (also run as `vidlm serve`): the OpenAI-compatible HTTP server (docs/server.md).
@main
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vidlm serve",
        abstract: "Serve a model over HTTP: OpenAI-compatible chat completions with video and image parts, and a web page.")

    @Option(help: "Model directory (default: $VIDLM_MODEL).")
    var model: String?

    @Option(help: "Address to listen on (loopback by default; 0.0.0.0 exposes the server to the network).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8080

    @Option(help: "Require 'Authorization: Bearer KEY' on every route but /health and the page at / (default: $VIDLM_API_KEY).")
    var apiKey: String?

    @Option(help: "Requests computing at once (default: one per two cores).")
    var maxConcurrent: Int?

    @Option(help: "Requests allowed to wait for a slot; more are answered 429.")
    var queue = 8

    @Option(help: "Largest request body in MiB.")
    var maxBodyMb = 64

    @Option(help: "Largest decoded media file in MiB.")
    var maxMediaMb = 48

    @Option(help: "The only folder whose files requests may name by path (default: none; paths are refused).")
    var mediaRoot: String?

    @Option(help: "Seconds a request may take, waiting included.")
    var timeout: Double = 300

    @Option(help: "max_tokens when a request gives none.")
    var maxTokens = 256

    @Flag(help: "Print no access log line per request on stderr.")
    var quiet = false

    func run() async throws {
        do {
            let environment = ProcessInfo.processInfo.environment
            guard let modelPath = model ?? environment["VIDLM_MODEL"].flatMap({ $0.isEmpty ? nil : $0 }) else {
                throw ServerSetupError("Give --model DIR (or set VIDLM_MODEL).")
            }
            guard (0...65535).contains(port) else { throw ServerSetupError("--port must be between 0 and 65535.") }
            guard maxBodyMb >= 1, maxMediaMb >= 1 else { throw ServerSetupError("--max-body-mb and --max-media-mb must be at least 1.") }
            var config = ServerConfiguration()
            config.host = host
            config.port = port
            config.apiKey = apiKey ?? environment["VIDLM_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
            if let maxConcurrent { config.maxConcurrent = maxConcurrent }
            config.queueLimit = queue
            config.maxBodyBytes = maxBodyMb << 20
            config.maxMediaBytes = maxMediaMb << 20
            config.mediaRoot = mediaRoot
            config.requestTimeout = timeout
            config.defaultMaxTokens = maxTokens
            if !quiet {
                config.accessLog = { line in FileHandle.standardError.write(Data(("vidlm-serve: " + line + "\n").utf8)) }
            }
            let engine = try await Engine.load(directory: URL(fileURLWithPath: modelPath))
            let server = try CompletionServer(engine: engine, configuration: config)
            let host = self.host
            let serving = Task {
                try await server.run { port in
                    FileHandle.standardError.write(Data("vidlm-serve: listening on http://\(host):\(port) (model \(modelPath))\n".utf8))
                }
            }
            // SIGINT / SIGTERM stop the server (the upload folder is removed on the way out).
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { serving.cancel() }
                source.resume()
                return source
            }
            defer { sources.forEach { $0.cancel() } }
            do {
                try await serving.value
            } catch is CancellationError {
            }
        } catch {
            FileHandle.standardError.write(Data("vidlm serve: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `vidlm serve …` runs the `vidlm-server` binary that sits beside `vidlm` (its own product, so
/// building `vidlm` — and `make demo` — does not compile the HTTP stack). Its options are
/// `vidlm-server --help`'s; docs/server.md describes them.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP (OpenAI-compatible, video in) with a web page at /.",
        discussion: """
        Runs vidlm-server from the same folder as vidlm with the same arguments: \
        vidlm serve --model DIR [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--max-concurrent N] \
        [--queue N] [--max-body-mb N] [--max-media-mb N] [--media-root DIR] [--timeout S] [--max-tokens N]. \
        Build it with `swift build --product vidlm-server` (or `make server`); see docs/server.md.
        """)

    @Argument(parsing: .captureForPassthrough, help: "Options of vidlm-server.")
    var arguments: [String] = []

    func run() throws {
        let binary = URL(fileURLWithPath: ModelLocation.executablePath()).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("vidlm-server").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw CLIError(message: "vidlm serve needs the vidlm-server binary beside vidlm (\(binary)); build it with `swift build --product vidlm-server` (`make server`).")
        }
        let argv = [binary] + arguments
        var cArgs = argv.map { strdup($0) } + [nil]
        execv(binary, &cArgs)
        throw CLIError(message: "Could not run \(binary): \(String(cString: strerror(errno))).")
    }
}

import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` in a task that Ctrl-C (SIGINT) or SIGTERM cancels, so decoding stops and
/// half-written output is removed before the process exits.
func withInterruptCancellation(_ body: @escaping @Sendable () async throws -> Void) async throws {
    let task = Task { try await body() }
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { task.cancel() }
        source.resume()
        return source
    }
    defer { sources.forEach { $0.cancel() } }
    try await task.value
}

extension FileHandle {
    /// Progress goes to stderr only when a person is watching it.
    func writeIfTerminal(_ text: String) {
        if isatty(fileDescriptor) != 0 { write(Data(text.utf8)) }
    }
}

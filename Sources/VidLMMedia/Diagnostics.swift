import Foundation

/// Warnings for the user (stderr), one line each. Tests can swap the sink.
public enum Diagnostics {
    nonisolated(unsafe) private static var sink: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(("warning: " + line + "\n").utf8))
    }
    private static let lock = NSLock()

    public static func warn(_ message: String) {
        lock.lock(); let s = sink; lock.unlock()
        s(message)
    }

    /// Replaces where warnings go (e.g. to collect them in a test); returns the previous sink.
    @discardableResult
    public static func setSink(_ newSink: @escaping @Sendable (String) -> Void) -> @Sendable (String) -> Void {
        lock.lock(); defer { lock.unlock() }
        let old = sink
        sink = newSink
        return old
    }
}

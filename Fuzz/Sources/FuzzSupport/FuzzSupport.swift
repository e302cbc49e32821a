import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers every fuzz target shares: a private scratch folder for the files the APIs under test
/// read (they take paths), the repository's fixtures, and a way to wait for async work from
/// libFuzzer's synchronous callback.
public enum FuzzSupport {
    /// The repository root (this file is Fuzz/Sources/FuzzSupport/FuzzSupport.swift).
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func fixture(_ relative: String) -> URL {
        repository.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative)
    }

    /// A folder of this process's own (in /dev/shm when it exists: no disk writes per input),
    /// removed at exit.
    public static let scratch: URL = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NSTemporaryDirectory()
        var template = Array("\(base)/vidlm-fuzz-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { fatalError("fuzz: cannot create a scratch folder in \(base)") }
        let path = String(cString: template)
        scratchPath = strdup(path)
        atexit { if let p = FuzzSupport.scratchPath { removeTree(String(cString: p)) } }
        return URL(fileURLWithPath: path, isDirectory: true)
    }()

    private nonisolated(unsafe) static var scratchPath: UnsafeMutablePointer<CChar>?

    /// A sub-folder of the scratch folder (created if missing).
    public static func folder(_ name: String) -> URL {
        let url = scratch.appendingPathComponent(name, isDirectory: true)
        mkdir(url.path, 0o700)
        return url
    }

    /// Writes `bytes` to `url` (replacing it) with plain POSIX calls.
    public static func write(_ bytes: UnsafeRawBufferPointer, to url: URL) {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fatalError("fuzz: cannot write \(url.path): \(String(cString: strerror(errno)))") }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 { if errno == EINTR { continue }; fatalError("fuzz: write \(url.path) failed") }
            done += n
        }
        close(fd)
    }

    public static func write(_ data: Data, to url: URL) {
        data.withUnsafeBytes { write($0, to: url) }
    }

    /// Copies a fixture file into a scratch folder once (at start-up).
    public static func copy(_ source: URL, to url: URL) {
        guard let data = FileManager.default.contents(atPath: source.path) else {
            fatalError("fuzz: missing fixture \(source.path)")
        }
        write(data, to: url)
    }

    /// Splits the input at NUL bytes (never valid in JSON text), at most `parts` pieces.
    public static func split(_ data: UnsafePointer<UInt8>, _ size: Int, parts: Int) -> [Data] {
        var pieces: [Data] = []
        var start = 0
        var i = 0
        while i < size && pieces.count < parts - 1 {
            if data[i] == 0 {
                pieces.append(Data(bytes: data + start, count: i - start))
                start = i + 1
            }
            i += 1
        }
        pieces.append(Data(bytes: data + start, count: size - start))
        return pieces
    }

    /// FUZZ_VERBOSE=1 prints why each input was refused (for checking that seeds get far).
    public static let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"

    public static func note(_ message: @autoclosure () -> String) {
        if verbose { FileHandle.standardError.write(Data(("fuzz: " + message() + "\n").utf8)) }
    }

    /// Runs `body` on the concurrency pool and waits for it (libFuzzer calls synchronously).
    public static func runBlocking(_ body: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await body()
            done.signal()
        }
        done.wait()
    }

    /// How many threads of this process are named `name` (Linux: /proc/self/task/*/comm).
    public static func threadCount(named name: String) -> Int {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return 0 }
        return tasks.filter { comm("/proc/self/task/\($0)/comm") == name }.count
    }

    private static func comm(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }  // the thread ended meanwhile
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let got = read(fd, &buffer, buffer.count)
        guard got > 0 else { return nil }
        return String(decoding: buffer[..<got], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until no thread named `name` is left; traps after `timeout` seconds (a thread that
    /// outlives its work is a leak). This also keeps leak checks exact: a thread that is still
    /// exiting holds per-thread data (CoreFoundation's TSD table) LeakSanitizer no longer sees.
    public static func waitForThreadsToEnd(named name: String, timeout: Double = 5) {
        let deadline = Date().addingTimeInterval(timeout)
        var waited = 0
        while true {
            let n = threadCount(named: name)
            if n == 0 {
                if waited > 0 { note("waited \(waited) × 200 µs for '\(name)' threads to end") }
                return
            }
            if Date() > deadline { fatalError("fuzz: \(n) '\(name)' thread(s) still running \(timeout) s after their work ended") }
            waited += 1
            usleep(200)
        }
    }

    private static func removeTree(_ path: String) {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for name in names { removeTree(path + "/" + name) }
        }
        if rmdir(path) != 0 { unlink(path) }
    }
}

import Foundation

/// One line of a batch manifest: `{"id"?, "media", "question" | "questions" | "prompt" | (none:
/// caption), "frames"?, "fps"?, "start"?, "end"?, "max_tokens"?}`. Relative media paths are
/// taken from the manifest's folder.
struct BatchItem: Sendable {
    let id: String
    let line: Int
    let media: String
    /// nil entries caption the media.
    let questions: [String?]
    let frames: Int?
    let fps: Double?
    let start: Double?
    let end: Double?
    let maxTokens: Int?
}

enum BatchManifest {
    /// Every item, checked before anything runs: a bad line is one sentence naming its number.
    static func read(_ path: String) throws -> [BatchItem] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError(message: "\(path): no such file.") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        var items: [BatchItem] = []
        var seen = Set<String>()
        for (i, rawLine) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let n = i + 1
            func bad(_ why: String) -> CLIError { CLIError(message: "\(path):\(n): \(why)") }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw bad("not a JSON object.")
            }
            guard let media = object["media"] as? String, !media.isEmpty else { throw bad("'media' (a path) is missing.") }
            let id: String
            switch object["id"] {
            case nil: id = "line-\(n)"
            case let s as String: id = s
            case let x as NSNumber: id = x.stringValue
            default: throw bad("'id' must be a string or a number.")
            }
            guard seen.insert(id).inserted else { throw bad("the id '\(id)' is used twice.") }
            var questions: [String?]
            if let q = object["question"] ?? object["prompt"] {
                guard let s = q as? String, !s.trimmingCharacters(in: .whitespaces).isEmpty else { throw bad("'question' must be a non-empty string.") }
                questions = [s]
            } else if let qs = object["questions"] {
                guard let list = qs as? [String], !list.isEmpty, list.allSatisfy({ !$0.isEmpty }) else {
                    throw bad("'questions' must be a non-empty list of strings.")
                }
                questions = list
            } else {
                questions = [nil]
            }
            func int(_ key: String) throws -> Int? {
                guard let v = object[key] else { return nil }
                guard let x = v as? NSNumber, let i = Int(exactly: x.doubleValue), i >= 1 else { throw bad("'\(key)' must be a positive integer.") }
                return i
            }
            func number(_ key: String) throws -> Double? {
                guard let v = object[key] else { return nil }
                guard let x = v as? NSNumber, x.doubleValue.isFinite, x.doubleValue >= 0 else { throw bad("'\(key)' must be a number ≥ 0.") }
                return x.doubleValue
            }
            let mediaPath = media.hasPrefix("/") ? media : folder.appendingPathComponent(media).path
            items.append(BatchItem(id: id, line: n, media: mediaPath, questions: questions, frames: try int("frames"),
                                   fps: try number("fps"), start: try number("start"), end: try number("end"),
                                   maxTokens: try int("max_tokens")))
        }
        guard !items.isEmpty else { throw CLIError(message: "\(path) holds no items.") }
        return items
    }
}

/// `--shard I/N`: item k (0-based, manifest order) belongs to shard k mod N.
struct Shard: Sendable, Equatable {
    let index: Int
    let count: Int

    init(_ spec: String) throws {
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
            throw CLIError(message: "--shard must be I/N with 0 ≤ I < N (e.g. 0/4), not '\(spec)'.")
        }
        index = i
        count = n
    }

    func contains(_ position: Int) -> Bool { position % count == index }
}

/// The results file: one JSON object per line, appended (one write per line) as items finish,
/// so a crash loses at most the item in flight. `--resume` keeps the file, cuts a torn last line,
/// and skips ids that already have a result line (items recorded as errors are tried again).
final class BatchOutput {
    private let handle: FileHandle
    let done: Set<String>

    init(path: String, resume: Bool) throws {
        let manager = FileManager.default
        var done = Set<String>()
        if manager.fileExists(atPath: path) {
            guard resume else {
                throw CLIError(message: "\(path) exists; pass --resume to continue it, or remove it.")
            }
            guard let data = manager.contents(atPath: path) else { throw CLIError(message: "\(path) cannot be read.") }
            // A torn last line (no newline: the run stopped mid-write) is cut before appending.
            var keep = data.count
            if let last = data.last, last != UInt8(ascii: "\n") {
                keep = (data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            }
            for line in data.prefix(keep).split(separator: UInt8(ascii: "\n")) {
                if let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                   let id = object["id"] as? String, object["answers"] != nil {
                    done.insert(id)
                }
            }
            guard truncate(path, off_t(keep)) == 0 else { throw CLIError(message: "\(path) cannot be written.") }
        } else {
            guard manager.createFile(atPath: path, contents: nil) else { throw CLIError(message: "\(path) cannot be created.") }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CLIError(message: "\(path) cannot be written.") }
        handle.seekToEndOfFile()
        self.handle = handle
        self.done = done
    }

    func append(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }

    deinit { try? handle.close() }
}

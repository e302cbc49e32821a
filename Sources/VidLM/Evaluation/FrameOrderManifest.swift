import Foundation

/// A frame-order manifest: JSON Lines, one `{"video": "path", "caption": "…", "id": "…"}` per
/// line; paths are relative to the manifest's folder; `id` defaults to the line number. Blank
/// lines are skipped.
public struct FrameOrderManifest: Sendable {
    public struct Entry: Sendable, Equatable {
        public let id: String
        /// The path as written in the manifest.
        public let video: String
        /// The path resolved against the manifest's folder.
        public let url: URL
        public let caption: String
        public let line: Int
    }

    public let url: URL
    public let entries: [Entry]

    public static func load(_ url: URL) throws(ManifestError) -> FrameOrderManifest {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw .unreadable(url.path) }
        guard let text = String(data: data, encoding: .utf8) else { throw .notUTF8(url.path) }
        let folder = url.deletingLastPathComponent()
        var entries: [Entry] = []
        // "\r\n" is one Character in Swift, so splitting on "\n" alone would run CRLF lines together.
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = i + 1
            let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                throw .badLine(url.path, line, "is not a JSON object")
            }
            guard let video = object["video"] as? String, !video.isEmpty else {
                throw .badLine(url.path, line, "needs a non-empty string 'video'")
            }
            guard let caption = object["caption"] as? String else {
                throw .badLine(url.path, line, "needs a string 'caption'")
            }
            guard !caption.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw .badLine(url.path, line, "has an empty caption")
            }
            let id: String
            switch object["id"] {
            case nil, is NSNull: id = "line-\(line)"
            case let s as String: id = s
            case let n as Int: id = String(n)
            default: throw .badLine(url.path, line, "has an 'id' that is neither a string nor an integer")
            }
            let resolved = video.hasPrefix("/") ? URL(fileURLWithPath: video) : folder.appendingPathComponent(video)
            entries.append(Entry(id: id, video: video, url: resolved, caption: caption, line: line))
        }
        guard !entries.isEmpty else { throw .empty(url.path) }
        return FrameOrderManifest(url: url, entries: entries)
    }
}

/// A manifest that cannot be used, in one sentence.
public enum ManifestError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(String)
    case notUTF8(String)
    case badLine(String, Int, String)
    case empty(String)

    public var description: String {
        switch self {
        case .unreadable(let path): return "\(path): the manifest cannot be read (missing or not a file)."
        case .notUTF8(let path): return "\(path): the manifest is not UTF-8 text."
        case .badLine(let path, let line, let why): return "\(path): line \(line) \(why)."
        case .empty(let path): return "\(path): the manifest has no entries."
        }
    }
}

import Foundation
import VidLMModels

/// Encoded media kept for a conversation, so a follow-up question about the same clip does not
/// decode and encode it again (for SmolVLM2-2.2B that is seconds of vision tower per question).
/// An entry is keyed by the file's path, size and modification time, so a file replaced between
/// questions is encoded afresh; `keep` drops what the conversation no longer holds. `vidlm chat`
/// holds one per session; hand its results to `Engine.respond` as `EngineInput.encoded`.
public actor EncodedMediaCache {
    private struct Entry {
        let size: Int
        let modified: Date?
        let media: EncodedMedia
    }

    private var entries: [String: Entry] = [:]
    /// Files encoded so far (cache misses).
    public private(set) var encodings = 0

    public init() {}

    /// The features of `path` as `engine` encodes it with `options`, from the cache when the file
    /// is unchanged.
    public func encoded(_ path: String, engine: Engine, options: AskOptions) async throws -> EncodedMedia {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
        let modified = attributes?[.modificationDate] as? Date
        if let entry = entries[path], attributes != nil, entry.size == size, entry.modified == modified {
            return entry.media
        }
        let media = try await engine.encodedMedia(.media(path: path), options: options)
        encodings += 1
        entries[path] = Entry(size: size, modified: modified, media: media)
        return media
    }

    /// Forgets every file but `paths`.
    public func keep(_ paths: Set<String>) {
        entries = entries.filter { paths.contains($0.key) }
    }
}

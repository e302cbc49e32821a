import Foundation
import VidLM
import VidLMModels

/// The encoded media of one chat session, so a follow-up question about the same clip does not
/// decode and encode it again (for SmolVLM2-2.2B that is seconds of vision tower per turn). An
/// entry is keyed by the file's path, size and modification time, so a file replaced between
/// questions is encoded afresh; `keep` drops what the conversation no longer holds.
actor ChatMediaCache {
    private struct Entry {
        let size: Int
        let modified: Date?
        let media: EncodedMedia
    }

    private var entries: [String: Entry] = [:]

    /// The features of `path` as `engine` encodes it with `options`, from the cache when the file
    /// is unchanged.
    func encoded(_ path: String, engine: Engine, options: AskOptions) async throws -> EncodedMedia {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
        let modified = attributes?[.modificationDate] as? Date
        if let entry = entries[path], attributes != nil, entry.size == size, entry.modified == modified {
            return entry.media
        }
        let media = try await engine.encodedMedia(.media(path: path), options: options)
        entries[path] = Entry(size: size, modified: modified, media: media)
        return media
    }

    /// Forgets every file but `paths`.
    func keep(_ paths: Set<String>) {
        entries = entries.filter { paths.contains($0.key) }
    }
}

extension ChatMessage {
    /// The files of this message's image and video parts, in order (nil for a part naming none).
    var mediaSources: [String?] {
        guard case .parts(let parts) = content else { return [] }
        return parts.compactMap { part in
            switch part {
            case .image(let source), .video(let source): return .some(source)
            case .text: return nil
            }
        }
    }
}

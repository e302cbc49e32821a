import Foundation
import VidLM

/// Turns a request's media references into files the engine opens: inline media is decoded
/// (within the size limit) into private upload files, paths are confined to the media root.
/// `cleanUp()` removes the request's uploads; the handler calls it when the request ends.
final class ResolvedMedia: @unchecked Sendable {
    private(set) var inputs: [EngineInput] = []
    /// The upload files, to remove at the end and to hide from error messages.
    private(set) var uploads: [String] = []
    private let folder: UploadFolder
    private let lock = NSLock()

    init(folder: UploadFolder) { self.folder = folder }

    static func resolve(_ references: [MediaReference], folder: UploadFolder, root: MediaRoot?,
                        maxMediaBytes: Int) throws(APIError) -> ResolvedMedia {
        let resolved = ResolvedMedia(folder: folder)
        do throws(APIError) {
            for reference in references {
                switch reference {
                case .inline(let mime, let base64, let param):
                    if let mime, !(mime.hasPrefix("image/") || mime.hasPrefix("video/") || mime == "application/octet-stream") {
                        throw APIError.badRequest("'\(param)': the data: URL's type \(mime) is not an image or a video.", param: param)
                    }
                    // Base64 is 4 characters per 3 bytes: refuse before decoding anything too big.
                    guard base64.utf8.count / 4 * 3 <= maxMediaBytes + 3 else {
                        throw APIError.tooLarge("'\(param)': the media is larger than the server's limit of \(maxMediaBytes >> 20) MiB.")
                    }
                    guard let data = Data(base64Encoded: String(base64), options: .ignoreUnknownCharacters), !data.isEmpty else {
                        throw APIError.badRequest("'\(param)': the payload is not valid base64.", param: param)
                    }
                    guard data.count <= maxMediaBytes else {
                        throw APIError.tooLarge("'\(param)': the media is larger than the server's limit of \(maxMediaBytes >> 20) MiB.")
                    }
                    let file = try folder.write(data, suffix: suffix(for: mime))
                    resolved.lock.withLock { resolved.uploads.append(file) }
                    resolved.inputs.append(.media(path: file))
                case .path(let path, let param):
                    guard let root else {
                        throw APIError.forbidden("'\(param)': this server opens no paths (it was started without --media-root); send a data: URL.",
                                                 param: param)
                    }
                    resolved.inputs.append(.media(path: try root.resolve(path, param: param)))
                }
            }
        } catch {
            resolved.cleanUp()
            throw error
        }
        return resolved
    }

    static func suffix(for mime: String?) -> String {
        switch mime {
        case "image/png": return ".png"
        case "image/jpeg", "image/jpg": return ".jpg"
        case "image/webp": return ".webp"
        case "image/gif": return ".gif"
        case "video/webm": return ".webm"
        case "video/quicktime", "video/mov": return ".mov"
        case "video/x-matroska", "video/mkv": return ".mkv"
        case "video/mp4": return ".mp4"
        default: return ""
        }
    }

    /// An engine or decoder message with upload file paths replaced by words.
    func scrub(_ message: String) -> String {
        var out = message
        for (i, file) in lock.withLock({ uploads }).enumerated() {
            out = out.replacingOccurrences(of: file, with: "the uploaded media\(uploads.count > 1 ? " #\(i + 1)" : "")")
        }
        out = out.replacingOccurrences(of: folder.path, with: "<uploads>")
        return out
    }

    /// Removes the request's upload files (safe to call more than once).
    func cleanUp() {
        let files = lock.withLock { () -> [String] in defer { uploads.removeAll() }; return uploads }
        for file in files { folder.remove(file) }
    }
}

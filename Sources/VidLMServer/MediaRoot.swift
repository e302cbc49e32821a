import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one folder whose files requests may name by path. A path is accepted only when its real
/// path (every symlink resolved) lies inside the root's real path, it names no `..` component
/// and it is a regular file; the resolved path is what gets opened, so a symlink inside the
/// root that points outside it is refused.
struct MediaRoot: Sendable {
    /// The root's real path, without a trailing slash.
    let realPath: String

    init(_ path: String) throws {
        guard let real = MediaRoot.realPath(path) else {
            throw ServerSetupError("--media-root \(path) does not exist.")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ServerSetupError("--media-root \(path) is not a folder.")
        }
        realPath = real == "/" ? "" : real
    }

    /// The real path of `requested` (relative paths are taken from the root), or a 403/400.
    func resolve(_ requested: String, param: String) throws(APIError) -> String {
        guard !requested.isEmpty, !requested.contains("\0") else {
            throw APIError.badRequest("'\(param)': the path is empty.", param: param)
        }
        let components = requested.split(separator: "/", omittingEmptySubsequences: true)
        if components.contains("..") {
            throw APIError.forbidden("'\(param)': paths with '..' are refused.", param: param)
        }
        let joined = requested.hasPrefix("/") ? requested : realPath + "/" + requested
        guard let real = MediaRoot.realPath(joined) else {
            // Say nothing about whether the file exists outside the root.
            if requested.hasPrefix("/") && !requested.hasPrefix(realPath + "/") {
                throw APIError.forbidden("'\(param)': the path is outside the server's media root.", param: param)
            }
            throw APIError.badRequest("'\(param)': no such file under the media root.", param: param)
        }
        guard real.hasPrefix(realPath + "/") else {
            throw APIError.forbidden("'\(param)': the path is outside the server's media root.", param: param)
        }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw APIError.badRequest("'\(param)': not a regular file under the media root.", param: param)
        }
        return real
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// A server that cannot start, in one sentence.
public struct ServerSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

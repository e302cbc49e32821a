import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The server's private folder (0700, made with mkdtemp) for media sent inline: each upload is
/// a new file created exclusively with mode 0600 under a random name, and removed when its
/// request ends, whatever way it ends. The folder goes when the server stops.
final class UploadFolder: Sendable {
    let path: String

    init() throws {
        let base = (ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        var template = Array("\(base)/vidlm-serve-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ServerSetupError("Cannot create a private temporary folder under \(base): \(String(cString: strerror(errno))).")
        }
        path = String(cString: made)
    }

    /// Writes `data` to a new private file (0600) and returns its path.
    func write(_ data: Data, suffix: String) throws(APIError) -> String {
        for _ in 0..<8 {
            let name = "\(path)/\(UUID().uuidString.lowercased())\(suffix)"
            let fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw APIError.internalError("The server could not store the uploaded media.")
            }
            let ok = data.withUnsafeBytes { buffer -> Bool in
                var offset = 0
                while offset < buffer.count {
                    let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 { if errno == EINTR { continue }; return false }
                    offset += n
                }
                return true
            }
            close(fd)
            guard ok else {
                unlink(name)
                throw APIError.internalError("The server could not store the uploaded media.")
            }
            return name
        }
        throw APIError.internalError("The server could not store the uploaded media.")
    }

    func remove(_ file: String) { unlink(file) }

    /// Removes the folder and anything left in it.
    func removeAll() { try? FileManager.default.removeItem(atPath: path) }
}

import Foundation

/// Everything a user can do wrong or a file can be wrong with, each with one clear sentence.
public enum MediaError: Error, Equatable, Sendable, CustomStringConvertible {
    case fileNotFound(String)
    case isDirectory(String)
    case emptyFile(String)
    case unreadable(path: String, reason: String)
    case noVideoStream(String)
    case unsupportedCodec(name: String)
    case noFrames(String)
    case frameTooLarge(width: Int, height: Int, limit: Int)
    case invalidRequest(String)
    case startAfterEnd(start: Double, duration: Double)
    case timestampOutOfRange(Double, duration: Double)
    case decodeFailed(String)
    case writeFailed(String)
    case cancelled

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "\(p): no such file."
        case .isDirectory(let p): return "\(p) is a directory, not a media file."
        case .emptyFile(let p): return "\(p) is empty (0 bytes)."
        case .unreadable(let p, let reason):
            return "\(p) could not be read as a video or image (\(reason))."
        case .noVideoStream(let p): return "\(p) has no video stream (audio-only or data-only file)."
        case .unsupportedCodec(let name):
            return "The video codec \(name) is not supported by this build of libavcodec."
        case .noFrames(let p): return "\(p) contains no decodable video frames."
        case .frameTooLarge(let w, let h, let limit):
            return "The video frame size \(w)x\(h) exceeds the limit of \(limit) pixels per side."
        case .invalidRequest(let why): return why
        case .startAfterEnd(let s, let d):
            return "The start time \(format(s)) s is at or after the end of the clip (\(format(d)) s)."
        case .timestampOutOfRange(let t, let d):
            return "The timestamp \(format(t)) s lies outside the clip (0 to \(format(d)) s)."
        case .decodeFailed(let why): return "Decoding failed: \(why)."
        case .writeFailed(let why): return "Writing the output failed: \(why)."
        case .cancelled: return "Cancelled."
        }
    }
}

private func format(_ x: Double) -> String {
    String(format: "%.3f", x)
}

import Foundation

/// Why a tokenizer could not be loaded, in one sentence.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A required file is absent (`tokenizer.json`).
    case missingFile(path: String)
    /// A file exists but cannot be read or is not JSON.
    case unreadable(file: String, reason: String)
    /// A field has the wrong type, is missing or holds an impossible value.
    case invalid(file: String, message: String)
    /// A component this implementation does not provide, e.g. a `Unigram` model.
    case unsupported(file: String, component: String, type: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): the file does not exist."
        case .unreadable(let file, let reason):
            return "\(file): \(reason)"
        case .invalid(let file, let message):
            return "\(file): \(message)"
        case .unsupported(let file, let component, let type):
            return "\(file): the \(component) type '\(type)' is not supported."
        }
    }
}

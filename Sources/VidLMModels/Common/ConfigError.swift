import Foundation

/// A config.json (or another JSON the models read) that cannot be used, in one sentence.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public let file: String
    public let message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }

    /// Decodes `T` from `data`, turning Swift's decoding errors into one readable sentence that
    /// names the key path (e.g. "'vision_config.hidden_size' must be a number").
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws(ConfigError) -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw ConfigError(file: file, describe(error))
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: file, "is not valid JSON (\(error.localizedDescription)).")
        }
    }

    static func path(_ keys: [CodingKey]) -> String {
        keys.map { key in
            if let i = key.intValue { return "[\(i)]" }
            return snake(key.stringValue)
        }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    private static func snake(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }

    public static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let ctx):
            return "'\(path(ctx.codingPath))' must be \(article(type))."
        case .valueNotFound(let type, let ctx):
            return "'\(path(ctx.codingPath))' must be \(article(type)), not null."
        case .keyNotFound(let key, let ctx):
            return "the required field '\(path(ctx.codingPath + [key]))' is missing."
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return "is not valid JSON." }
            return "'\(path(ctx.codingPath))' is invalid (\(ctx.debugDescription))."
        @unknown default:
            return "cannot be read."
        }
    }

    private static func article(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a \(name)"
        }
    }
}

/// Reads `key` if present: absent or null gives nil, a wrong type throws.
extension KeyedDecodingContainer {
    func optional<T: Decodable>(_ key: Key) throws -> T? {
        try decodeIfPresent(T.self, forKey: key)
    }
}

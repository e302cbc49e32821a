import Foundation

/// A JSON document as decoded from a request body, walked with accessors that name the field
/// and the type it should have when it has another (one sentence for the client).
enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    static func parse(_ data: Data) throws(APIError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw APIError.badRequest("The request body is not valid JSON.")
        }
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Typed access to an object's fields: absent and null read as nil; a value of the wrong type is
/// a 400 naming the field.
struct JSONFields {
    let values: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, path: String) throws(APIError) {
        guard case .object(let values) = value else {
            throw APIError.badRequest("'\(path)' must be an object, not \(value.typeName).", param: path)
        }
        self.values = values
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func value(_ key: String) -> JSONValue? {
        guard let v = values[key], v != .null else { return nil }
        return v
    }

    func wrong(_ key: String, _ expected: String) -> APIError {
        .badRequest("'\(name(key))' must be \(expected), not \(values[key]?.typeName ?? "missing").", param: name(key))
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw wrong(key, "a string") }
        return s
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw wrong(key, "a boolean") }
        return b
    }

    func int(_ key: String) throws(APIError) -> Int64? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: return Int64(d)
        default: throw wrong(key, "an integer")
        }
    }

    func double(_ key: String) throws(APIError) -> Double? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: throw wrong(key, "a number")
        }
    }

    func array(_ key: String) throws(APIError) -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard case .array(let a) = v else { throw wrong(key, "an array") }
        return a
    }

    func object(_ key: String) throws(APIError) -> JSONFields? {
        guard let v = value(key) else { return nil }
        return try JSONFields(v, path: name(key))
    }
}

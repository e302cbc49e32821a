import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over a POSIX socket, so tests control the connection exactly
/// (send a request and close mid-answer) and need no network stack beyond loopback.
struct RawHTTPResponse {
    let status: Int
    let headers: [String: String]
    let body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw RawHTTPError("body is not a JSON object: \(text)")
        }
        return object
    }
    /// The `data:` payloads of a server-sent event stream.
    var events: [String] {
        text.components(separatedBy: "\n\n").compactMap { block in
            block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
        }
    }
}

struct RawHTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

final class RawHTTPConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { close(fd); throw RawHTTPError("connect failed") }
    }

    deinit { close(fd) }

    func send(method: String, path: String, headers: [String: String] = [:], body: Data? = nil) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        try write(Data(head.utf8) + (body ?? Data()))
    }

    func write(_ data: Data) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { throw RawHTTPError("send failed") }
                offset += n
            }
        }
    }

    /// Reads until `predicate` holds for the bytes so far or the server closes.
    func read(until predicate: (Data) -> Bool = { _ in false }) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !predicate(data) {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    /// Reads the whole response (the server closes after it: Connection: close).
    func response() throws -> RawHTTPResponse { try Self.parse(read()) }

    static func parse(_ raw: Data) throws -> RawHTTPResponse {
        guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else { throw RawHTTPError("no complete response head in \(raw.count) bytes") }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw RawHTTPError("bad status line \(head[0])") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(raw[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        return RawHTTPResponse(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: Data) throws -> Data {
        var out = Data()
        var rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
            let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else { throw RawHTTPError("bad chunk size \(sizeText)") }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size + 2 else { throw RawHTTPError("truncated chunk") }
            let end = rest.index(start, offsetBy: size)
            out.append(rest[start..<end])
            rest = rest[rest.index(end, offsetBy: 2)...]
        }
        return out
    }
}

/// One request on a new connection, on a thread of its own: the socket calls block, and
/// blocking the cooperative pool (two threads on a 2-core machine) would stall the server.
func http(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:], json: Any? = nil,
          body: Data? = nil) async throws -> RawHTTPResponse {
    let payload = try body ?? json.map { try JSONSerialization.data(withJSONObject: $0) }
    return try await withCheckedThrowingContinuation { continuation in
        Thread {
            do {
                let connection = try RawHTTPConnection(port: port)
                try connection.send(method: method, path: path, headers: headers, body: payload)
                continuation.resume(returning: try connection.response())
            } catch {
                continuation.resume(throwing: error)
            }
        }.start()
    }
}

/// The `--api-key` check: `Authorization: Bearer KEY` compared in time that depends only on the
/// lengths, never on where the first difference is.
struct APIKey: Sendable {
    private let key: [UInt8]

    init(_ key: String) { self.key = Array(key.utf8) }

    func accepts(authorization header: String?) -> Bool {
        guard let header else { return false }
        let prefix = "Bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix("bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(prefix.utf8.count))
        return Self.constantTimeEqual(given, key)
    }

    /// Compares every byte of the longer input whatever the contents; lengths differing is folded
    /// into the same accumulator so there is no early exit.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= UInt64(x ^ y)
        }
        return difference == 0
    }
}

/// A string compared and hashed by its exact UTF-8 bytes. Swift's `String` equality is canonical
/// equivalence ("é" == "e\u{301}"), but vocabularies, caches and JSON keys must tell those apart,
/// as the Rust library does.
struct TokenString: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    let string: String

    init(_ string: String) {
        var s = string
        s.makeContiguousUTF8()
        self.string = s
    }

    init(stringLiteral value: String) { self.init(value) }

    init(_ scalars: some Sequence<Unicode.Scalar>) {
        var s = String()
        s.unicodeScalars.append(contentsOf: scalars)
        self.init(s)
    }

    var description: String { string }

    static func == (a: TokenString, b: TokenString) -> Bool {
        var x = a.string, y = b.string
        return x.withUTF8 { p in y.withUTF8 { q in p.count == q.count && (p.count == 0 || memcmp(p.baseAddress!, q.baseAddress!, p.count) == 0) } }
    }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

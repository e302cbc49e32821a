/// GPT-2's reversible byte <-> printable-character map: printable Latin-1 bytes stand for
/// themselves, the other bytes are shifted to U+0100 and up (space becomes 'Ġ', '\n' 'Ċ').
enum ByteLevelAlphabet {
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(256 + n)!
                n += 1
            }
        }
        return table
    }()

    /// Indexed by scalar value (all targets are below U+0144); -1 where a scalar is no byte.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    @inline(__always)
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = Int(scalar.value)
        guard v < scalarToByte.count else { return nil }
        let b = scalarToByte[v]
        return b < 0 ? nil : UInt8(b)
    }

    /// Every UTF-8 byte of `scalars`, as its character.
    static func encode(_ scalars: some Sequence<Unicode.Scalar>) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        for c in scalars {
            if c.value < 0x80 {
                out.append(byteToScalar[Int(c.value)])
            } else {
                for b in String(c).utf8 { out.append(byteToScalar[Int(b)]) }
            }
        }
        return out
    }

    /// The bytes a token stands for: its characters' bytes when all of them are in the alphabet,
    /// otherwise the token's own UTF-8 (the library's rule for added tokens and strays).
    static func bytes(ofToken token: String, into out: inout [UInt8]) {
        let start = out.count
        for c in token.unicodeScalars {
            guard let b = byte(for: c) else {
                out.removeSubrange(start...)
                out.append(contentsOf: token.utf8)
                return
            }
            out.append(b)
        }
    }
}

/// UTF-8 decoding with Rust's `String::from_utf8_lossy` replacement (one U+FFFD per maximal
/// ill-formed subpart), optionally stopping before a trailing incomplete character.
enum LossyUTF8 {
    /// Decodes `bytes`; when `final` is false a trailing sequence that could still become a
    /// character is left undecoded and its length returned as `pending`.
    static func decode(_ bytes: [UInt8], final: Bool) -> (text: String, pending: Int) {
        var scalars = String.UnicodeScalarView()
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 {
                scalars.append(Unicode.Scalar(b0))
                i += 1
                continue
            }
            let width: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: width = 2
            case 0xE0: width = 3; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: width = 3
            case 0xED: width = 3; hi = 0x9F
            case 0xF0: width = 4; lo = 0x90
            case 0xF1...0xF3: width = 4
            case 0xF4: width = 4; hi = 0x8F
            default:
                scalars.append("\u{FFFD}")
                i += 1
                continue
            }
            // Walk the continuation bytes.
            var j = 1
            var ok = true
            while j < width {
                guard i + j < n else { break }
                let b = bytes[i + j]
                let (l, h) = j == 1 ? (lo, hi) : (UInt8(0x80), UInt8(0xBF))
                if b < l || b > h { ok = false; break }
                j += 1
            }
            if ok && j == width {
                var v = UInt32(b0) & (width == 2 ? 0x1F : width == 3 ? 0x0F : 0x07)
                for k in 1..<width { v = (v << 6) | (UInt32(bytes[i + k]) & 0x3F) }
                scalars.append(Unicode.Scalar(v)!)
                i += width
            } else if ok && !final {
                // Ran out of bytes on a valid prefix: wait for more.
                return (String(scalars), n - i)
            } else {
                scalars.append("\u{FFFD}")
                i += j
            }
        }
        return (String(scalars), 0)
    }

    /// Whether `bytes` is entirely valid UTF-8.
    static func isValid(_ bytes: [UInt8]) -> Bool {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}

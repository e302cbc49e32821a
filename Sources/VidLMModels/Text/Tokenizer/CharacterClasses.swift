import Foundation

/// The character classes the tokenizers library uses, pinned to the Unicode data its Rust crates
/// carry (tokenizers 0.23.3): Swift's own data is newer, so characters assigned later are treated
/// the way the library treats them (unassigned).
enum CharacterClasses {
    /// Oniguruma's (\p{L}, \p{N}, \s, \w) and Rust std's Unicode version.
    static let regexUnicodeVersion = (major: 16, minor: 0)
    /// The `unicode-normalization` crate's data: characters assigned from Unicode 12.0 on are
    /// left alone by NFC/NFD/NFKC/NFKD.
    static let normalizationUnicodeVersion = (major: 11, minor: 0)

    @inline(__always)
    static func assigned(_ c: Unicode.Scalar, upTo version: (major: Int, minor: Int)) -> Bool {
        guard let age = c.properties.age else { return false }
        return age.major < version.major || (age.major == version.major && age.minor <= version.minor)
    }

    // MARK: Regex classes (Oniguruma, as used by the Split / ByteLevel patterns)

    /// `\p{L}`.
    @inline(__always)
    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return assigned(c, upTo: regexUnicodeVersion)
        default:
            return false
        }
    }

    /// `\p{N}`.
    @inline(__always)
    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber:
            return assigned(c, upTo: regexUnicodeVersion)
        default:
            return false
        }
    }

    /// Rust's `char::is_numeric` (the `Digits` pre-tokenizer): N*, with Rust std's newer data.
    static func isRustNumeric(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\s` in Oniguruma and Rust's regex crate, and Rust's `char::is_whitespace`: White_Space.
    @inline(__always)
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Rust regex's `\w` (UTS #18: Alphabetic, marks, Nd, Pc, Join_Control), used for an added
    /// token's `single_word` and by the `Whitespace` pre-tokenizer.
    static func isRustWordCharacter(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 {
            return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A || (v >= 0x30 && v <= 0x39) || v == 0x5F
        }
        guard assigned(c, upTo: regexUnicodeVersion) else { return false }
        let p = c.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    // MARK: BERT classes (the `unicode_categories` tables, generated into BertCharacterTables)

    static func inRanges(_ table: [UInt32], _ v: UInt32) -> Bool {
        // Binary search over [first, last] pairs.
        var lo = 0, hi = table.count / 2
        while lo < hi {
            let mid = (lo + hi) / 2
            if table[2 * mid + 1] < v { lo = mid + 1 } else { hi = mid }
        }
        return lo < table.count / 2 && table[2 * lo] <= v
    }

    /// The characters BertNormalizer's clean_text removes (besides turning whitespace to ' ').
    static func isBertControl(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v == 0x09 || v == 0x0A || v == 0x0D { return false }
        if v >= 0x20 && v < 0x7F { return false }
        return inRanges(BertCharacterTables.other, v)
    }

    /// Mn, as BertNormalizer's strip_accents removes it.
    static func isNonspacingMark(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x300 { return false }
        return inRanges(BertCharacterTables.nonspacingMark, v)
    }

    /// Mn, Mc, Me, as the StripAccents normalizer removes them.
    static func isCombiningMark(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x300 { return false }
        return inRanges(BertCharacterTables.combiningMark, v)
    }

    /// BertPreTokenizer's / Punctuation's punctuation: ASCII punctuation plus P*.
    static func isBertPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 {
            return (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60) || (v >= 0x7B && v <= 0x7E)
        }
        return inRanges(BertCharacterTables.punctuation, v)
    }

    /// BertNormalizer's CJK ideograph blocks.
    static func isChineseCharacter(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    // MARK: Case and normalization

    /// Rust's `char::to_lowercase` (no context: Σ always becomes σ).
    static func lowercase(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for c in scalars {
            let v = c.value
            if v < 0x80 {
                out.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(v + 0x20)! : c)
            } else if c.properties.changesWhenLowercased {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(c)
            }
        }
        return out
    }

    enum NormalizationForm { case nfc, nfd, nfkc, nfkd }

    /// Unicode normalization as the library's crate does it: characters newer than its data stay
    /// as they are (and, being unassigned there, block composition across them).
    static func normalize(_ scalars: [Unicode.Scalar], _ form: NormalizationForm) -> [Unicode.Scalar] {
        if scalars.allSatisfy({ $0.value < 0x80 }) { return scalars }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var run: [Unicode.Scalar] = []
        func flush() {
            guard !run.isEmpty else { return }
            var s = String()
            s.unicodeScalars.append(contentsOf: run)
            let n: String
            switch form {
            case .nfc: n = s.precomposedStringWithCanonicalMapping
            case .nfd: n = s.decomposedStringWithCanonicalMapping
            case .nfkc: n = s.precomposedStringWithCompatibilityMapping
            case .nfkd: n = s.decomposedStringWithCompatibilityMapping
            }
            out.append(contentsOf: n.unicodeScalars)
            run.removeAll(keepingCapacity: true)
        }
        let composes = form == .nfc || form == .nfkc
        for (i, c) in scalars.enumerated() {
            if c.value >= 0x80, !assigned(c, upTo: normalizationUnicodeVersion) {
                flush()
                out.append(c)
            } else {
                run.append(c)
                // Foundation composes a supplementary-plane starter with a following BMP mark as
                // if it were the BMP character with the same low 16 bits (U+E0041 U+0301 -> Á).
                // No real composition pairs such characters, so composing them apart is exact.
                if composes, c.value >= 0x10000, i + 1 < scalars.count, scalars[i + 1].value < 0x10000,
                   c.properties.canonicalCombiningClass == .notReordered {
                    flush()
                }
            }
        }
        flush()
        return out
    }
}

/// Python's `str` operations that templates call, on Unicode code points (Python's unit).
enum PythonString {
    static func scalars(_ s: String) -> [Unicode.Scalar] { Array(s.unicodeScalars) }
    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: scalars)
        return String(v)
    }

    /// `strip` / `lstrip` / `rstrip`: whitespace, or any of `chars`.
    static func strip(_ s: String, chars: String?, left: Bool, right: Bool) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ u: Unicode.Scalar) -> Bool { set?.contains(u) ?? Lexer.isSpace(u) }
        let a = scalars(s)
        var lo = 0, hi = a.count
        if left { while lo < hi, drop(a[lo]) { lo += 1 } }
        if right { while hi > lo, drop(a[hi - 1]) { hi -= 1 } }
        return string(a[lo..<hi])
    }

    /// `split(sep=None, maxsplit=-1)`: runs of whitespace without `sep`, exact `sep` with it.
    static func split(_ s: String, separator: String?, maxSplit: Int) throws(JinjaError) -> [String] {
        guard let separator else { return splitWhitespace(s, maxSplit: maxSplit) }
        let a = scalars(s)
        let sep = scalars(separator)
        guard !sep.isEmpty else { throw .runtime("empty separator") }
        var out: [String] = []
        var start = 0, i = 0, splits = 0
        while i + sep.count <= a.count {
            if (maxSplit < 0 || splits < maxSplit) && a[i..<(i + sep.count)].elementsEqual(sep) {
                out.append(string(a[start..<i]))
                i += sep.count
                start = i
                splits += 1
            } else {
                i += 1
            }
        }
        out.append(string(a[start...]))
        return out
    }

    /// `split()` without a separator: runs of whitespace, none at the ends.
    static func splitWhitespace(_ s: String, maxSplit: Int = -1) -> [String] {
        let a = scalars(s)
        var out: [String] = []
        var i = 0, splits = 0
        while i < a.count {
            while i < a.count, Lexer.isSpace(a[i]) { i += 1 }
            if i == a.count { break }
            if maxSplit >= 0 && splits == maxSplit {
                var end = a.count
                while end > i, Lexer.isSpace(a[end - 1]) { end -= 1 }
                out.append(string(a[i..<end]))
                return out
            }
            let start = i
            while i < a.count, !Lexer.isSpace(a[i]) { i += 1 }
            out.append(string(a[start..<i]))
            splits += 1
        }
        return out
    }

    /// `rsplit(sep, maxsplit)` with an explicit separator.
    static func rsplit(_ s: String, separator: String?, maxSplit: Int) throws(JinjaError) -> [String] {
        if maxSplit < 0 { return try split(s, separator: separator, maxSplit: -1) }
        let reversedParts = try split(string(scalars(s).reversed()), separator: separator.map { string(scalars($0).reversed()) }, maxSplit: maxSplit)
        return reversedParts.reversed().map { string(scalars($0).reversed()) }
    }

    /// Python's line boundaries for `splitlines` (and jinja's `indent`).
    static func isLineBreak(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func splitLines(_ s: String, keepEnds: Bool = false) -> [String] {
        let a = scalars(s)
        var out: [String] = []
        var start = 0, i = 0
        while i < a.count {
            if isLineBreak(a[i]) {
                var end = i + 1
                if a[i] == "\r", end < a.count, a[end] == "\n" { end += 1 }
                out.append(string(a[start..<(keepEnds ? end : i)]))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        if start < a.count { out.append(string(a[start...])) }
        return out
    }

    static func isCased(_ u: Unicode.Scalar) -> Bool {
        u.properties.isUppercase || u.properties.isLowercase || u.properties.generalCategory == .titlecaseLetter
    }

    /// `str.title()`: a cased character after an uncased one is title-cased, others lowered.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for u in s.unicodeScalars {
            out += previousCased ? u.properties.lowercaseMapping : u.properties.titlecaseMapping
            previousCased = isCased(u)
        }
        return out
    }

    /// `str.capitalize()`: the first character title-cased, the rest lowered.
    static func capitalize(_ s: String) -> String {
        var out = ""
        for (i, u) in s.unicodeScalars.enumerated() {
            out += i == 0 ? u.properties.titlecaseMapping : u.properties.lowercaseMapping
        }
        return out
    }

    static func upper(_ s: String) -> String { s.unicodeScalars.map(\.properties.uppercaseMapping).joined() }
    static func lower(_ s: String) -> String { s.unicodeScalars.map(\.properties.lowercaseMapping).joined() }

    /// `str.replace(old, new, count)`.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        let a = scalars(s), o = scalars(old)
        if o.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            var out = new, n = 1
            for u in a {
                out.unicodeScalars.append(u)
                if count < 0 || n < count { out += new; n += 1 }
            }
            return count == 0 ? s : out
        }
        var out = String.UnicodeScalarView()
        var i = 0, done = 0
        while i < a.count {
            if (count < 0 || done < count), i + o.count <= a.count, a[i..<(i + o.count)].elementsEqual(o) {
                out.append(contentsOf: new.unicodeScalars)
                i += o.count
                done += 1
            } else {
                out.append(a[i])
                i += 1
            }
        }
        return String(out)
    }

    /// `str.find`: the code-point offset of `needle`, or -1.
    static func find(_ s: String, _ needle: String, fromEnd: Bool) -> Int {
        let a = scalars(s), n = scalars(needle)
        guard n.count <= a.count else { return -1 }
        let range = Array(0...(a.count - n.count))
        for i in (fromEnd ? range.reversed() : range) where a[i..<(i + n.count)].elementsEqual(n) { return i }
        return -1
    }

    static func count(_ s: String, _ needle: String) -> Int {
        let a = scalars(s), n = scalars(needle)
        if n.isEmpty { return a.count + 1 }
        var i = 0, c = 0
        while i + n.count <= a.count {
            if a[i..<(i + n.count)].elementsEqual(n) { c += 1; i += n.count } else { i += 1 }
        }
        return c
    }
}

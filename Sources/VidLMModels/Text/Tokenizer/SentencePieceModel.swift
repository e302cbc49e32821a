import Foundation

/// A SentencePiece model read from its protobuf file (`spiece.model`, `ModelProto`): the pieces
/// with scores and types, the trainer's model type (unigram or BPE) and byte fallback, and the
/// normalizer (precompiled character map, dummy prefix, extra-whitespace removal, whitespace
/// escaping). `encode` gives the pieces the `sentencepiece` library's `encode(out_type=str)` gives.
public struct SentencePieceModel: Sendable {
    public enum PieceType: Int, Sendable { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }
    public enum Algorithm: Int, Sendable { case unigram = 1, bpe = 2 }

    public struct Piece: Sendable {
        public let text: String
        public let score: Float
        public let type: PieceType
    }

    public let pieces: [Piece]
    public let algorithm: Algorithm
    public let byteFallback: Bool
    public let addDummyPrefix: Bool
    public let removeExtraWhitespaces: Bool
    public let escapeWhitespaces: Bool
    let charsMap: PrecompiledCharsMap?
    /// Normal, user-defined and unused pieces (what segmentation may produce) by their UTF-8 bytes.
    let vocabulary: [[UInt8]: Int]
    /// Control, unknown and byte pieces (reachable by `id(forPiece:)` only).
    let reserved: [String: Int]
    let userDefined: [[UInt8]]
    public let unknownId: Int
    let minScore: Float, maxScore: Float
    let longestPiece: Int

    static let file = "spiece.model"

    /// Parses a serialized `ModelProto`; a file that is not one, or one vidlm cannot follow, is a
    /// `TokenizerError` naming what is wrong.
    public init(data: Data) throws(TokenizerError) {
        func bad(_ why: String) -> TokenizerError { .invalid(file: Self.file, message: "is not a valid SentencePiece model: \(why).") }
        var reader = ProtobufReader(bytes: [UInt8](data))
        var pieces: [Piece] = []
        var trainer: [UInt8] = [], normalizer: [UInt8]? = nil
        do {
            while let (field, value) = try reader.next() {
                switch (field, value) {
                case (1, .bytes(let b)):
                    var r = ProtobufReader(bytes: b)
                    var text: String? = nil, score: Float = 0, type = PieceType.normal
                    while let (f, v) = try r.next() {
                        switch (f, v) {
                        case (1, .bytes(let s)):
                            guard let t = String(bytes: s, encoding: .utf8) else { throw bad("piece \(pieces.count) is not UTF-8") }
                            text = t
                        case (2, .fixed32(let bits)): score = Float(bitPattern: bits)
                        case (3, .varint(let t)):
                            guard let k = PieceType(rawValue: Int(truncatingIfNeeded: t)) else { throw bad("piece \(pieces.count) has an unknown type \(t)") }
                            type = k
                        case (1, _), (2, _), (3, _): throw bad("piece \(pieces.count) has a field of the wrong kind")
                        default: break
                        }
                    }
                    guard let text else { throw bad("piece \(pieces.count) has no text") }
                    pieces.append(Piece(text: text, score: score, type: type))
                case (2, .bytes(let b)): trainer = b
                case (3, .bytes(let b)): normalizer = b
                case (1, _), (2, _), (3, _): throw bad("field \(field) has the wrong wire type")
                default: break
                }
            }
        } catch let e as ProtobufReader.Failure {
            throw bad(e.why)
        } catch let e as TokenizerError {
            throw e
        } catch {
            throw bad("\(error)")
        }
        guard !pieces.isEmpty else { throw bad("it has no pieces") }

        var algorithm = Algorithm.unigram, byteFallback = false, suffix = false
        do {
            var r = ProtobufReader(bytes: trainer)
            while let (f, v) = try r.next() {
                switch (f, v) {
                case (3, .varint(let t)):
                    guard let a = Algorithm(rawValue: Int(truncatingIfNeeded: t)) else {
                        throw TokenizerError.unsupported(file: Self.file, component: "SentencePiece model_type", type: t == 3 ? "WORD" : t == 4 ? "CHAR" : "\(t)")
                    }
                    algorithm = a
                case (35, .varint(let t)): byteFallback = t != 0
                case (24, .varint(let t)): suffix = t != 0
                default: break
                }
            }
        } catch let e as ProtobufReader.Failure { throw bad("trainer_spec: \(e.why)") }
        catch let e as TokenizerError { throw e }
        catch { throw bad("\(error)") }
        guard !suffix else { throw TokenizerError.unsupported(file: Self.file, component: "SentencePiece option", type: "treat_whitespace_as_suffix") }

        var dummy = true, extra = true, escape = true, charsMap: [UInt8] = []
        if let normalizer {
            do {
                var r = ProtobufReader(bytes: normalizer)
                while let (f, v) = try r.next() {
                    switch (f, v) {
                    case (2, .bytes(let b)): charsMap = b
                    case (3, .varint(let t)): dummy = t != 0
                    case (4, .varint(let t)): extra = t != 0
                    case (5, .varint(let t)): escape = t != 0
                    default: break
                    }
                }
            } catch let e as ProtobufReader.Failure { throw bad("normalizer_spec: \(e.why)") }
            catch { throw bad("\(error)") }
        }
        self.pieces = pieces
        self.algorithm = algorithm
        self.byteFallback = byteFallback
        addDummyPrefix = dummy
        removeExtraWhitespaces = extra
        escapeWhitespaces = escape
        self.charsMap = charsMap.isEmpty ? nil : try PrecompiledCharsMap(charsMap)

        var vocabulary: [[UInt8]: Int] = [:], reserved: [String: Int] = [:], user: [[UInt8]] = []
        var unk: Int? = nil, lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude, longest = 1
        for (i, p) in pieces.enumerated() {
            switch p.type {
            case .normal, .userDefined, .unused:
                let bytes = Array(p.text.utf8)
                guard !bytes.isEmpty else { throw bad("piece \(i) is empty") }
                guard vocabulary[bytes] == nil else { throw bad("piece '\(p.text)' appears twice") }
                vocabulary[bytes] = i
                longest = max(longest, bytes.count)
                if p.type == .userDefined { user.append(bytes) }
                if p.type == .normal { lo = min(lo, p.score); hi = max(hi, p.score) }
            case .unknown:
                guard unk == nil else { throw bad("it has two unknown pieces") }
                unk = i
                reserved[p.text] = i
            case .control, .byte:
                reserved[p.text] = i
            }
        }
        guard let unk else { throw bad("it has no unknown piece") }
        self.vocabulary = vocabulary
        self.reserved = reserved
        userDefined = user.sorted { $0.count > $1.count }
        unknownId = unk
        minScore = lo == .greatestFiniteMagnitude ? 0 : lo
        maxScore = hi == -.greatestFiniteMagnitude ? 0 : hi
        longestPiece = longest
    }

    public init(contentsOf url: URL) throws(TokenizerError) {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw .missingFile(path: url.path) }
        try self.init(data: data)
    }

    /// `PieceToId`: a segmentable piece, else a control / unknown / byte piece, else the unknown id.
    public func id(forPiece piece: String) -> Int {
        vocabulary[Array(piece.utf8)] ?? reserved[piece] ?? unknownId
    }

    // MARK: Normalization

    /// The user-defined symbol at the start of `s[at...]`, if any (longest first).
    private func userSymbol(_ s: [UInt8], at: Int) -> Int? {
        for u in userDefined where at + u.count <= s.count && Array(s[at..<(at + u.count)]) == u { return u.count }
        return nil
    }

    /// `Normalizer::Normalize`: user-defined symbols kept, the character map's longest rule
    /// applied (else one character copied), leading / repeated / trailing spaces removed, a
    /// dummy "▁" prefix, spaces escaped as "▁".
    public func normalize(_ text: String) -> [UInt8] {
        let input = Array(text.utf8)
        var at = 0
        func prefix(_ i: Int) -> (out: [UInt8], consumed: Int) {
            if let n = userSymbol(input, at: i) { return (Array(input[i..<(i + n)]), n) }
            if let charsMap, let (replacement, n) = charsMap.longestMatch(input, at: i) { return (replacement, n) }
            let n = utf8Length(input[i])
            return (Array(input[i..<min(input.count, i + n)]), min(n, input.count - i))
        }
        if removeExtraWhitespaces {
            while at < input.count {
                let p = prefix(at)
                if p.out != [0x20] { break }
                at += p.consumed
            }
        }
        if at >= input.count { return [] }
        let space: [UInt8] = [0xE2, 0x96, 0x81]
        var out: [UInt8] = []
        if addDummyPrefix { out += escapeWhitespaces ? space : [0x20] }
        var previousSpace = removeExtraWhitespaces
        while at < input.count {
            let p = prefix(at)
            var piece = p.out[...]
            if previousSpace { while piece.first == 0x20 { piece = piece.dropFirst() } }
            if !piece.isEmpty {
                for b in piece { if escapeWhitespaces && b == 0x20 { out += space } else { out.append(b) } }
                previousSpace = piece.last == 0x20
            }
            at += p.consumed
            if !removeExtraWhitespaces { previousSpace = false }
        }
        if removeExtraWhitespaces {
            let tail: [UInt8] = escapeWhitespaces ? space : [0x20]
            while out.count >= tail.count && Array(out.suffix(tail.count)) == tail { out.removeLast(tail.count) }
        }
        return out
    }

    // MARK: Encoding

    /// The pieces of `text` as `SentencePieceProcessor.encode(text, out_type=str)` gives them
    /// (runs of unknown characters merged into one piece; with byte fallback, unknown characters
    /// as `<0xNN>` pieces).
    public func encode(_ text: String) -> [String] {
        let normalized = normalize(text)
        if normalized.isEmpty { return [] }
        let segments = algorithm == .unigram ? viterbi(normalized) : bpe(normalized)
        // Merge runs of unknown pieces.
        var merged: [(bytes: [UInt8], id: Int)] = []
        for s in segments {
            if s.id == unknownId, let last = merged.last, last.id == unknownId {
                merged[merged.count - 1].bytes += s.bytes
            } else {
                merged.append(s)
            }
        }
        var out: [String] = []
        for m in merged {
            if m.id == unknownId && byteFallback {
                for b in m.bytes { out.append(String(format: "<0x%02X>", b)) }
            } else {
                out.append(String(decoding: m.bytes, as: UTF8.self))
            }
        }
        return out
    }

    /// Ids of `encode(text)`.
    public func encodeIds(_ text: String) -> [Int] { encode(text).map(id(forPiece:)) }

    /// Unigram: the best-scoring segmentation (float32 sums, as the library), user-defined
    /// symbols with their bonus, an unknown piece (min score − 10) where no piece covers a character.
    private func viterbi(_ s: [UInt8]) -> [(bytes: [UInt8], id: Int)] {
        let n = s.count
        var best = [Float](repeating: 0, count: n + 1)
        var from = [Int](repeating: -1, count: n + 1)
        var ids = [Int](repeating: -1, count: n + 1)
        from[0] = 0
        let unkScore = minScore - 10
        var start = 0
        while start < n {
            let base = best[start]
            let charLength = min(utf8Length(s[start]), n - start)
            var single = false
            if from[start] >= 0 || start == 0 {
                var end = start + 1
                while end <= min(n, start + longestPiece) {
                    if let id = vocabulary[Array(s[start..<end])], pieces[id].type != .unused {
                        let length = end - start
                        let score = pieces[id].type == .userDefined ? Float(length) * maxScore - 0.1 : pieces[id].score
                        let candidate = score + base
                        if from[end] == -1 || candidate > best[end] { best[end] = candidate; from[end] = start; ids[end] = id }
                        if length == charLength { single = true }
                    }
                    end += 1
                }
                if !single {
                    let end = start + charLength, candidate = unkScore + base
                    if from[end] == -1 || candidate > best[end] { best[end] = candidate; from[end] = start; ids[end] = unknownId }
                }
            }
            start += charLength
        }
        var out: [(bytes: [UInt8], id: Int)] = []
        var end = n
        while end > 0 {
            let b = from[end]
            out.append((Array(s[b..<end]), ids[end]))
            end = b
        }
        return out.reversed()
    }

    /// BPE: characters (user-defined symbols whole and frozen), then repeatedly the adjacent pair
    /// whose join is a piece with the highest score (leftmost on ties); unused pieces split back.
    private func bpe(_ s: [UInt8]) -> [(bytes: [UInt8], id: Int)] {
        struct Symbol { var start: Int; var length: Int; var prev: Int; var next: Int; var frozen: Bool }
        var symbols: [Symbol] = []
        var at = 0
        while at < s.count {
            let user = userSymbol(s, at: at)
            let n = user ?? min(utf8Length(s[at]), s.count - at)
            symbols.append(Symbol(start: at, length: n, prev: symbols.count - 1, next: symbols.count + 1, frozen: user != nil))
            at += n
        }
        if symbols.isEmpty { return [] }
        symbols[symbols.count - 1].next = -1
        struct Pair { let left: Int; let right: Int; let score: Float; let size: Int }
        var agenda: [Pair] = []
        var reverse: [[UInt8]: ([UInt8], [UInt8])] = [:]
        func add(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0, !symbols[l].frozen, !symbols[r].frozen else { return }
            let bytes = Array(s[symbols[l].start..<(symbols[r].start + symbols[r].length)])
            guard let id = vocabulary[bytes] else { return }
            agenda.append(Pair(left: l, right: r, score: pieces[id].score, size: bytes.count))
            if pieces[id].type == .unused {
                reverse[bytes] = (Array(s[symbols[l].start..<(symbols[l].start + symbols[l].length)]),
                                  Array(s[symbols[r].start..<(symbols[r].start + symbols[r].length)]))
            }
        }
        for i in 1..<symbols.count { add(i - 1, i) }
        while !agenda.isEmpty {
            // The highest score, then the smallest left index (the library's priority queue order).
            var top = 0
            for k in 1..<agenda.count {
                let a = agenda[k], b = agenda[top]
                if a.score > b.score || (a.score == b.score && a.left < b.left) { top = k }
            }
            let p = agenda.remove(at: top)
            let l = symbols[p.left], r = symbols[p.right]
            guard l.length > 0, r.length > 0, l.length + r.length == p.size, l.next == p.right else { continue }
            symbols[p.left].length += r.length
            symbols[p.left].next = r.next
            if r.next >= 0 { symbols[r.next].prev = p.left }
            symbols[p.right].length = 0
            add(symbols[p.left].prev, p.left)
            add(p.left, symbols[p.left].next)
        }
        var out: [(bytes: [UInt8], id: Int)] = []
        func resegment(_ bytes: [UInt8]) {
            if let id = vocabulary[bytes], pieces[id].type != .unused { out.append((bytes, id)); return }
            if let (a, b) = reverse[bytes] { resegment(a); resegment(b); return }
            out.append((bytes, unknownId))
        }
        var i = 0
        while i != -1 {
            resegment(Array(s[symbols[i].start..<(symbols[i].start + symbols[i].length)]))
            i = symbols[i].next
        }
        return out
    }
}

/// The length of the UTF-8 sequence a lead byte starts (1 for stray continuation bytes).
@inline(__always) func utf8Length(_ lead: UInt8) -> Int {
    switch lead {
    case 0xF0...0xF7: return 4
    case 0xE0...0xEF: return 3
    case 0xC0...0xDF: return 2
    default: return 1
    }
}

/// SentencePiece's precompiled normalization rules: a Darts-clone double-array trie over UTF-8
/// byte sequences whose values are offsets into a blob of NUL-terminated replacement strings
/// (layout: little-endian u32 trie size in bytes, the trie's u32 units, the strings).
struct PrecompiledCharsMap: Sendable {
    let units: [UInt32]
    let strings: [UInt8]

    init(_ blob: [UInt8]) throws(TokenizerError) {
        func bad(_ why: String) -> TokenizerError { .invalid(file: SentencePieceModel.file, message: "is not a valid SentencePiece model: its precompiled character map \(why).") }
        guard blob.count >= 4 else { throw bad("is truncated") }
        let size = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard size % 4 == 0, size >= 4, 4 + size <= blob.count else { throw bad("has a trie size (\(size)) that does not fit") }
        var units = [UInt32](repeating: 0, count: size / 4)
        for i in 0..<units.count {
            let o = 4 + i * 4
            units[i] = UInt32(blob[o]) | UInt32(blob[o + 1]) << 8 | UInt32(blob[o + 2]) << 16 | UInt32(blob[o + 3]) << 24
        }
        self.units = units
        strings = Array(blob[(4 + size)...])
    }

    /// The longest rule matching `s` at `at`: its replacement and how many bytes it consumes.
    func longestMatch(_ s: [UInt8], at: Int) -> ([UInt8], Int)? {
        func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }
        var node = 0
        guard !units.isEmpty else { return nil }
        node ^= offset(units[0])
        var best: (value: Int, length: Int)? = nil
        var i = at
        while i < s.count {
            node ^= Int(s[i])
            guard node >= 0, node < units.count else { break }
            let u = units[node]
            guard (u & ((1 << 31) | 0xFF)) == UInt32(s[i]) else { break }
            node ^= offset(u)
            guard node >= 0, node < units.count else { break }
            if (u >> 8) & 1 == 1 {
                best = (Int(units[node] & ((1 << 31) - 1)), i + 1 - at)
            }
            i += 1
        }
        guard let best, best.value < strings.count else { return nil }
        var end = best.value
        while end < strings.count && strings[end] != 0 { end += 1 }
        return (Array(strings[best.value..<end]), best.length)
    }
}

/// A minimal protobuf wire-format reader (varint, fixed 32/64, length-delimited fields).
struct ProtobufReader {
    enum Value { case varint(UInt64), fixed64(UInt64), bytes([UInt8]), fixed32(UInt32) }
    struct Failure: Error { let why: String }
    let bytes: [UInt8]
    var at = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard at < bytes.count else { throw Failure(why: "it ends inside a number") }
            let b = bytes[at]
            at += 1
            guard shift < 64 else { throw Failure(why: "it has a number longer than 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// The next field, or nil at the end.
    mutating func next() throws -> (Int, Value)? {
        guard at < bytes.count else { return nil }
        let key = try varint()
        let field = Int(truncatingIfNeeded: key >> 3)
        guard field > 0 else { throw Failure(why: "it has a field number 0") }
        switch key & 7 {
        case 0: return (field, .varint(try varint()))
        case 1:
            guard at + 8 <= bytes.count else { throw Failure(why: "it ends inside a 64-bit value") }
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
            at += 8
            return (field, .fixed64(v))
        case 2:
            let n = try varint()
            guard n <= UInt64(bytes.count - at) else { throw Failure(why: "a field claims \(n) bytes but \(bytes.count - at) remain") }
            let v = Array(bytes[at..<(at + Int(n))])
            at += Int(n)
            return (field, .bytes(v))
        case 5:
            guard at + 4 <= bytes.count else { throw Failure(why: "it ends inside a 32-bit value") }
            var v: UInt32 = 0
            for k in 0..<4 { v |= UInt32(bytes[at + k]) << (8 * UInt32(k)) }
            at += 4
            return (field, .fixed32(v))
        default:
            throw Failure(why: "it uses wire type \(key & 7), which a SentencePiece model never does")
        }
    }
}

import Foundation

/// Byte-pair encoding with a merge-rank table (GPT-2, LLaMA-2/3, Qwen, OPT, ...), including
/// SentencePiece-style `byte_fallback` to `<0xNN>` tokens and unknown-token fusing.
final class BPEModel: Sendable {
    struct Merge: Sendable { let rank: Int32; let newId: Int32 }

    let vocab: [TokenString: Int]
    let merges: [UInt64: Merge]
    let unkId: Int?
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    /// `<0xNN>` ids, when byte fallback is on.
    let byteIds: [Int?]
    private let cache = WordCache()

    init(_ obj: TokenizerJSONObject) throws(TokenizerError) {
        let file = obj.file
        if let dropout = obj.value("dropout") {
            guard case .number(let p) = dropout else { throw obj.fail("dropout", "a number") }
            if p > 0 {
                throw TokenizerError.unsupported(file: file, component: "BPE option", type: "dropout \(p)")
            }
        }
        let vocabObj = try obj.object("vocab")
        var vocab: [TokenString: Int] = [:]
        vocab.reserveCapacity(vocabObj.fields.count)
        for (token, value) in vocabObj.fields {
            vocab[token] = try TokenizerJSONObject.int(value, path: vocabObj.key(token.string), file: file)
        }
        self.vocab = vocab
        continuingSubwordPrefix = try obj.optionalString("continuing_subword_prefix")
        endOfWordSuffix = try obj.optionalString("end_of_word_suffix")
        fuseUnk = try obj.bool("fuse_unk", default: false)
        byteFallback = try obj.bool("byte_fallback", default: false)
        ignoreMerges = try obj.bool("ignore_merges", default: false)
        if let unk = try obj.optionalString("unk_token") {
            guard let id = vocab[TokenString(unk)] else {
                throw TokenizerError.invalid(file: file, message: "'\(obj.key("unk_token"))' names '\(unk)', which is not in the vocabulary.")
            }
            unkId = id
        } else {
            unkId = nil
        }
        byteIds = (0..<256).map { b in
            vocab[TokenString("<0x" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) + ">")]
        }

        // Merges: "a b" strings (up to tokenizers 0.19) or ["a", "b"] pairs.
        let list = obj.has("merges") ? try obj.array("merges") : []
        let prefixCount = continuingSubwordPrefix?.unicodeScalars.count ?? 0
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(list.count)
        for (rank, item) in list.enumerated() {
            let path = "\(obj.key("merges"))[\(rank)]"
            let a: String, b: String
            switch item {
            case .string(let line):
                let scalars = line.unicodeScalars
                guard let space = scalars.firstIndex(of: " ") else {
                    throw TokenizerError.invalid(file: file, message: "'\(path)' must be two tokens separated by a space, not '\(line)'.")
                }
                a = String(scalars[..<space])
                b = String(scalars[scalars.index(after: space)...])
            case .array(let pair) where pair.count == 2:
                a = try TokenizerJSONObject.string(pair[0], path: path + "[0]", file: file)
                b = try TokenizerJSONObject.string(pair[1], path: path + "[1]", file: file)
            default:
                throw TokenizerError.invalid(file: file, message: "'\(path)' must be a string \"a b\" or a pair [\"a\", \"b\"].")
            }
            guard let aId = vocab[TokenString(a)], let bId = vocab[TokenString(b)] else {
                throw TokenizerError.invalid(file: file, message: "'\(path)' merges '\(vocab[TokenString(a)] == nil ? a : b)', which is not in the vocabulary.")
            }
            var merged = a
            merged.unicodeScalars.append(contentsOf: b.unicodeScalars.dropFirst(prefixCount))
            guard let newId = vocab[TokenString(merged)] else {
                throw TokenizerError.invalid(file: file, message: "'\(path)' makes '\(merged)', which is not in the vocabulary.")
            }
            merges[BPEModel.key(aId, bId)] = Merge(rank: Int32(rank), newId: Int32(newId))
        }
        self.merges = merges
    }

    @inline(__always)
    static func key(_ a: Int, _ b: Int) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: a)) << 32 | UInt64(UInt32(truncatingIfNeeded: b)) }

    var vocabularyCount: Int { vocab.count }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        let key = TokenString(word)
        if ignoreMerges, let id = vocab[key] { return [id] }
        if let hit = cache.get(key) { return hit }
        let ids = mergeWord(word)
        if word.count < 256 { cache.put(key, ids) }
        return ids
    }

    private func mergeWord(_ word: [Unicode.Scalar]) -> [Int] {
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        var unk: Int? = nil
        for (i, c) in word.enumerated() {
            var s = String(c)
            if i > 0, let p = continuingSubwordPrefix { s = p + s }
            if i == word.count - 1, let x = endOfWordSuffix { s += x }
            if let id = vocab[TokenString(s)] {
                if let u = unk { symbols.append(u); unk = nil }
                symbols.append(id)
                continue
            }
            if byteFallback {
                let ids = s.utf8.map { byteIds[Int($0)] }
                if ids.allSatisfy({ $0 != nil }) {
                    symbols.append(contentsOf: ids.map { $0! })
                    continue
                }
            }
            if let unkId {
                if let u = unk, !fuseUnk { symbols.append(u) }
                unk = unkId
            }
        }
        if let u = unk { symbols.append(u) }
        return merge(symbols)
    }

    /// Applies merges lowest rank first (leftmost among equals), as the library's `Word::merge_all`.
    private func merge(_ ids: [Int]) -> [Int] {
        let n = ids.count
        if n < 2 { return ids }
        var c = ids
        var prev = [Int](0..<n).map { $0 - 1 }
        var next = [Int](1...n)
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merges[BPEModel.key(c[i], c[i + 1])] { heap.push(rank: m.rank, pos: i, newId: m.newId) }
        }
        while let top = heap.pop() {
            let pos = top.pos
            guard alive[pos] else { continue }
            let nx = next[pos]
            guard nx < n else { continue }
            guard let m = merges[BPEModel.key(c[pos], c[nx])], m.newId == top.newId else { continue }
            c[pos] = Int(top.newId)
            alive[nx] = false
            next[pos] = next[nx]
            if next[nx] < n { prev[next[nx]] = pos }
            if prev[pos] >= 0, let pm = merges[BPEModel.key(c[prev[pos]], c[pos])] {
                heap.push(rank: pm.rank, pos: prev[pos], newId: pm.newId)
            }
            if next[pos] < n, let nm = merges[BPEModel.key(c[pos], c[next[pos]])] {
                heap.push(rank: nm.rank, pos: pos, newId: nm.newId)
            }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var i = 0
        while i < n { out.append(c[i]); i = next[i] }
        return out
    }
}

/// A min-heap of pending merges ordered by (rank, position).
private struct MergeHeap {
    struct Entry { let rank: Int32; let pos: Int; let newId: Int32 }
    private var items: [Entry] = []

    @inline(__always) private func less(_ a: Entry, _ b: Entry) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos
    }

    mutating func push(rank: Int32, pos: Int, newId: Int32) {
        items.append(Entry(rank: rank, pos: pos, newId: newId))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, less(items[l], items[m]) { m = l }
                if r < items.count, less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}

/// The BPE word cache, shared by concurrent encodes.
final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [TokenString: [Int]] = [:]
    private let capacity = 10_000

    func get(_ key: TokenString) -> [Int]? {
        lock.lock(); defer { lock.unlock() }
        return storage[key]
    }

    func put(_ key: TokenString, _ value: [Int]) {
        lock.lock(); defer { lock.unlock() }
        if storage.count >= capacity { storage.removeAll(keepingCapacity: true) }
        storage[key] = value
    }
}

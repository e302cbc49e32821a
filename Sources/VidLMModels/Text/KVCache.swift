/// The keys and values of every layer for one request, preallocated for `capacity` positions
/// (prompt plus the tokens to generate). A value type: copying a cache and extending both copies
/// is safe (the first write to a shared cache copies the filled rows).
///
/// Layout: per layer, keys and values as f32 [capacity, kvHeads·headDim], row p = position p.
public struct KVCache: Sendable {
    public let layerCount: Int
    /// Floats per position and layer, for keys and for values (kvHeads · headDim).
    public let width: Int
    public let capacity: Int
    /// Positions filled so far (the next forward pass starts here).
    public private(set) var count: Int = 0
    private var storage: Storage

    public init(layers: Int, width: Int, capacity: Int) {
        precondition(layers >= 0 && width > 0 && capacity >= 0, "bad cache geometry")
        layerCount = layers
        self.width = width
        self.capacity = capacity
        storage = Storage(floats: layers * 2 * capacity * width)
    }

    /// Positions still free.
    public var remaining: Int { capacity - count }

    /// Bytes held for keys and values.
    public var byteCount: Int { layerCount * 2 * capacity * width * 4 }

    /// Forgets every position after the first `length` (e.g. to reuse a shared prompt prefix).
    public mutating func truncate(to length: Int) {
        precondition(length >= 0 && length <= count, "cannot truncate a cache of \(count) positions to \(length)")
        count = length
    }

    public mutating func reset() { count = 0 }

    // MARK: for the models

    /// Makes the storage exclusively this value's before a forward pass writes into it.
    mutating func prepareForWrite() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy(layers: layerCount, capacity: capacity, width: width, rows: count)
        }
    }

    func keys(layer: Int) -> UnsafeMutablePointer<Float> { storage.base + (layer * 2) * capacity * width }
    func values(layer: Int) -> UnsafeMutablePointer<Float> { storage.base + (layer * 2 + 1) * capacity * width }

    /// Marks `n` more positions as filled (after every layer wrote them).
    mutating func advance(by n: Int) {
        precondition(count + n <= capacity, "cache overflow")
        count += n
    }

    final class Storage: @unchecked Sendable {
        let base: UnsafeMutablePointer<Float>
        let floats: Int
        // Untouched pages of a large allocation are not committed: capacity costs address space,
        // and memory only as positions fill.
        init(floats: Int) {
            self.floats = floats
            base = UnsafeMutablePointer<Float>.allocate(capacity: max(floats, 1))
        }

        deinit { base.deallocate() }

        func copy(layers: Int, capacity: Int, width: Int, rows: Int) -> Storage {
            let s = Storage(floats: floats)
            for block in 0..<(layers * 2) {
                let offset = block * capacity * width
                (s.base + offset).update(from: base + offset, count: rows * width)
            }
            return s
        }
    }
}

/// The keys and values of every layer for one request, preallocated for `capacity` positions
/// (prompt plus the tokens to generate). A value type: copying a cache and extending both copies
/// is safe (the first write to a shared cache copies the filled rows).
///
/// Layout: per layer, keys and values as [capacity, kvHeads·headDim] in `precision`, row p =
/// position p.
public struct KVCache: Sendable {
    /// How keys and values are stored: f32 (what transformers' parity needs), or f16 for decoders
    /// whose weights are block-quantized (as llama.cpp keeps its cache): half the memory and half
    /// the bytes a decoding step reads, with attention still computed in f32.
    public enum Precision: Sendable, Equatable {
        /// f32 elements; `f16` (block-quantized decoders) and `bf16` (bf16 decoders that attend in
        /// bf16, whose keys and values are bf16 values: the cache holds them exactly in half the
        /// memory) are 16-bit.
        case f32, f16, bf16

        public var bytes: Int { self == .f32 ? 4 : 2 }
    }

    public let layerCount: Int
    /// Elements per position and layer, for keys and for values (kvHeads · headDim).
    public let width: Int
    public let capacity: Int
    public let precision: Precision
    /// Positions filled so far (the next forward pass starts here).
    public private(set) var count: Int = 0
    private var storage: Storage

    public init(layers: Int, width: Int, capacity: Int, precision: Precision = .f32) {
        precondition(layers >= 0 && width > 0 && capacity >= 0, "bad cache geometry")
        layerCount = layers
        self.width = width
        self.capacity = capacity
        self.precision = precision
        storage = Storage(bytes: layers * 2 * capacity * width * precision.bytes)
    }

    /// Positions still free.
    public var remaining: Int { capacity - count }

    /// Bytes held for keys and values.
    public var byteCount: Int { layerCount * 2 * capacity * width * precision.bytes }

    /// Forgets every position after the first `length` (e.g. to reuse a shared prompt prefix).
    public mutating func truncate(to length: Int) {
        precondition(length >= 0 && length <= count, "cannot truncate a cache of \(count) positions to \(length)")
        count = length
    }

    public mutating func reset() { count = 0 }

    /// The same positions in a cache with room for `capacity` (at least `count`) in all.
    public func resized(capacity newCapacity: Int) -> KVCache {
        precondition(newCapacity >= count, "cannot hold \(count) positions in \(newCapacity)")
        var resized = KVCache(layers: layerCount, width: width, capacity: newCapacity, precision: precision)
        let rowBytes = width * precision.bytes
        for block in 0..<(layerCount * 2) {
            (resized.storage.base + block * newCapacity * rowBytes)
                .copyMemory(from: storage.base + block * capacity * rowBytes, byteCount: count * rowBytes)
        }
        resized.count = count
        return resized
    }

    // MARK: for the models

    /// Makes the storage exclusively this value's before a forward pass writes into it.
    mutating func prepareForWrite() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy(blocks: layerCount * 2, blockBytes: capacity * width * precision.bytes,
                                   usedBytes: count * width * precision.bytes)
        }
    }

    /// Layer `layer`'s key rows (f32, f16 or bf16 elements, per `precision`).
    func keys(layer: Int) -> UnsafeMutableRawPointer { storage.base + (layer * 2) * capacity * width * precision.bytes }
    func values(layer: Int) -> UnsafeMutableRawPointer { storage.base + (layer * 2 + 1) * capacity * width * precision.bytes }

    /// Marks `n` more positions as filled (after every layer wrote them).
    mutating func advance(by n: Int) {
        precondition(count + n <= capacity, "cache overflow")
        count += n
    }

    final class Storage: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let bytes: Int
        // Untouched pages of a large allocation are not committed: capacity costs address space,
        // and memory only as positions fill.
        init(bytes: Int) {
            self.bytes = bytes
            base = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        }

        deinit { base.deallocate() }

        func copy(blocks: Int, blockBytes: Int, usedBytes: Int) -> Storage {
            let s = Storage(bytes: bytes)
            for block in 0..<blocks {
                (s.base + block * blockBytes).copyMemory(from: base + block * blockBytes, byteCount: usedBytes)
            }
            return s
        }
    }
}

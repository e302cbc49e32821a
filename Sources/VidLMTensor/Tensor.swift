/// A contiguous, row-major n-dimensional array. A value: copying a tensor shares its (immutable)
/// storage; operations return new tensors.
public struct Tensor: Sendable {
    public let shape: [Int]
    public let dtype: DType
    public let storage: TensorStorage
    /// Where this tensor's bytes start inside `storage`.
    public let byteOffset: Int

    public init(shape: [Int], dtype: DType, storage: TensorStorage, byteOffset: Int = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension")
        precondition(!dtype.isBlockQuantized || (shape.last ?? 0) % dtype.blockElements == 0,
                     "a \(dtype.rawValue) tensor's last dimension must be a multiple of \(dtype.blockElements)")
        precondition(byteOffset + dtype.byteCount(elements: Tensor.elementCount(shape)) <= storage.byteCount,
                     "tensor exceeds its storage")
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        self.byteOffset = byteOffset
    }

    /// An f32 tensor holding `values`.
    public init(shape: [Int], values: [Float]) {
        precondition(Tensor.elementCount(shape) == values.count, "shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
        let storage = TensorStorage(byteCount: values.count * 4)
        values.withUnsafeBytes { src in
            if let b = src.baseAddress { storage.mutableBase.copyMemory(from: b, byteCount: src.count) }
        }
        self.init(shape: shape, dtype: .f32, storage: storage)
    }

    /// A new f32 tensor whose elements `fill` writes. The memory starts zeroed unless
    /// `uninitialized` (then `fill` must write every element).
    public static func make(shape: [Int], uninitialized: Bool = false,
                            _ fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows -> Tensor {
        let n = elementCount(shape)
        let storage = TensorStorage(byteCount: n * 4, zeroed: !uninitialized)
        let p = storage.mutableBase.bindMemory(to: Float.self, capacity: max(n, 1))
        try fill(UnsafeMutableBufferPointer(start: p, count: n))
        return Tensor(shape: shape, dtype: .f32, storage: storage)
    }

    public static func zeros(_ shape: [Int]) -> Tensor { make(shape: shape) { _ in } }

    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    public var count: Int { Tensor.elementCount(shape) }
    public var rank: Int { shape.count }
    public var byteCount: Int { dtype.byteCount(elements: count) }
    public var rawBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.base + byteOffset, count: byteCount)
    }

    /// The elements of an f32 tensor, without copying.
    public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if dtype == .f32 {
            let p = (storage.base + byteOffset).assumingMemoryBound(to: Float.self)
            return try body(UnsafeBufferPointer(start: p, count: count))
        }
        let converted = toF32()
        return try converted.withFloats(body)
    }

    /// All elements as Float (converting bf16/f16/f64/integers).
    public func floats() -> [Float] { withFloats { Array($0) } }

    /// The same elements as f32 (shares storage when already f32).
    public func toF32() -> Tensor {
        if dtype == .f32 { return self }
        let n = count
        let src = storage.base + byteOffset
        return Tensor.make(shape: shape) { out in
            switch dtype {
            case .bf16:
                let s = src.assumingMemoryBound(to: UInt16.self)
                for i in 0..<n { out[i] = HalfPrecision.bf16ToFloat(s[i]) }
            case .f16:
                let s = src.assumingMemoryBound(to: UInt16.self)
                for i in 0..<n { out[i] = HalfPrecision.f16ToFloat(s[i]) }
            case .f64:
                for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            case .i64:
                for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
            case .i32:
                for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
            case .i16:
                for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)) }
            case .i8:
                for i in 0..<n { out[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
            case .u8, .bool:
                for i in 0..<n { out[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
            case .q8_0, .q4_0, .q4_k:
                BlockQuantization.dequantize(UnsafeRawPointer(src), format: dtype, count: n, into: out.baseAddress!)
            case .q8_0r16, .q4_0r16:
                BlockQuantization.dequantizeInterleaved(UnsafeRawPointer(src), format: dtype, rows: n / shape[rank - 1],
                                                        k: shape[rank - 1], into: out.baseAddress!)
            case .q4_kr16:
                KQuantization.dequantizeInterleaved(UnsafeRawPointer(src), rows: n / shape[rank - 1], k: shape[rank - 1],
                                                    into: out.baseAddress!)
            case .f32:
                break
            }
        }
    }

    /// Converts to a narrower float type (round to nearest even) or back to f32.
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return self }
        let f = toF32()
        switch target {
        case .f32: return f
        case .bf16, .f16:
            let storage = TensorStorage(byteCount: count * 2, zeroed: false)
            let out = UncheckedSendable(storage.mutableBase.assumingMemoryBound(to: UInt16.self))
            f.withFloats { src in
                // Split across cores: `--compute bf16` converts every projection of a model at load.
                let input = UncheckedSendable(src.baseAddress!)
                ParallelLoop.forEachChunk(src.count, minimumPerChunk: 1 << 16) { range in
                    for i in range {
                        out.value[i] = target == .bf16 ? HalfPrecision.floatToBF16(input.value[i]) : HalfPrecision.floatToF16(input.value[i])
                    }
                }
            }
            return Tensor(shape: shape, dtype: target, storage: storage)
        default:
            preconditionFailure("conversion to \(target) is not supported")
        }
    }

    /// The same elements with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(newShape) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, dtype: dtype, storage: storage, byteOffset: byteOffset)
    }

    /// Slice `index` of the first dimension, without copying.
    public func slice(_ index: Int) -> Tensor {
        precondition(rank >= 1 && index >= 0 && index < shape[0], "slice \(index) out of range for \(shape)")
        let inner = Array(shape.dropFirst())
        let stride = dtype.byteCount(elements: Tensor.elementCount(inner))
        return Tensor(shape: inner, dtype: dtype, storage: storage, byteOffset: byteOffset + index * stride)
    }

    /// Rows `range` of the first dimension, without copying.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) out of range for \(shape)")
        var s = shape
        s[0] = range.count
        let stride = dtype.byteCount(elements: Tensor.elementCount(Array(shape.dropFirst())))
        return Tensor(shape: s, dtype: dtype, storage: storage, byteOffset: byteOffset + range.lowerBound * stride)
    }
}

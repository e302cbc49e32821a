/// A dense Float32 tensor in row-major (C) order: what a vision encoder takes as `pixel_values`.
/// For preprocessed frames the shape is `[T, 3, H, W]` (frames, RGB channels, rows, columns),
/// the same layout transformers returns with `return_tensors="np"`/`"pt"`.
public struct PixelTensor: Sendable, Equatable {
    public let shape: [Int]
    public var values: [Float]

    /// Fails unless `values.count` is the product of `shape` and no dimension is negative.
    public init(shape: [Int], values: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }),
              shape.reduce(1, *) == values.count else {
            throw PreprocessError.shapeMismatch(shape: shape, valueCount: values.count)
        }
        self.shape = shape
        self.values = values
    }

    /// Internal: callers that built `values` to match `shape` by construction.
    init(uncheckedShape shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// The values as little-endian float32 bytes (the `.bin` layout of the parity fixtures).
    public func littleEndianBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(values.count * 4)
        for v in values {
            let b = v.bitPattern   // shifts take bytes low to high on any host
            out.append(UInt8(truncatingIfNeeded: b))
            out.append(UInt8(truncatingIfNeeded: b >> 8))
            out.append(UInt8(truncatingIfNeeded: b >> 16))
            out.append(UInt8(truncatingIfNeeded: b >> 24))
        }
        return out
    }
}

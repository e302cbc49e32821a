extension Tensor {
    /// The flat index of the first Inf or NaN element, or nil. `rowStride` > 1 checks only every
    /// `rowStride`-th row of the first dimension (a cheap sample of a large matrix); the first and
    /// last rows are always checked. Reads the bits directly (no conversion), in parallel.
    public func firstNonFiniteElement(rowStride: Int = 1) -> Int? {
        guard dtype.isFloatingPoint, count > 0 else { return nil }
        let rows = rank == 0 ? 1 : shape[0]
        let width = count / max(rows, 1)
        var picked = Array(stride(from: 0, to: rows, by: max(1, rowStride)))
        if let last = picked.last, last != rows - 1 { picked.append(rows - 1) }
        let base = storage.base + byteOffset
        let dt = dtype
        let found = UnsafeMutablePointer<Int>.allocate(capacity: max(picked.count, 1))
        defer { found.deallocate() }
        let foundBase = found
        picked.withUnsafeBufferPointer { rowsToCheck in
            let list = rowsToCheck.baseAddress!
            ParallelLoop.forEachChunk(rowsToCheck.count, minimumPerChunk: max(1, (1 << 18) / max(width, 1))) { range in
                for i in range {
                    let r = list[i]
                    let at = Tensor.firstNonFinite(base + r * width * dt.byteSize, dtype: dt, count: width)
                    foundBase[i] = at.map { r * width + $0 } ?? -1
                }
            }
        }
        for i in 0..<picked.count where found[i] >= 0 { return found[i] }
        return nil
    }

    static func firstNonFinite(_ p: UnsafeRawPointer, dtype: DType, count: Int) -> Int? {
        switch dtype {
        case .bf16, .f16:
            let mask: UInt16 = dtype == .bf16 ? 0x7F80 : 0x7C00
            var i = 0
            let vm = SIMD16<UInt16>(repeating: mask)
            while i + 16 <= count {
                let v = p.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self) & vm
                if any(v .== vm) { break }
                i += 16
            }
            while i < count {
                if p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self) & mask == mask { return i }
                i += 1
            }
            return nil
        case .f32:
            let mask: UInt32 = 0x7F80_0000
            var i = 0
            let vm = SIMD8<UInt32>(repeating: mask)
            while i + 8 <= count {
                let v = p.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<UInt32>.self) & vm
                if any(v .== vm) { break }
                i += 8
            }
            while i < count {
                if p.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self) & mask == mask { return i }
                i += 1
            }
            return nil
        case .f64:
            for i in 0..<count where !p.loadUnaligned(fromByteOffset: i * 8, as: Double.self).isFinite { return i }
            return nil
        default:
            return nil
        }
    }
}

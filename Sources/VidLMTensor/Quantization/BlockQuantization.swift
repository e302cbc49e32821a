import CKernels
/// llama.cpp's block formats, bit for bit: a row of k weights (k a multiple of 32) is k/32 blocks.
/// - q8_0 (34 bytes): f16 scale d = amax/127, then 32 int8 values round(x/d) (half away from zero).
/// - q4_0 (18 bytes): f16 scale d = v/−8 where v is the first element of largest magnitude, then
///   16 bytes: byte j holds element j in its low nibble and element j+16 in its high nibble, each
///   min(15, trunc(x/d + 8.5)); the value is (nibble − 8)·d.
/// These are the reference quantizers (ggml's `quantize_row_q8_0_ref` / `_q4_0_ref`, the `gguf`
/// package's numpy ones); `Tests/Fixtures/quant` proves the bytes equal the `gguf` package's.
public enum BlockQuantization {
    public static let blockElements = 32

    /// "q8_0" → .q8_0, "q4_0" → .q4_0, "q4_k" → .q4_k (case-insensitive); nil for anything else.
    public static func format(named name: String) -> DType? {
        switch name.lowercased() {
        case "q8_0": .q8_0
        case "q4_0": .q4_0
        case "q4_k": .q4_k
        default: nil
        }
    }

    /// The names `format(named:)` knows, for messages.
    public static let knownNames = "q8_0, q4_0, q4_k"

    public static func name(of format: DType) -> String { format.rawValue.lowercased() }

    /// Quantizes `count` floats (a multiple of the format's block) into blocks at `out`.
    public static func quantize(_ x: UnsafePointer<Float>, format: DType, count: Int, into out: UnsafeMutableRawPointer) {
        precondition(format.isBlockQuantized && count % format.blockElements == 0, "quantize: \(format) needs whole blocks")
        if format == .q4_k { return KQuantization.quantize(x, count: count, into: out) }
        for b in 0..<(count / blockElements) {
            let src = x + b * blockElements
            let blk = out + b * format.byteSize
            if format == .q8_0 {
                quantizeQ8Block(src, into: blk)
            } else {
                quantizeQ4Block(src, into: blk)
            }
        }
    }

    static func quantizeQ8Block(_ src: UnsafePointer<Float>, into blk: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for t in 0..<32 { amax = max(amax, abs(src[t])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        blk.storeBytes(of: Float16(d).bitPattern.littleEndian, as: UInt16.self)
        for t in 0..<32 {
            // ggml's roundf / the gguf package's sign(v)·floor(|v| + 0.5): half away from zero.
            let v = src[t] * id
            blk.storeBytes(of: Int8(v.rounded(.toNearestOrAwayFromZero)), toByteOffset: 2 + t, as: Int8.self)
        }
    }

    static func quantizeQ4Block(_ src: UnsafePointer<Float>, into blk: UnsafeMutableRawPointer) {
        var amax: Float = 0, vmax: Float = 0
        for t in 0..<32 where amax < abs(src[t]) {
            amax = abs(src[t])
            vmax = src[t]
        }
        let d = vmax / -8
        let id: Float = d != 0 ? 1 / d : 0
        blk.storeBytes(of: Float16(d).bitPattern.littleEndian, as: UInt16.self)
        func nibble(_ v: Float) -> UInt8 { UInt8(min(15, Int8((v * id + 8.5).rounded(.towardZero)))) }
        for j in 0..<16 {
            blk.storeBytes(of: nibble(src[j]) | nibble(src[j + 16]) << 4, toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    /// The scale of the block at `blk`.
    @inline(__always)
    static func scale(_ blk: UnsafeRawPointer) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: blk.loadUnaligned(as: UInt16.self))))
    }

    /// The signed integer value of element t (0..<32) of the block at `blk`.
    @inline(__always)
    static func value(_ blk: UnsafeRawPointer, format: DType, _ t: Int) -> Int32 {
        if format == .q8_0 { return Int32(blk.load(fromByteOffset: 2 + t, as: Int8.self)) }
        let byte = blk.load(fromByteOffset: 2 + t % 16, as: UInt8.self)
        return Int32(t < 16 ? byte & 0x0F : byte >> 4) - 8
    }

    /// Widens `count` elements (whole blocks) to f32: value · scale.
    public static func dequantize(_ src: UnsafeRawPointer, format: DType, count: Int, into out: UnsafeMutablePointer<Float>) {
        if format == .q4_k { return KQuantization.dequantize(src, count: count, into: out) }
        for b in 0..<(count / blockElements) {
            let blk = src + b * format.byteSize
            let d = scale(blk)
            for t in 0..<32 { out[b * 32 + t] = Float(value(blk, format: format, t)) * d }
        }
    }
}

extension BlockQuantization {
    /// Widens an R16 table (`rows` a multiple of 16, rows of `k` elements) to f32, row by row.
    public static func dequantizeInterleaved(_ src: UnsafeRawPointer, format: DType, rows: Int, k: Int,
                                             into out: UnsafeMutablePointer<Float>) {
        let q4 = format == .q4_0r16
        let blocks = k / blockElements, panelBlock = q4 ? 32 + 256 : 32 + 512
        for r in 0..<rows {
            for b in 0..<blocks {
                let blk = src + ((r / 16) * blocks + b) * panelBlock
                let lane = r % 16
                let d = Float(Float16(bitPattern: UInt16(littleEndian: blk.loadUnaligned(fromByteOffset: 2 * lane, as: UInt16.self))))
                for j in 0..<(q4 ? 16 : 32) {
                    let v = blk.load(fromByteOffset: 32 + (j / 4) * 64 + lane * 4 + j % 4, as: UInt8.self)
                    let o = out + r * k + b * 32
                    if q4 {
                        o[j] = Float(Int32(v & 0x0F) - 8) * d
                        o[j + 16] = Float(Int32(v >> 4) - 8) * d
                    } else {
                        o[j] = Float(Int8(bitPattern: v ^ 0x80)) * d
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// This block-quantized weight [rows, k] in the R16 layout the kernels read without
    /// repacking (quant_kernels.h), when its rows come in whole groups of 16; itself otherwise.
    /// The row-layout pages are given back (they may be a mapped file's).
    public func interleavedForKernels() -> Tensor {
        guard dtype == .q8_0 || dtype == .q4_0 || dtype == .q4_k, rank == 2, shape[0] % 16 == 0, shape[0] > 0 else { return self }
        let bytes = dtype.byteCount(elements: count)
        let target: DType = dtype == .q8_0 ? .q8_0r16 : dtype == .q4_0 ? .q4_0r16 : .q4_kr16
        let out = TensorStorage(byteCount: target.byteCount(elements: count), zeroed: false)
        let src = (storage.base + byteOffset).assumingMemoryBound(to: UInt8.self)
        let dst = out.mutableBase.assumingMemoryBound(to: UInt8.self)
        if dtype == .q4_k {
            vidlm_q4k_interleave(src, shape[0], shape[1], dst)
        } else {
            vidlm_quant_interleave(QuantizedKernels.code(dtype), src, shape[0], shape[1], dst)
        }
        storage.releasePages(offset: byteOffset, count: bytes)
        return Tensor(shape: shape, dtype: target, storage: out)
    }

    /// This tensor (f32, bf16 or f16; last dimension a multiple of the format's block) in a block format.
    public func quantized(to format: DType) -> Tensor {
        precondition(format.isBlockQuantized, "quantized(to:) needs a block format")
        precondition(dtype.isFloatingPoint, "cannot quantize \(dtype) values")
        let storage = TensorStorage(byteCount: format.byteCount(elements: count))
        let out = UncheckedSendable(storage.mutableBase)
        withFloats { f in
            // Split across cores by whole blocks (q4_k's fit is ~40k operations per 256 weights).
            let x = UncheckedSendable(f.baseAddress!), blocks = count / format.blockElements
            ParallelLoop.forEachChunk(blocks, minimumPerChunk: 64) { range in
                BlockQuantization.quantize(x.value + range.lowerBound * format.blockElements, format: format,
                                           count: range.count * format.blockElements,
                                           into: out.value + range.lowerBound * format.byteSize)
            }
        }
        return Tensor(shape: shape, dtype: format, storage: storage)
    }
}

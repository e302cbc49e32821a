import CKernels
/// Element types of tensors. Names follow safetensors (`F32`, `BF16`, …).
public enum DType: String, Sendable, CaseIterable, Codable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case f64 = "F64"
    case i64 = "I64"
    case i32 = "I32"
    case i16 = "I16"
    case i8 = "I8"
    case u8 = "U8"
    case bool = "BOOL"
    /// llama.cpp's block formats (see `BlockQuantization`): blocks of 32 elements along the last
    /// dimension, each `blockBytes` long. Only `Linear` weights use them; in a safetensors file
    /// they are stored as U8 `[rows, blocks, blockBytes]` (see `QuantizedSafetensors`).
    case q8_0 = "Q8_0"
    case q4_0 = "Q4_0"
    /// llama.cpp's q4_K: super-blocks of 256 elements (144 bytes; see `KQuantization`).
    case q4_k = "Q4_K"
    /// The same blocks held in memory interleaved 16 rows at a time (quant_kernels.h's R16
    /// layout), as `Linear` keeps quantized weights so that decoding reads them without repacking.
    /// Never in a file.
    case q8_0r16 = "Q8_0_R16"
    case q4_0r16 = "Q4_0_R16"
    /// q4_K held in quant_k_kernels.h's K16 layout (148 bytes per row and super-block).
    case q4_kr16 = "Q4_K_R16"

    /// Bytes of one element; for a block format, bytes of one block (use `byteCount(elements:)`).
    public var byteSize: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        case .q8_0, .q8_0r16: 34
        case .q4_0, .q4_0r16: 18
        case .q4_k: 144
        case .q4_kr16: 148
        }
    }

    /// Elements per stored unit: 256 for q4_k, 32 for the other block formats, 1 otherwise.
    public var blockElements: Int { isKQuant ? 256 : isBlockQuantized ? 32 : 1 }

    public var isBlockQuantized: Bool { self == .q8_0 || self == .q4_0 || self == .q4_k || isInterleaved }

    /// The super-block formats (`q4_k`, `q4_kr16`).
    public var isKQuant: Bool { self == .q4_k || self == .q4_kr16 }

    /// The layouts interleaved for the kernels (`q8_0r16`, `q4_0r16`, `q4_kr16`).
    public var isInterleaved: Bool { self == .q8_0r16 || self == .q4_0r16 || self == .q4_kr16 }

    /// The row-layout block format of an interleaved one (itself for the others).
    public var rowLayout: DType {
        switch self {
        case .q8_0r16: .q8_0
        case .q4_0r16: .q4_0
        case .q4_kr16: .q4_k
        default: self
        }
    }

    /// Bytes that `elements` elements take (a multiple of `blockElements` for block formats).
    @inline(__always)
    public func byteCount(elements: Int) -> Int { elements / blockElements * byteSize }

    /// The alignment of the stored units: block formats start with an f16 scale.
    public var alignment: Int { isBlockQuantized ? 2 : byteSize }

    /// The dtypes a safetensors header may name (block formats are stored as U8).
    public static let fileTypes: [DType] = allCases.filter { !$0.isBlockQuantized }

    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }
}

/// bf16 and f16 conversions. To narrow types: round to nearest, ties to even; NaN stays NaN.
public enum HalfPrecision {
    @inline(__always)
    public static func bf16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    @inline(__always)
    public static func floatToBF16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
        let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    @inline(__always)
    public static func f16ToFloat(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    @inline(__always)
    public static func floatToF16(_ value: Float) -> UInt16 {
        Float16(value).bitPattern  // Swift's conversion rounds to nearest even
    }

    /// `count` floats rounded to f16 (nearest even), vectorised where the CPU allows.
    public static func narrowToF16(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<UInt16>, count: Int) {
        vidlm_f32_to_f16(x, y, count)
    }

    /// `count` floats rounded to bf16 bits (nearest even, NaN kept), as `floatToBF16` one by one.
    public static func narrowToBF16(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<UInt16>, count: Int) {
        vidlm_f32_to_bf16(x, y, count)
    }
}

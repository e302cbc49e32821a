/// How block-quantized weights (q8_0, q4_0, q4_k) live in a safetensors file, so that any safetensors
/// reader can still open it: a weight of logical shape [rows, k] is a U8 tensor
/// [rows, k / block, blockBytes] (block 32, or 256 for q4_k) holding llama.cpp's blocks byte for byte (f16 scale first), and
/// the file's `__metadata__` names the format under `vidlm.quantization`. Every U8 tensor of
/// rank ≥ 2 in such a file is a block table of that format; one whose last dimension is not the
/// format's block size is a corrupted table and refused when the file is opened.
public enum QuantizedSafetensors {
    public static let metadataKey = "vidlm.quantization"

    /// The format a file's metadata declares, or nil for an ordinary file.
    static func format(_ metadata: [String: String]?, file: String) throws(SafetensorsError) -> DType? {
        guard let name = metadata?[metadataKey] else { return nil }
        guard let format = BlockQuantization.format(named: name) else {
            throw .badMetadata(file: file, reason: "names unknown quantization '\(name)' (known: \(BlockQuantization.knownNames))")
        }
        return format
    }

    /// The header's entries with every block table given its format and logical shape.
    static func blockTables(_ tensors: [String: SafetensorsFile.TensorInfo], format: DType, file: String)
        throws(SafetensorsError) -> [String: SafetensorsFile.TensorInfo]
    {
        var result = tensors
        for (name, info) in tensors where info.dtype == .u8 && info.shape.count >= 2 {
            let blockBytes = info.shape[info.shape.count - 1]
            guard blockBytes == format.byteSize else {
                throw .badEntry(file: file, tensor: name,
                                reason: "is a corrupted \(format.rawValue.lowercased()) block table: blocks of \(blockBytes) bytes, expected \(format.byteSize)")
            }
            var logical = Array(info.shape.dropLast())
            logical[logical.count - 1] *= format.blockElements
            result[name] = SafetensorsFile.TensorInfo(name: name, dtype: format, shape: logical, dataOffsets: info.dataOffsets)
        }
        return result
    }

    /// The shape written to the header: [..., k / block, blockBytes] for block formats.
    static func storedShape(_ t: Tensor) -> [Int] {
        guard t.dtype.isBlockQuantized, let k = t.shape.last else { return t.shape }
        return Array(t.shape.dropLast()) + [k / t.dtype.blockElements, t.dtype.byteSize]
    }

    /// `metadata` plus the format key when `tensors` hold block tables (all of one format).
    static func metadata(for tensors: [String: Tensor], adding metadata: [String: String]?, file: String)
        throws(SafetensorsError) -> [String: String]?
    {
        let formats = Set(tensors.values.map(\.dtype).filter(\.isBlockQuantized))
        guard let format = formats.first else { return metadata }
        guard formats.count == 1 else {
            throw .invalidInput(file: file, reason: "one file holds one quantization format, got \(formats.map(\.rawValue).sorted())")
        }
        if tensors.values.contains(where: { $0.dtype == .u8 && $0.rank >= 2 }) {
            throw .invalidInput(file: file, reason: "a quantized file cannot also hold U8 tensors of rank 2 or more")
        }
        var m = metadata ?? [:]
        m[metadataKey] = BlockQuantization.name(of: format)
        return m
    }
}

/// How block-quantized weights (q8_0, q4_0, q4_k) live in a safetensors file, so that any safetensors
/// reader can still open it: a weight of logical shape [rows, k] is a U8 tensor
/// [rows, k / block, blockBytes] (block 32, or 256 for q4_k) holding llama.cpp's blocks byte for byte (f16 scale first), and
/// the file's `__metadata__` names the format under `vidlm.quantization`. Every U8 tensor of
/// rank ≥ 2 in such a file is a block table of that format; one whose last dimension is not the
/// format's block size is a corrupted table and refused when the file is opened.
public enum QuantizedSafetensors {
    public static let metadataKey = "vidlm.quantization"

    /// The formats a file's metadata declares (one name, or several comma-separated when a
    /// q4_k model keeps some tables in a fallback format), or nil for an ordinary file.
    static func formats(_ metadata: [String: String]?, file: String) throws(SafetensorsError) -> [DType]? {
        guard let value = metadata?[metadataKey] else { return nil }
        var formats: [DType] = []
        for name in value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard let format = BlockQuantization.format(named: name) else {
                throw .badMetadata(file: file, reason: "names unknown quantization '\(name)' (known: \(BlockQuantization.knownNames))")
            }
            formats.append(format)
        }
        return formats
    }

    /// The header's entries with every block table given its format (the declared one whose
    /// block size is the table's last dimension; every format's is different) and logical shape.
    static func blockTables(_ tensors: [String: SafetensorsFile.TensorInfo], formats: [DType], file: String)
        throws(SafetensorsError) -> [String: SafetensorsFile.TensorInfo]
    {
        var result = tensors
        for (name, info) in tensors where info.dtype == .u8 && info.shape.count >= 2 {
            let blockBytes = info.shape[info.shape.count - 1]
            guard let format = formats.first(where: { $0.byteSize == blockBytes }) else {
                let declared = formats.map { "\($0.rawValue.lowercased()) \($0.byteSize)" }.joined(separator: ", ")
                throw .badEntry(file: file, tensor: name,
                                reason: "is a corrupted \(formats.map { $0.rawValue.lowercased() }.joined(separator: "/")) block table: blocks of \(blockBytes) bytes, expected \(declared)")
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

    /// `metadata` plus the format key when `tensors` hold block tables (their formats, by name).
    static func metadata(for tensors: [String: Tensor], adding metadata: [String: String]?, file: String)
        throws(SafetensorsError) -> [String: String]?
    {
        let formats = Set(tensors.values.map(\.dtype).filter(\.isBlockQuantized))
        guard !formats.isEmpty else { return metadata }
        if let held = formats.first(where: \.isInterleaved) {
            throw .invalidInput(file: file, reason: "\(held.rawValue) is an in-memory layout; write the row layout")
        }
        if tensors.values.contains(where: { $0.dtype == .u8 && $0.rank >= 2 }) {
            throw .invalidInput(file: file, reason: "a quantized file cannot also hold U8 tensors of rank 2 or more")
        }
        var m = metadata ?? [:]
        m[metadataKey] = formats.map { BlockQuantization.name(of: $0) }.sorted().joined(separator: ",")
        return m
    }
}

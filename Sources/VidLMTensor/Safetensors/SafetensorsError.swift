/// A weight whose stored shape differs from the shape the model asked for.
public struct ShapeMismatch: Equatable, Sendable, CustomStringConvertible {
    public let name: String
    public let shape: [Int]
    public let expected: [Int]

    public init(name: String, shape: [Int], expected: [Int]) {
        self.name = name
        self.shape = shape
        self.expected = expected
    }

    public var description: String { "'\(name)' has shape \(shape), expected \(expected)" }
}

/// Everything that can go wrong reading or writing safetensors files and binding model weights.
/// Each case names the file (or model directory) and, where there is one, the tensor, so the
/// message alone tells the user what to fix.
public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// open/fstat/mmap failed or the path is not a regular file; `reason` is the errno text.
    case cannotOpen(file: String, reason: String)
    /// Shorter than the 8-byte header length field.
    case tooSmall(file: String, size: Int)
    /// The header length field points past the end of the file or above the 100 MB cap.
    case headerLengthOutOfBounds(file: String, headerLength: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8 JSON.
    case headerNotJSON(file: String, reason: String)
    /// The header is valid JSON but not an object.
    case headerNotObject(file: String)
    /// `__metadata__` is not an object of strings.
    case badMetadata(file: String, reason: String)
    /// A tensor entry lacks a field, has a field of the wrong type, or has an unknown field.
    case badEntry(file: String, tensor: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    /// `data_offsets` span a different number of bytes than dtype × shape needs.
    case sizeMismatch(file: String, tensor: String, dtype: DType, shape: [Int], begin: Int, end: Int)
    /// `data_offsets` are reversed or reach past the data section.
    case offsetsOutOfBounds(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case overlappingRanges(file: String, first: String, second: String)
    /// Lookup of a name the file (or model directory) does not have.
    case missingTensor(file: String, tensor: String)
    /// `model.safetensors.index.json` cannot be read or does not have the expected structure.
    case badIndex(file: String, reason: String)
    /// The index names a shard file that does not exist.
    case missingShard(index: String, shard: String)
    /// The index maps a tensor to a shard that does not contain it.
    case tensorNotInShard(index: String, tensor: String, shard: String)
    /// A directory with no `*.safetensors` files.
    case noWeights(directory: String)
    /// Two unindexed files in one directory hold the same tensor name.
    case duplicateTensor(directory: String, tensor: String, files: [String])
    /// The writer was given something it cannot store (e.g. a tensor named `__metadata__`).
    case invalidInput(file: String, reason: String)
    case writeFailed(file: String, reason: String)
    /// A model asked for a weight with a different shape (strict binding).
    case wrongShape(source: String, mismatch: ShapeMismatch)
    /// The whole-model binding report: every missing, unexpected and wrong-shaped weight.
    case bindingFailed(source: String, missing: [String], unexpected: [String], wrongShapes: [ShapeMismatch])

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot open (\(reason))."
        case let .tooSmall(file, size):
            return "\(file): file is \(size) bytes, too small for a safetensors header (needs at least 8)."
        case let .headerLengthOutOfBounds(file, length, size):
            if length > UInt64(SafetensorsFile.maxHeaderLength) {
                return "\(file): header length \(length) exceeds the \(SafetensorsFile.maxHeaderLength)-byte limit."
            }
            return "\(file): header length \(length) runs past the end of the \(size)-byte file."
        case let .headerNotJSON(file, reason):
            return "\(file): header is not valid JSON (\(reason))."
        case let .headerNotObject(file):
            return "\(file): header is JSON but not an object."
        case let .badMetadata(file, reason):
            return "\(file): __metadata__ \(reason)."
        case let .badEntry(file, tensor, reason):
            return "\(file): tensor '\(tensor)' \(reason)."
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has unsupported dtype '\(dtype)' (supported: \(DType.fileTypes.map(\.rawValue).joined(separator: ", ")))."
        case let .sizeMismatch(file, tensor, dtype, shape, begin, end):
            let needed = dtype.byteCount(elements: Tensor.elementCount(shape))
            return "\(file): tensor '\(tensor)' has data_offsets [\(begin), \(end)] but \(dtype.rawValue) \(shape) needs \(needed) bytes."
        case let .offsetsOutOfBounds(file, tensor, begin, end, dataSize):
            if begin > end {
                return "\(file): tensor '\(tensor)' has data_offsets [\(begin), \(end)] with begin after end."
            }
            return "\(file): tensor '\(tensor)' has data_offsets [\(begin), \(end)] past the end of the \(dataSize)-byte data section."
        case let .overlappingRanges(file, first, second):
            return "\(file): tensors '\(first)' and '\(second)' have overlapping data_offsets."
        case let .missingTensor(file, tensor):
            return "\(file): no tensor named '\(tensor)'."
        case let .badIndex(file, reason):
            return "\(file): invalid shard index (\(reason))."
        case let .missingShard(index, shard):
            return "\(index): shard file '\(shard)' does not exist."
        case let .tensorNotInShard(index, tensor, shard):
            return "\(index): tensor '\(tensor)' is mapped to shard '\(shard)', which does not contain it."
        case let .noWeights(directory):
            return "\(directory): no model.safetensors, model.safetensors.index.json or *.safetensors files found."
        case let .duplicateTensor(directory, tensor, files):
            return "\(directory): tensor '\(tensor)' appears in more than one file (\(files.joined(separator: ", ")))."
        case let .invalidInput(file, reason):
            return "\(file): cannot write safetensors file (\(reason))."
        case let .writeFailed(file, reason):
            return "\(file): writing failed (\(reason))."
        case let .wrongShape(source, mismatch):
            return "\(source): weight \(mismatch)."
        case let .bindingFailed(source, missing, unexpected, wrongShapes):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("\(missing.count) missing (\(SafetensorsError.quoted(missing)))") }
            if !unexpected.isEmpty { parts.append("\(unexpected.count) unexpected (\(SafetensorsError.quoted(unexpected)))") }
            if !wrongShapes.isEmpty {
                parts.append("\(wrongShapes.count) with the wrong shape (\(wrongShapes.map(\.description).joined(separator: "; ")))")
            }
            return "\(source): weights do not match the model: \(parts.joined(separator: "; "))."
        }
    }

    /// The first eight names, then how many more: a decoder bound to the wrong layout misses
    /// hundreds, which made one error line of tens of kilobytes.
    private static func quoted(_ names: [String]) -> String {
        let shown = names.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
        return names.count > 8 ? shown + " and \(names.count - 8) more" : shown
    }
}

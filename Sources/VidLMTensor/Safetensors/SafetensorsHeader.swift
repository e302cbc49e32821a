extension SafetensorsFile {
    /// One tensor's validated header entry.
    public struct TensorInfo: Equatable, Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range inside the data section (which starts right after the header).
        public let dataOffsets: Range<Int>

        public var byteCount: Int { dataOffsets.count }
        public var elementCount: Int { Tensor.elementCount(shape) }
    }
}

/// The parsed and fully validated JSON header. Validation is complete here, before any tensor is
/// read, so a `SafetensorsFile` that opened can hand out every tensor without further checks.
struct SafetensorsHeader {
    let tensors: [String: SafetensorsFile.TensorInfo]
    let metadata: [String: String]?

    static let metadataKey = "__metadata__"
    private static let fields: Set<String> = ["dtype", "shape", "data_offsets"]

    static func parse(_ bytes: UnsafeRawBufferPointer, dataSize: Int, file: String) throws(SafetensorsError) -> SafetensorsHeader {
        let root: HeaderJSON.Value
        do throws(HeaderJSON.ParseError) {
            root = try HeaderJSON.Parser.parse(bytes)
        } catch {
            throw .headerNotJSON(file: file, reason: error.message)
        }
        guard case let .object(members) = root else { throw .headerNotObject(file: file) }

        var tensors: [String: SafetensorsFile.TensorInfo] = [:]
        var metadata: [String: String]?
        for (key, value) in members {
            if key == metadataKey {
                metadata = try parseMetadata(value, file: file)
            } else {
                tensors[key] = try parseEntry(key, value, dataSize: dataSize, file: file)
            }
        }
        try checkNoOverlap(tensors.values, file: file)
        if let formats = try QuantizedSafetensors.formats(metadata, file: file) {
            tensors = try QuantizedSafetensors.blockTables(tensors, formats: formats, file: file)
        }
        return SafetensorsHeader(tensors: tensors, metadata: metadata)
    }

    private static func parseMetadata(_ value: HeaderJSON.Value, file: String) throws(SafetensorsError) -> [String: String] {
        guard case let .object(members) = value else {
            throw .badMetadata(file: file, reason: "is \(value.kindDescription), expected an object of strings")
        }
        var result: [String: String] = [:]
        for (key, v) in members {
            guard case let .string(s) = v else {
                throw .badMetadata(file: file, reason: "key '\(key)' is \(v.kindDescription), expected a string")
            }
            result[key] = s
        }
        return result
    }

    private static func parseEntry(_ name: String, _ value: HeaderJSON.Value, dataSize: Int, file: String)
        throws(SafetensorsError) -> SafetensorsFile.TensorInfo
    {
        func bad(_ reason: String) -> SafetensorsError { .badEntry(file: file, tensor: name, reason: reason) }

        guard case let .object(members) = value else { throw bad("is \(value.kindDescription), expected an object") }
        var fieldValues: [String: HeaderJSON.Value] = [:]
        for (key, v) in members {
            // Unknown fields may mean a format extension we would misread; refuse rather than guess.
            guard fields.contains(key) else { throw bad("has unknown field '\(key)'") }
            fieldValues[key] = v
        }
        guard let dtypeValue = fieldValues["dtype"] else { throw bad("has no 'dtype' field") }
        guard let shapeValue = fieldValues["shape"] else { throw bad("has no 'shape' field") }
        guard let offsetsValue = fieldValues["data_offsets"] else { throw bad("has no 'data_offsets' field") }

        guard case let .string(dtypeName) = dtypeValue else {
            throw bad("has dtype \(dtypeValue.kindDescription), expected a string")
        }
        guard let dtype = DType(rawValue: dtypeName), !dtype.isBlockQuantized else {
            throw .unknownDType(file: file, tensor: name, dtype: dtypeName)
        }

        guard case let .array(dims) = shapeValue else {
            throw bad("has shape \(shapeValue.kindDescription), expected an array of non-negative integers")
        }
        var shape: [Int] = []
        for d in dims {
            switch nonNegativeInt(d) {
            case let .success(n): shape.append(n)
            case let .failure(why): throw bad("has shape entry \(d.kindDescription), \(why.reason)")
            }
        }
        // Every partial product of the dimensions (zeros counted as 1) must fit in Int, so no
        // later stride or size computation on this shape can overflow and trap.
        var bound = dtype.byteSize
        for d in shape {
            let (p, overflow) = bound.multipliedReportingOverflow(by: max(d, 1))
            if overflow { throw bad("has shape \(shape) whose byte size overflows") }
            bound = p
        }
        let needed = Tensor.elementCount(shape) * dtype.byteSize

        guard case let .array(offsets) = offsetsValue else {
            throw bad("has data_offsets \(offsetsValue.kindDescription), expected [begin, end]")
        }
        guard offsets.count == 2 else { throw bad("has \(offsets.count) data_offsets, expected [begin, end]") }
        var bounds: [Int] = []
        for o in offsets {
            switch nonNegativeInt(o) {
            case let .success(n): bounds.append(n)
            case let .failure(why): throw bad("has data_offsets entry \(o.kindDescription), \(why.reason)")
            }
        }
        let (begin, end) = (bounds[0], bounds[1])
        guard begin <= end, end <= dataSize else {
            throw .offsetsOutOfBounds(file: file, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        guard end - begin == needed else {
            throw .sizeMismatch(file: file, tensor: name, dtype: dtype, shape: shape, begin: begin, end: end)
        }
        return SafetensorsFile.TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    private struct NotAnIndex: Error { let reason: String }

    /// A JSON integer literal ≥ 0 that fits in Int. `true`, `2.0` and `1e3` are not integers.
    private static func nonNegativeInt(_ v: HeaderJSON.Value) -> Result<Int, NotAnIndex> {
        if let n = v.exactInt, n >= 0 { return .success(n) }
        // A plain run of digits that does not fit in Int: say so rather than "not an integer".
        if case let .number(text) = v, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber) {
            return .failure(NotAnIndex(reason: "which is too large"))
        }
        return .failure(NotAnIndex(reason: "expected a non-negative integer"))
    }

    /// Tensors must not share bytes: a writer bug or a crafted file could otherwise alias weights.
    /// Empty ranges touch no bytes and cannot overlap anything.
    private static func checkNoOverlap(_ infos: Dictionary<String, SafetensorsFile.TensorInfo>.Values,
                                       file: String) throws(SafetensorsError)
    {
        let ranges = infos.filter { !$0.dataOffsets.isEmpty }.sorted {
            ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name)
        }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.dataOffsets.lowerBound < a.dataOffsets.upperBound {
            throw .overlappingRanges(file: file, first: a.name, second: b.name)
        }
    }
}

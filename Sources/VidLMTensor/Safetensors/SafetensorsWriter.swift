import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes safetensors files laid out exactly like the reference writer (huggingface/safetensors
/// `serialize`): tensors ordered by dtype, widest first, then by name, so every tensor is aligned
/// to its element size in the file (and in a page-aligned map); the header lists them in that
/// order, compact JSON, padded with spaces to a multiple of 8 bytes. Same input → same bytes as
/// `safetensors.torch.save_file` (metadata with more than one key aside: Python orders those
/// randomly, this writer sorts them).
public enum SafetensorsWriter {
    /// The complete file contents. For small files and tests; `write` streams instead.
    public static func serialize(_ tensors: [String: Tensor], metadata: [String: String]? = nil,
                                 file: String = "<memory>") throws(SafetensorsError) -> [UInt8]
    {
        let (header, order) = try layout(tensors, metadata: metadata, file: file)
        var out = header
        for (_, t) in order { out += t.rawBytes }
        return out
    }

    /// Writes the file atomically: into a temporary file in the same directory, fsync, rename.
    /// A crash or error never leaves a partial file under `url`'s name.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String]? = nil,
                             to url: URL) throws(SafetensorsError)
    {
        let path = url.path
        let (header, order) = try layout(tensors, metadata: metadata, file: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = "\(dir)/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"

        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(file: path, reason: "cannot create \(tmp): \(MappingError.text(errno))") }
        var done = false
        defer {
            if !done {
                close(fd)
                unlink(tmp)
            }
        }
        // withUnsafeBytes only rethrows untyped errors, so the result is carried out.
        try header.withUnsafeBytes { b in Result { () throws(SafetensorsError) in try writeAll(fd, b, file: path) } }.get()
        for (_, t) in order { try writeAll(fd, t.rawBytes, file: path) }
        guard fsync(fd) == 0 else { throw .writeFailed(file: path, reason: "fsync: \(MappingError.text(errno))") }
        done = true
        guard close(fd) == 0 else {
            let reason = MappingError.text(errno)
            unlink(tmp)
            throw .writeFailed(file: path, reason: "close: \(reason)")
        }
        guard rename(tmp, path) == 0 else {
            let reason = MappingError.text(errno)
            unlink(tmp)
            throw .writeFailed(file: path, reason: "rename: \(reason)")
        }
    }

    /// The padded header (with its length prefix) and the tensors in data order.
    static func layout(_ tensors: [String: Tensor], metadata: [String: String]?, file: String)
        throws(SafetensorsError) -> (header: [UInt8], order: [(String, Tensor)])
    {
        if tensors[SafetensorsHeader.metadataKey] != nil {
            throw .invalidInput(file: file, reason: "'\(SafetensorsHeader.metadataKey)' is reserved and cannot name a tensor")
        }
        let metadata = try QuantizedSafetensors.metadata(for: tensors, adding: metadata, file: file)
        let order = tensors.sorted { a, b in
            let (ra, rb) = (rank(a.value.dtype), rank(b.value.dtype))
            return ra != rb ? ra > rb : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }

        var json: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { json.append(UInt8(ascii: ",")) }
            first = false
        }
        if let metadata {
            separator()
            HeaderJSON.Writer.appendString(SafetensorsHeader.metadataKey, to: &json)
            json += Array(":{".utf8)
            for (i, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                HeaderJSON.Writer.appendString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                HeaderJSON.Writer.appendString(metadata[key] ?? "", to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for (name, t) in order {
            separator()
            HeaderJSON.Writer.appendString(name, to: &json)
            json += Array(":{\"dtype\":".utf8)
            HeaderJSON.Writer.appendString(t.dtype.isBlockQuantized ? DType.u8.rawValue : t.dtype.rawValue, to: &json)
            json += Array(",\"shape\":".utf8)
            HeaderJSON.Writer.appendIntArray(QuantizedSafetensors.storedShape(t), to: &json)
            json += Array(",\"data_offsets\":".utf8)
            HeaderJSON.Writer.appendIntArray([offset, offset + t.byteCount], to: &json)
            json.append(UInt8(ascii: "}"))
            offset += t.byteCount
        }
        json.append(UInt8(ascii: "}"))
        // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned.
        json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)

        if json.count > SafetensorsFile.maxHeaderLength {
            throw .invalidInput(file: file, reason: "header of \(json.count) bytes exceeds the \(SafetensorsFile.maxHeaderLength)-byte limit")
        }
        var header = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        header += json
        return (header, order)
    }

    /// The reference implementation's dtype order (its `Dtype` enum); data is laid out descending.
    /// Block tables (stored as U8, 2-byte aligned for their f16 scales) come right after the
    /// 2-byte types, before any odd-sized byte tensor.
    private static func rank(_ d: DType) -> Int {
        switch d {
        case .bool: 0
        case .u8: 1
        case .i8: 2
        case .q8_0, .q4_0, .q4_k, .q8_0r16, .q4_0r16, .q4_kr16: 3
        case .i16: 4
        case .f16: 5
        case .bf16: 6
        case .i32: 7
        case .f32: 8
        case .f64: 9
        case .i64: 10
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, file: String) throws(SafetensorsError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = posixWrite(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(file: file, reason: MappingError.text(errno))
            }
            p += n
            left -= n
        }
    }
}

/// `write(2)`; a free function because inside `SafetensorsWriter` the name `write` means the API.
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, p, n)
    #else
    Darwin.write(fd, p, n)
    #endif
}

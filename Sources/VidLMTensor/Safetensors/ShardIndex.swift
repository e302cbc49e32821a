import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `model.safetensors.index.json`, as written by transformers' `save_pretrained`:
/// `{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}`.
/// Only `weight_map` is used; `metadata` (e.g. total_size) and other keys are ignored.
struct ShardIndex {
    /// Tensor name → shard file name (relative to the index's directory).
    let weightMap: [String: String]

    static func load(_ url: URL) throws(SafetensorsError) -> ShardIndex {
        let path = url.path
        let root: HeaderJSON.Value
        do throws(HeaderJSON.ParseError) {
            root = try readJSON(path)
        } catch {
            throw .badIndex(file: path, reason: error.message)
        }
        guard case let .object(members) = root else { throw .badIndex(file: path, reason: "not a JSON object") }
        guard let mapValue = members.first(where: { $0.key == "weight_map" })?.value else {
            throw .badIndex(file: path, reason: "no 'weight_map'")
        }
        guard case let .object(entries) = mapValue else {
            throw .badIndex(file: path, reason: "'weight_map' is \(mapValue.kindDescription), expected an object")
        }
        var map: [String: String] = [:]
        for (name, value) in entries {
            guard case let .string(shard) = value else {
                throw .badIndex(file: path, reason: "'weight_map' entry '\(name)' is \(value.kindDescription), expected a file name")
            }
            // Shards live next to the index; an absolute or ../ path would read outside the model.
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
            if shard.isEmpty || shard.hasPrefix("/") || parts.contains("..") {
                throw .badIndex(file: path, reason: "'weight_map' entry '\(name)' names '\(shard)', which is not a file in the model directory")
            }
            map[name] = shard
        }
        if map.isEmpty { throw .badIndex(file: path, reason: "'weight_map' is empty") }
        return ShardIndex(weightMap: map)
    }

    /// Reads and parses a JSON file through a read-only map (no size limit surprises: the same
    /// 100 MB cap as safetensors headers; a FIFO or directory is refused rather than read).
    private static func readJSON(_ path: String) throws(HeaderJSON.ParseError) -> HeaderJSON.Value {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw HeaderJSON.ParseError(message: "cannot open: \(MappingError.text(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw HeaderJSON.ParseError(message: "cannot stat: \(MappingError.text(errno))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw HeaderJSON.ParseError(message: "not a regular file") }
        let size = Int(st.st_size)
        guard size <= SafetensorsFile.maxHeaderLength else {
            throw HeaderJSON.ParseError(message: "file of \(size) bytes is larger than the \(SafetensorsFile.maxHeaderLength)-byte limit")
        }
        guard size > 0 else { throw HeaderJSON.ParseError(message: "file is empty") }
        let region: MappedRegion
        do throws(MappingError) {
            region = try MappedRegion(fd: fd, byteCount: size)
        } catch {
            throw HeaderJSON.ParseError(message: "mmap: \(error.message)")
        }
        return try HeaderJSON.Parser.parse(UnsafeRawBufferPointer(start: region.base, count: size))
    }
}

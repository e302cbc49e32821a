import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors#format):
/// 8-byte little-endian header length N, N bytes of JSON header, then the data section.
///
/// Opening maps the file and validates the whole header (types, dtypes, sizes, bounds, overlaps)
/// without touching tensor bytes, so opening a multi-GB checkpoint is cheap, and every later
/// `tensor(_:)` call is a bounds-safe, zero-copy view into the map.
/// Immutable after init, hence safe to share between threads.
public final class SafetensorsFile: @unchecked Sendable {
    /// The reference implementation's cap; a bigger header is far more likely corrupt than real.
    public static let maxHeaderLength = 100_000_000

    /// The path as given, used in error messages.
    public let path: String
    /// Tensor names, sorted (by UTF-8 bytes, the reference writer's order within a dtype).
    public let names: [String]
    /// The `__metadata__` map, if the file has one.
    public let metadata: [String: String]?
    public let fileSize: Int

    private let region: MappedRegion
    private let dataStart: Int
    private let infos: [String: TensorInfo]

    public convenience init(path: String) throws(SafetensorsError) {
        try self.init(url: URL(fileURLWithPath: path))
    }

    public init(url: URL) throws(SafetensorsError) {
        let path = url.path
        self.path = path

        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)  // O_NONBLOCK: a FIFO must not hang us
        guard fd >= 0 else { throw .cannotOpen(file: path, reason: MappingError.text(errno)) }
        defer { close(fd) }  // the mapping stays valid after close
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotOpen(file: path, reason: MappingError.text(errno)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(file: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        guard size >= 8 else { throw .tooSmall(file: path, size: size) }

        do throws(MappingError) {
            region = try MappedRegion(fd: fd, byteCount: size)
        } catch {
            throw .cannotOpen(file: path, reason: "mmap: \(error.message)")
        }
        fileSize = size

        let headerLength = UInt64(littleEndian: region.base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(size - 8), headerLength <= UInt64(SafetensorsFile.maxHeaderLength) else {
            throw .headerLengthOutOfBounds(file: path, headerLength: headerLength, fileSize: size)
        }
        let n = Int(headerLength)
        dataStart = 8 + n
        let header = try SafetensorsHeader.parse(UnsafeRawBufferPointer(start: region.base + 8, count: n),
                                                 dataSize: size - dataStart, file: path)
        infos = header.tensors
        metadata = header.metadata
        names = header.tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// The dtype, shape and byte range of `name`.
    public func info(_ name: String) throws(SafetensorsError) -> TensorInfo {
        guard let info = infos[name] else { throw .missingTensor(file: path, tensor: name) }
        return info
    }

    /// The tensor `name`, sharing the mapped bytes (the tensor keeps this file alive).
    /// Data at an offset not aligned to the element size (possible in files from other writers)
    /// is copied instead, because the kernels read elements through typed pointers.
    public func tensor(_ name: String) throws(SafetensorsError) -> Tensor {
        let info = try info(name)
        let start = region.base + dataStart + info.dataOffsets.lowerBound
        let storage: TensorStorage
        if Int(bitPattern: start) % info.dtype.alignment == 0 {
            region.prefault(start, byteCount: info.byteCount)
            storage = TensorStorage(borrowing: start, byteCount: info.byteCount, owner: self)
        } else {
            storage = TensorStorage(byteCount: info.byteCount)
            storage.mutableBase.copyMemory(from: start, byteCount: info.byteCount)
        }
        return Tensor(shape: info.shape, dtype: info.dtype, storage: storage)
    }
}

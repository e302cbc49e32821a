#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping, unmapped when the last reference goes away. Owning the mapping in
/// its own object means a SafetensorsFile whose validation throws half-way still unmaps it.
final class MappedRegion: @unchecked Sendable {
    let base: UnsafeRawPointer
    let byteCount: Int
    private let mappedLength: Int

    /// Maps `byteCount` (> 0) bytes of the open file `fd`, private and read-only, so writes to
    /// the file by others after opening are not guaranteed visible, and we can never write it.
    /// (Truncating a mapped file under us still raises SIGBUS; no mmap reader can prevent that.)
    init(fd: Int32, byteCount: Int) throws(MappingError) {
        guard let p = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw MappingError(errno: errno)
        }
        base = UnsafeRawPointer(p)
        self.byteCount = byteCount
        mappedLength = byteCount
    }

    /// `byteCount` zero bytes that cost no memory until read: anonymous pages are only
    /// materialised on first touch. Used for placeholder weights while collecting binding errors.
    init(zeroBytes byteCount: Int) throws(MappingError) {
        let length = max(byteCount, 1)
        #if canImport(Glibc)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        #else
        let flags = MAP_PRIVATE | MAP_ANON
        #endif
        guard let p = mmap(nil, length, PROT_READ, flags, -1, 0), p != MAP_FAILED else {
            throw MappingError(errno: errno)
        }
        base = UnsafeRawPointer(p)
        self.byteCount = byteCount
        mappedLength = length
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }

    /// Maps the pages of `byteCount` bytes at `start` (inside this region) into the page tables
    /// now (Linux 5.14+ `MADV_POPULATE_READ`, reading the file where the page cache lacks it),
    /// so a weight's first use costs no page faults: bound at load, a tower's bf16 weights
    /// otherwise faulted in, 64 KiB at a time, during the first request's vision pass (about 5 %
    /// of InstructBLIP-Video's time to first token in A/B runs), where transformers had read them
    /// at load. The cost: a command that binds a whole model but uses part of it (`features
    /// --stage vision`) now maps all of it (clean file pages the kernel may reclaim). A kernel
    /// without the advice (EINVAL) or any other failure leaves the pages to fault in on first
    /// touch as before, so the result is ignored.
    func prefault(_ start: UnsafeRawPointer, byteCount: Int) {
        #if canImport(Glibc)
        guard byteCount > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = Int(bitPattern: start) / page * page
        let end = Int(bitPattern: start) + byteCount
        _ = madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, 22 /* MADV_POPULATE_READ */)
        #endif
    }
}

struct MappingError: Error {
    let errno: Int32
    var message: String { MappingError.text(errno) }

    /// `strerror` text for an errno value, e.g. "No such file or directory".
    static func text(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "errno \(code)" }
        return String(cString: s)
    }
}

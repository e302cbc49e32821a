import Foundation

/// Bytes behind one or more tensors: either memory vidlm allocated (64-byte aligned) or a slice
/// of a memory-mapped file that another object keeps alive. Read-only once shared.
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let byteCount: Int
    private let allocation: UnsafeMutableRawPointer?
    private let owner: AnyObject?

    /// Fresh memory, zero-filled unless the caller promises to write every byte (`zeroed: false`).
    public init(byteCount: Int, zeroed: Bool = true) {
        ThreadBudget.configureRuntime()
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        if zeroed { p.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
        allocation = p
        base = UnsafeRawPointer(p)
        self.byteCount = byteCount
        owner = nil
    }

    /// Bytes that `owner` keeps alive (e.g. a memory-mapped file).
    public init(borrowing base: UnsafeRawPointer, byteCount: Int, owner: AnyObject) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
        allocation = nil
    }

    deinit { allocation?.deallocate() }

    /// For storage borrowed from a read-only file mapping: tells the kernel this process no longer
    /// needs the pages of bytes [offset, offset + count) (they leave its resident set; reading them
    /// again faults them back in from the file). Used when a weight was converted at load and only
    /// the converted copy is kept, so the source does not stay resident beside it. No-op for
    /// memory vidlm allocated.
    public func releasePages(offset: Int, count: Int) {
        guard allocation == nil, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + offset) / page * page
        let end = (Int(bitPattern: base) + offset + count + page - 1) / page * page
        guard let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(p, end - start, MADV_DONTNEED)
    }

    /// Writable access; only for storage this process allocated and has not shared yet.
    var mutableBase: UnsafeMutableRawPointer {
        guard let allocation else { preconditionFailure("mapped tensor storage is read-only") }
        return allocation
    }
}

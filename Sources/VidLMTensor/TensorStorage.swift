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

    /// Writable access; only for storage this process allocated and has not shared yet.
    var mutableBase: UnsafeMutableRawPointer {
        guard let allocation else { preconditionFailure("mapped tensor storage is read-only") }
        return allocation
    }
}

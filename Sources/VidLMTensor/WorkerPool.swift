import CRuntime
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Persistent compute workers for `ParallelLoop`: `computeThreads − 1` threads that, between
/// parallel loops, spin briefly on an atomic and then sleep on a condition variable.
///
/// Why not `DispatchQueue.concurrentPerform`: on Linux every call wakes a dispatch worker through
/// the kernel, ~30 µs on this project's VM before the second core starts (measured: two 17 µs
/// halves took 49 µs). Decoding a token runs ~150 such loops back to back (each projection, each
/// layer), so that wake-up was ~4.5 ms of a 25 ms q4_0 TinyLlama token. A worker still spinning
/// from the previous loop starts in well under a microsecond, as llama.cpp's thread pool does.
///
/// One loop runs at a time; a second caller (another request's thread, or a loop nested inside
/// a loop's body) gets `false` from `run` and uses `concurrentPerform` as before. The caller
/// takes chunks itself, so a loop completes even if no worker wakes.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: max(0, ThreadBudget.computeThreads - 1))

    /// (generation << 40) | (chunk count << 20) | next chunk to claim. Claiming a chunk is one
    /// compare-and-swap on it, so a worker that wakes late can only claim chunks of the loop that
    /// is running, never of a finished one.
    private let state = Atomic<UInt64>(0)
    /// Chunks of the current loop not yet finished.
    private let remaining = Atomic<Int>(0)
    /// Whether a caller holds the pool.
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    /// The running loop's body; set only while no chunk of another loop can be claimed.
    private let body: UnsafeMutablePointer<((Int) -> Void)?>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    let workers: Int

    /// Pause instructions a worker spins for before sleeping (tens of microseconds: longer than
    /// the serial work between two loops of a decoding step, short enough not to take a core
    /// from other work for long).
    static let spinLimit = 4000
    static let chunkBits: UInt64 = 20
    static let chunkMask: UInt64 = (1 << chunkBits) - 1
    /// Most chunks one loop may have (the chunk fields are 20 bits).
    static let maximumChunks = Int(chunkMask)

    init(workers: Int) {
        self.workers = workers
        body = .allocate(capacity: 1)
        body.initialize(to: nil)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        wake = .allocate(capacity: 1)
        pthread_cond_init(wake, nil)
        for _ in 0..<workers { startWorker() }
    }

    /// Runs `body(0) … body(chunks − 1)` on the caller and the workers and returns when all are
    /// done; false (nothing run) when the pool is in use or has no workers.
    func run(_ chunks: Int, _ work: (Int) -> Void) -> Bool {
        guard workers > 0, chunks > 1, chunks <= Self.maximumChunks,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(work) { work in
            body.pointee = work
            remaining.store(chunks, ordering: .relaxed)
            let generation = (state.load(ordering: .relaxed) >> (2 * Self.chunkBits)) &+ 1
            state.store((generation << (2 * Self.chunkBits)) | (UInt64(chunks) << Self.chunkBits),
                        ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
            }
            claimChunks()
            while remaining.load(ordering: .acquiring) > 0 { vidlm_cpu_relax() }
            body.pointee = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private static func available(_ s: UInt64) -> Bool {
        (s & chunkMask) < ((s >> chunkBits) & chunkMask)
    }

    /// Claims and runs chunks of the current loop until none is left; true if it ran any.
    @discardableResult
    private func claimChunks() -> Bool {
        var ran = false
        while true {
            let s = state.load(ordering: .acquiring)
            guard Self.available(s) else { return ran }
            guard state.compareExchange(expected: s, desired: s + 1, ordering: .acquiringAndReleasing).exchanged else {
                continue
            }
            // The claimed chunk is unfinished, so the loop (and its body) is still current.
            body.pointee?(Int(s & Self.chunkMask))
            remaining.subtract(1, ordering: .releasing)
            ran = true
        }
    }

    private func startWorker() {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, &attributes, { raw in
            Unmanaged<WorkerPool>.fromOpaque(raw!).takeUnretainedValue().workerLoop()
        }, context)
        if started != 0 { Unmanaged<WorkerPool>.fromOpaque(context).release() }
    }

    private func workerLoop() -> Never {
        // Named from inside (Linux names only the calling thread): a worker otherwise inherits the
        // name of the thread that first ran a parallel loop, e.g. a media decoder's, and would pass
        // for a leaked one of those (the fuzz targets count decoder threads by name; `top -H`).
        vidlm_name_this_thread("vidlm-compute")
        while true {
            if claimChunks() { continue }
            var spins = 0
            while spins < Self.spinLimit, !Self.available(state.load(ordering: .relaxed)) {
                vidlm_cpu_relax()
                spins += 1
            }
            if spins < Self.spinLimit { continue }
            pthread_mutex_lock(mutex)
            sleepers.add(1, ordering: .sequentiallyConsistent)
            while !Self.available(state.load(ordering: .sequentiallyConsistent)) {
                pthread_cond_wait(wake, mutex)
            }
            sleepers.subtract(1, ordering: .relaxed)
            pthread_mutex_unlock(mutex)
        }
    }
}

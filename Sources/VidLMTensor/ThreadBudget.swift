import COpenBLAS
import CRuntime
import Foundation

/// The one place that decides how many threads the process uses, so libav's decoding threads,
/// BLAS threads and Swift's own parallel loops never oversubscribe the cores between them.
public enum ThreadBudget {
    /// Cores available to vidlm: `VIDLM_THREADS` if set to a positive number, else the active
    /// processor count. Read once: every parallel loop asks, and building the environment
    /// dictionary each time cost ~5 % of a small decoder's token time.
    public static let cores: Int = {
        if let raw = ProcessInfo.processInfo.environment["VIDLM_THREADS"], let n = Int(raw), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Frames a vision tower encodes in one batch (`VIDLM_VISION_BATCH`, default 4): one pass
    /// over the tower's weights per batch, and (batch × heads) attention units to share among
    /// the cores; activations grow with it (4 frames of a 1024-token, 768-wide SigLIP ≈ 50 MiB
    /// at the MLP's widest).
    public static let visionBatch: Int = {
        if let raw = ProcessInfo.processInfo.environment["VIDLM_VISION_BATCH"], let n = Int(raw), n > 0 { return min(n, 64) }
        return 4
    }()

    /// Tokens a vision tower encodes in one batch at most: a batch is `visionBatch` frames, fewer
    /// when the tower's frames are long (a 1024-token SigLIP frame goes alone), so activations stay
    /// near one large frame's (batching 4 such frames added ~0.5 GiB of peak RSS and gained nothing:
    /// their products already have 1024 rows).
    public static let visionBatchTokens = 1100

    /// Frames per tower batch for frames of `tokens` tokens each.
    public static func visionBatch(tokensPerFrame tokens: Int) -> Int {
        max(1, min(visionBatch, visionBatchTokens / max(tokens, 1)))
    }

    /// Workers for vidlm's parallel loops (and so for large BLAS products, which `BLAS` splits
    /// across them): all cores.
    public static var computeThreads: Int { cores }

    /// Sets OpenBLAS to one thread and starts vidlm's compute workers, once, before the first
    /// use of either. vidlm parallelises BLAS work
    /// itself (`BLAS.sgemm`), so no call ever changes OpenBLAS's process-wide thread count: two
    /// requests computing at once cannot change each other's threading.
    public static func configureBLAS() {
        _ = blasConfigured
    }

    private static let blasConfigured: Bool = {
        openblas_set_num_threads(1)
        // vidlm's own compute workers (`WorkerPool`) start here too, once, so a model's threads
        // exist from load time instead of appearing during its first request.
        _ = WorkerPool.shared
        return true
    }()

    /// Process-wide settings for tensor work, applied once before the first tensor allocation:
    /// glibc would otherwise hand every activation buffer over 128 KiB back to the kernel and
    /// page-fault it in again on the next layer (a third of the vision tower's time went to
    /// system time); keeping freed blocks in the heap, in one arena that every thread shares,
    /// removes that (see `vidlm_keep_freed_memory`).
    public static func configureRuntime() { _ = runtimeConfigured }

    /// Heap settings for commands that stream decoded frames and build no tensors (`vidlm
    /// frames`): freed large blocks go back to the kernel, so RSS does not creep up with the
    /// number of frames written (measured in docs/benchmarks/long.md). Not for model work, which
    /// `configureRuntime` tunes the other way.
    public static func configureStreamingRuntime() {
        vidlm_return_freed_memory()
    }

    private static let runtimeConfigured: Bool = {
        vidlm_keep_freed_memory()
        return true
    }()

    /// How many independent decoders to run for a request with `segments` separately seekable
    /// runs of frames, and how many libav threads each decoder gets. Parallel GOPs beat frame
    /// threading for sparse requests (no pipeline to refill after each seek); one decoder with all
    /// cores is best for a single dense run.
    public static func decoders(forSegments segments: Int) -> (decoders: Int, threadsEach: Int) {
        let n = max(1, min(cores, segments))
        return (n, max(1, cores / n))
    }

    /// Decoded pictures all decoders of one request may hold at once, in bytes.
    public static let decodedPictureBudget = 256 << 20

    /// `decoders(forSegments:)` for pictures of `pictureBytes` each (as decoded, 4:2:0), and
    /// whether decoders may work one frame ahead of the consumer. A decoder holds about four
    /// reference pictures plus one per frame thread, so for very large pictures (8K: 50 MB each)
    /// parallel decoders and frame threads would multiply memory past the bound a user can expect
    /// (docs/benchmarks/long.md): they are given up, decoders first, until the estimate fits
    /// `decodedPictureBudget` or one single-threaded decoder is left. Working ahead keeps one more
    /// RGB picture (twice the 4:2:0 bytes) alive; it is given up last, when even that does not fit.
    public static func decoders(forSegments segments: Int, pictureBytes: Int)
        -> (decoders: Int, threadsEach: Int, decodeAhead: Bool) {
        var (n, t) = decoders(forSegments: segments)
        let bytes = max(0, pictureBytes)
        func estimate(_ n: Int, _ t: Int) -> Int { n * (4 + t) * bytes }
        while estimate(n, t) > decodedPictureBudget, n > 1 || t > 1 {
            if n > 1 {
                n -= 1
                t = max(1, cores / n)
            } else {
                t -= 1
            }
        }
        return (n, t, estimate(n, t) + 2 * bytes <= decodedPictureBudget)
    }
}

import Foundation
import Synchronization
import XCTest
@testable import VidLMTensor

/// The compute workers carry their own name. A pthread otherwise inherits the name of the
/// thread that created it, so workers first started by a media decoder's loop passed for leaked
/// decoder threads ("vidlm-media") in the fuzz target's check.
final class WorkerPoolTests: XCTestCase {
    func testComputeWorkersAreNamed() throws {
        guard ThreadBudget.cores > 1 else { throw XCTSkip("one core: parallel loops run inline, no workers") }
        let done = Mutex(0)
        ParallelLoop.forEachChunk(64) { rows in done.withLock { $0 += rows.count } }
        XCTAssertEqual(done.withLock { $0 }, 64)
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap {
            try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertGreaterThanOrEqual(names.filter { $0 == "vidlm-compute" }.count, 1, "thread names: \(names)")
    }
}
